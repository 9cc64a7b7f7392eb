#!/bin/bash
# Socket activation through systemd-socket-activate: sockets matched by name,
# then by address; a listener without a socket bound by the daemon; a socket
# nobody configured answered with the global greeting; datagram, seqpacket
# and unix sockets; Accept=yes and inetd style.
. "$top_srcdir/tests/lib.sh"

[ -x "${SOCKET_ACTIVATE:-}" ] || fail "systemd-socket-activate is required (package systemd)"
base=$((20000 + RANDOM % 20000))
p_named=$base p_addr=$((base + 1)) p_stray=$((base + 2)) p_udp=$((base + 3)) p_accept=$((base + 4))
p_dual=$((base + 6)) p_dual_udp=$((base + 7)) p_wild_udp=$((base + 8)) p_stray_udp=$((base + 9))

# activate LOG ARGS...: starts systemd-socket-activate, waits until it listens.
activate() {
	local log=$1
	shift
	"$SOCKET_ACTIVATE" -E "NOTIFY_SOCKET=$T/notify$DAEMONS.sock" "$@" >"$log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	"$TESTTOOL" wait-file "$log" "Listening on" 10 >/dev/null || fail "systemd-socket-activate did not start"
}

# notify_collector: a NOTIFY_SOCKET for the next activated daemon.
notify_collector() {
	DAEMONS=$((DAEMONS + 1))
	NOTIFY_LOG=$T/notify$DAEMONS.log
	PIDS+=("$("$TESTTOOL" notify-collect "$T/notify$DAEMONS.sock" "$NOTIFY_LOG")")
}

cat >"$T/a.conf" <<CONF
[greetingd]
greeting = global\n
[named]
host = 127.0.0.1
port = $((base + 100))
greeting = by name\n
[byaddr]
host = 127.0.0.1
port = $p_addr
greeting = by address\n
[local]
path = $T/u.sock
greeting = unix by address\n
[self]
host = 127.0.0.1
port = 0
greeting = bound by greetingd\n
CONF
for g in global 'by name' 'by address' 'unix by address' 'bound by greetingd'; do
	printf '%s\n' "$g" >"$T/want-${g// /-}"
done

notify_collector
DAEMON_LOG=$T/activate-a.log
activate "$DAEMON_LOG" -l "127.0.0.1:$p_named" -l "127.0.0.1:$p_addr" -l "127.0.0.1:$p_stray" -l "$T/u.sock" \
	--fdname=named:unknown:stray:unknown "$GREETINGD" -c "$T/a.conf"
# The daemon starts at the first connection, which it answers once ready.
expect_greeting "$T/want-by-name" 127.0.0.1 "$p_named"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "activated daemon not ready"
expect_greeting "$T/want-by-address" 127.0.0.1 "$p_addr"
expect_greeting "$T/want-global" 127.0.0.1 "$p_stray"
expect_greeting "$T/want-unix-by-address" --unix "$T/u.sock"
expect_greeting "$T/want-bound-by-greetingd" 127.0.0.1 "$(port_of self)"
for line in \
	"[named] serves the stream socket 127.0.0.1:$p_named that systemd passed as \"named\"" \
	"[byaddr] serves the stream socket 127.0.0.1:$p_addr that systemd passed" \
	"[local] serves the stream socket $T/u.sock that systemd passed" \
	"[stray] the stream socket 127.0.0.1:$p_stray that systemd passed matches no listener: answering with the global greeting"; do
	[ "$(grep -cxF "$line" "$DAEMON_LOG")" -eq 1 ] || fail "expected once in the log: $line"
done
grep -q "^\[self\] listening on stream 127.0.0.1:" "$DAEMON_LOG" || fail "[self] was not bound by the daemon"
grep -q "^\[named\] listening on" "$DAEMON_LOG" && fail "[named] was bound although systemd passed it"
pass "sockets matched by name, by address, bound, or answered with the global greeting"

# A reload that drops [byaddr] must not close systemd's socket: it falls back to the global greeting.
sed -i '/^\[byaddr\]/,/^greeting = by address/d' "$T/a.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "reloaded:" 10 >/dev/null || fail "no reload"
expect_greeting "$T/want-global" 127.0.0.1 "$p_addr"
expect_greeting "$T/want-by-name" 127.0.0.1 "$p_named"
pass "a reload never closes a socket systemd passed"
stop_daemon

# Datagram sockets: UDP and unix.
# [greetingd] exempts nobody, so that a stray datagram socket's rate (the
# default for a datagram listener: 20 a second, a burst of 40) applies to
# loopback too.
cat >"$T/d.conf" <<CONF
[greetingd]
limit-exempt =
[udp]
type = dgram
host = 127.0.0.1
port = $p_udp
[ud]
type = dgram
path = $T/d.sock
CONF
printf 'Thank you for connecting\n' >"$T/want"
notify_collector
DAEMON_LOG=$T/activate-d.log
activate "$DAEMON_LOG" --datagram -l "127.0.0.1:$p_udp" -l "$T/d.sock" -l "127.0.0.1:$p_stray_udp" "$GREETINGD" -c "$T/d.conf"
expect_greeting "$T/want" -u 127.0.0.1 "$p_udp"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "not ready"
expect_greeting "$T/want" -u --unix "$T/d.sock"
grep -qxF "[udp] serves the dgram socket 127.0.0.1:$p_udp that systemd passed" "$DAEMON_LOG" || fail "udp not adopted"
grep -qxF "[ud] serves the dgram socket $T/d.sock that systemd passed" "$DAEMON_LOG" || fail "unix dgram not adopted"
pass "activated datagram sockets"
# A datagram socket no section claims is no open reflector: it has the
# limits of a datagram listener with no keys of its own.
"$TESTTOOL" udp-burst 127.0.0.9 127.0.0.1 "$p_stray_udp" 100 >"$T/stray-burst.out"
read -r _ n <"$T/stray-burst.out"
[ "$n" -ge 40 ] && [ "$n" -le 42 ] || fail "a stray datagram socket answered $n of 100 datagrams at once, not its burst of 40"
pass "a datagram socket no section claims has a datagram listener's default rate"
stop_daemon

# A dual-stack [::]:P (-l P, IPV6_V6ONLY off) is both wildcard addresses of
# a listener with family any and an empty host: claimed for both, nothing
# bound, IPv4 and IPv6 clients greeted.
printf '[seed]\nport = %s\n' "$p_dual" >"$T/dual.conf"
notify_collector
DAEMON_LOG=$T/activate-dual.log
activate "$DAEMON_LOG" -l "$p_dual" "$GREETINGD" -c "$T/dual.conf"
expect_greeting "$T/want" 127.0.0.1 "$p_dual"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "dual-stack: not ready"
expect_greeting "$T/want" ::1 "$p_dual"
grep -q "listening on" "$DAEMON_LOG" && fail "dual-stack: greetingd bound a socket itself: $(grep "listening on" "$DAEMON_LOG")"
[ "$(grep -cxF "[seed] serves the stream socket [::]:$p_dual that systemd passed" "$DAEMON_LOG")" -eq 1 ] ||
	fail "dual-stack: [seed] does not serve systemd's socket once"
pass "a dual-stack socket serves both wildcard addresses of family any"
stop_daemon

# Activated datagram sockets answer from the address each request came to:
# 127.0.0.5 on 0.0.0.0:P, and IPv4 on a dual-stack [::]:P (a client's
# connected socket ignores a reply from another address). The datagram that
# starts greetingd came before it asked for pktinfo: it goes to 127.0.0.1.
printf '[w]\ntype = dgram\nfamily = inet\nport = %s\n[d]\ntype = dgram\nport = %s\n' "$p_wild_udp" "$p_dual_udp" >"$T/w.conf"
notify_collector
DAEMON_LOG=$T/activate-w.log
activate "$DAEMON_LOG" --datagram -l "0.0.0.0:$p_wild_udp" -l "$p_dual_udp" "$GREETINGD" -c "$T/w.conf"
expect_greeting "$T/want" -u 127.0.0.1 "$p_wild_udp"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "pktinfo: not ready"
expect_greeting "$T/want" -u 127.0.0.5 "$p_wild_udp"
expect_greeting "$T/want" -u 127.0.0.5 "$p_dual_udp"
expect_greeting "$T/want" -u ::1 "$p_dual_udp"
grep -q "listening on" "$DAEMON_LOG" && fail "pktinfo: greetingd bound a socket itself: $(grep "listening on" "$DAEMON_LOG")"
pass "activated datagram sockets reply from the address each request came to"
stop_daemon

# Seqpacket.
printf '[seq]\ntype = seqpacket\npath = %s\n' "$T/s.sock" >"$T/s.conf"
notify_collector
DAEMON_LOG=$T/activate-s.log
activate "$DAEMON_LOG" --seqpacket -l "$T/s.sock" "$GREETINGD" -c "$T/s.conf"
expect_greeting "$T/want" -s --unix "$T/s.sock"
grep -qxF "[seq] serves the seqpacket socket $T/s.sock that systemd passed" "$DAEMON_LOG" || fail "seqpacket not adopted"
pass "activated seqpacket socket"
stop_daemon

# Accept=yes: one process per connection, greeted with its listener's greeting; each exits 0.
printf '[seed]\nhost = 127.0.0.1\nport = %s\ngreeting = per connection\\n\n' "$p_accept" >"$T/e.conf"
printf 'per connection\n' >"$T/want-e"
activate "$T/accept.log" --accept -l "127.0.0.1:$p_accept" "$GREETINGD" -c "$T/e.conf"
expect_greeting "$T/want-e" 127.0.0.1 "$p_accept"
expect_greeting "$T/want-e" 127.0.0.1 "$p_accept"
"$TESTTOOL" wait-file "$T/accept.log" "died with code 0" 10 >/dev/null || fail "no instance exited"
[ "$(grep -c 'died with code' "$T/accept.log")" -eq "$(grep -c 'died with code 0$' "$T/accept.log")" ] ||
	fail "an instance failed: $(cat "$T/accept.log")"
pass "Accept=yes: each connection greeted by its own instance, which exits 0"
kill "$DAEMON_PID"

# inetd style: the connection on standard input.
activate "$T/inetd.log" --accept --inetd -l "127.0.0.1:$((p_accept + 1))" "$GREETINGD" -c "$T/e.conf" --inetd
expect_greeting "$T/want" 127.0.0.1 "$((p_accept + 1))"
"$TESTTOOL" wait-file "$T/inetd.log" "died with code 0" 10 >/dev/null || fail "inetd instance did not exit 0: $(cat "$T/inetd.log")"
pass "--inetd greets the connection on standard input and exits 0"
kill "$DAEMON_PID"

# Started by an inetd without --inetd: a connection on standard input and
# no LISTEN_FDS is greeted as --inetd does, with its listener's greeting.
p_inetd=$((p_accept + 2))
printf '[seed]\nhost = 127.0.0.1\nport = %s\ngreeting = started by an inetd\\n\n' "$p_inetd" >"$T/i.conf"
printf 'started by an inetd\n' >"$T/want-i"
activate "$T/inetd-auto.log" --accept --inetd -l "127.0.0.1:$p_inetd" "$GREETINGD" -c "$T/i.conf"
expect_greeting "$T/want-i" 127.0.0.1 "$p_inetd"
"$TESTTOOL" wait-file "$T/inetd-auto.log" "died with code 0" 10 >/dev/null ||
	fail "the inetd-started instance did not exit 0: $(cat "$T/inetd-auto.log")"
pass "a connection on standard input, without --inetd, is greeted and greetingd exits 0"
kill "$DAEMON_PID"

# A listening socket on standard input (--inetd without --accept) is no
# connection: greetingd binds its own sockets as usual.
printf '[local]\npath = %s\ngreeting = self-bound\\n\n' "$T/l.sock" >"$T/l.conf"
printf 'self-bound\n' >"$T/want-l"
notify_collector
DAEMON_LOG=$T/inetd-listening.log
activate "$DAEMON_LOG" --inetd -l "127.0.0.1:$((p_inetd + 1))" "$GREETINGD" -c "$T/l.conf"
"$GREET" -w 300ms 127.0.0.1 "$((p_inetd + 1))" >/dev/null 2>&1 || true # starts it; nobody accepts
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "not ready with a listening socket on stdin: $(cat "$DAEMON_LOG")"
expect_greeting "$T/want-l" --unix "$T/l.sock"
stop_daemon
pass "a listening socket on standard input is not taken for a connection"
