#!/bin/bash
# allow and deny (DESIGN section 6), on loopback, where every 127.0.0.0/8
# address is a source of its own: the longest prefix decides, deny wins a
# tie, a source in no allow is out when allow is set; a refused stream
# client gets no byte and a refused datagram no reply; each is counted.
. "$top_srcdir/tests/lib.sh"

printf 'hello\n' >"$T/want"
cat >"$T/a.conf" <<CONF
[greetingd]
greeting = hello\n
allow = 127.0.0.0/24
deny = 127.0.0.3
allow = 127.0.0.4
deny = 127.0.0.4
[tcp]
host = 127.0.0.1
port = 0
[udp]
type = dgram
host = 127.0.0.1
port = 0
[local]
path = $T/l.sock
CONF
start_daemon "$T/a.conf"
tcp=$(port_of tcp) udp=$(port_of udp)

expect_greeting "$T/want" --source 127.0.0.2 127.0.0.1 "$tcp"
expect_greeting "$T/want" -u --source 127.0.0.2 127.0.0.1 "$udp"
expect_greeting "$T/want" --unix "$T/l.sock" # a unix peer has no address to judge
for src in 127.0.0.3 127.0.0.4 127.0.1.1; do
	"$GREET" -w 5s --source "$src" 127.0.0.1 "$tcp" >"$T/got" 2>"$T/greet.err" || fail "greet from $src: $(cat "$T/greet.err")"
	[ ! -s "$T/got" ] || fail "$src was greeted over TCP: $(cat "$T/got")"
	"$GREET" -w 1s -u --source "$src" 127.0.0.1 "$udp" >"$T/got" 2>/dev/null && fail "$src got a datagram reply"
	[ ! -s "$T/got" ] || fail "$src got a datagram reply: $(cat "$T/got")"
done
pass "longest prefix wins, deny wins a tie, outside allow is out; unix is never judged"

grep -q "^\[tcp\] client 127.0.0.3:[0-9]* denied$" "$DAEMON_LOG" || fail "a denied client is not logged"
grep -q "^\[udp\] datagram from 127.0.0.4:[0-9]* denied$" "$DAEMON_LOG" || fail "a denied datagram is not logged"
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "bad-source 0, denied 6" 10 >/dev/null ||
	fail "the refusals are not counted: $(grep 'accepted' "$DAEMON_LOG" | tail -n 1)"
grep -q '^\[tcp\] accepted 4, greeted 1, failed 0, timed-out 0, bad-source 0, denied 3, ' "$DAEMON_LOG" ||
	fail "[tcp]'s own counters: $(grep '^\[tcp\] accepted' "$DAEMON_LOG")"
grep -q '^\[udp\] accepted 4, greeted 1, failed 0, timed-out 0, bad-source 0, denied 3, ' "$DAEMON_LOG" ||
	fail "[udp]'s own counters: $(grep '^\[udp\] accepted' "$DAEMON_LOG")"
pass "refusals are logged and counted (denied 6), and every listener's counters logged on SIGUSR1"

# A reload that lifts the deny lets 127.0.0.3 in, on the same socket.
sed -i '/^deny = 127.0.0.3$/d' "$T/a.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 2 >/dev/null || fail "reload"
expect_greeting "$T/want" --source 127.0.0.3 127.0.0.1 "$tcp"
stop_daemon
pass "a reload changes the lists of a running listener"
