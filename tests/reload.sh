#!/bin/bash
# Reload on SIGHUP under load: 50 reloads, some with a new greeting, some
# with a broken file, while TCP and UDP clients keep going. No client is
# refused or loses its reply; every reply is one of the greetings; the
# listening sockets are never reopened.
. "$top_srcdir/tests/lib.sh"

printf 'first greeting\n' >"$T/g1"
printf 'second greeting, longer than the first\n' >"$T/g2"
# write_config GREETING [EXTRA]: replaces the file at once, as editors do.
write_config() {
	cat >"$T/r.conf.new" <<CONF
[greetingd]
greeting = $1\n
[tcp]
host = 127.0.0.1
port = $tcp_port
[udp]
type = dgram
host = 127.0.0.1
port = $udp_port
${2:-}
CONF
	mv "$T/r.conf.new" "$T/r.conf"
}
tcp_port=0 udp_port=0
write_config "first greeting"
start_daemon "$T/r.conf"
tcp_port=$(port_of tcp) udp_port=$(port_of udp)
write_config "first greeting"  # the same, with the ports now known

"$TESTTOOL" hammer 127.0.0.1 "$tcp_port" "$udp_port" "$T/stop" "$T/g1" "$T/g2" >"$T/hammer.out" &
hammer=$!
PIDS+=("$hammer")
"$TESTTOOL" wait-file "$T/hammer.out" hammering 10 >/dev/null || fail "the clients did not start"

for i in $(seq 1 50); do
	if [ $((i % 5)) -eq 0 ]; then
		write_config "second greeting, longer than the first" "bogus = 1"
	elif [ $((i % 2)) -eq 0 ]; then
		write_config "second greeting, longer than the first"
	else
		write_config "first greeting"
	fi
	kill -HUP "$DAEMON_PID"
	"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 $((i + 1)) >/dev/null || fail "reload $i did not finish"
done
: >"$T/stop"
wait "$hammer" || fail "a client failed during the reloads: $(cat "$T/hammer.out")"
read -r _ tcp _ udp _ g1 _ g2 < <(tail -n 1 "$T/hammer.out")
pass "50 reloads under load: $tcp TCP and $udp UDP replies, all byte-exact ($g1 first, $g2 second)"
[ "$g1" -gt 0 ] && [ "$g2" -gt 0 ] || fail "the greeting never changed: $(cat "$T/hammer.out")"

[ "$(grep -c 'reload failed: keeping the running configuration' "$DAEMON_LOG")" -eq 10 ] || fail "expected 10 failed reloads"
[ "$(grep -c ': bogus: unknown key' "$DAEMON_LOG")" -eq 10 ] || fail "a failed reload did not name file:line: key"
[ "$(grep -c '^\[tcp\] listening on' "$DAEMON_LOG")" -eq 1 ] || fail "the TCP socket was reopened"
[ "$(grep -c '^\[udp\] listening on' "$DAEMON_LOG")" -eq 1 ] || fail "the UDP socket was reopened"
# Each reload: RELOADING=1 with MONOTONIC_USEC=, then READY=1.
[ "$(grep -c '^RELOADING=1|MONOTONIC_USEC=[0-9]*|' "$NOTIFY_LOG")" -eq 50 ] || fail "RELOADING=1 messages: $(grep -c RELOADING "$NOTIFY_LOG")"
awk '/RELOADING=1/ { if (open) bad = 1; open = 1 } /READY=1/ { open = 0 } END { exit bad || open }' "$NOTIFY_LOG" ||
	fail "RELOADING=1 and READY=1 out of order"
pass "failed reloads kept the running configuration; sockets kept; notifications in order"

# New listeners are bound, removed ones closed; the clients of the others never notice.
write_config "first greeting" "[extra]
host = 127.0.0.1
port = 0"
sed -i '/^\[udp\]/,/^port = /d' "$T/r.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 52 >/dev/null || fail "the last reload did not finish"
grep -q "^\[udp\] no longer configured: closing 127.0.0.1:$udp_port" "$DAEMON_LOG" || fail "[udp] not closed"
expect_greeting "$T/g1" 127.0.0.1 "$(port_of extra)"
expect_greeting "$T/g1" 127.0.0.1 "$tcp_port"
"$GREET" -w 1s -u 127.0.0.1 "$udp_port" >/dev/null 2>&1 && fail "the removed UDP listener still answers"
pass "listeners added and removed by a reload"

# 127.0.0.1:P to 0.0.0.0:P: the new socket would be bound before the old one
# closes, so the port is taken. The reload is refused and says what to do.
sed -i "/^\[tcp\]/,/^port = /s/^host = .*/host =/" "$T/r.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 53 >/dev/null || fail "the overlapping reload did not finish"
grep -q "^\[tcp\] cannot bind stream 0.0.0.0:$tcp_port: Address already in use" "$DAEMON_LOG" || fail "no bind error for 0.0.0.0"
grep -q "^\[tcp\] 127.0.0.1:$tcp_port holds port $tcp_port until the new sockets are bound: restart greetingd to make this change" \
	"$DAEMON_LOG" || fail "the refused reload does not say what to do: $(tail -n 5 "$DAEMON_LOG")"
expect_greeting "$T/g1" 127.0.0.1 "$tcp_port"
pass "a reload onto a port our own socket holds is refused, with what to do"
stop_daemon
grep -q '^STOPPING=1' "$NOTIFY_LOG" || fail "no STOPPING=1"
