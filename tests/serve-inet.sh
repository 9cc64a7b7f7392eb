#!/bin/bash
# TCP and UDP over IPv4 and IPv6 on loopback, wildcard binds and replies from
# the address the datagram was sent to.
. "$top_srcdir/tests/lib.sh"

cat >"$T/g.conf" <<'CONF'
[greetingd]
greeting = Thank you for connecting\n

[tcp4]
family = inet
host = 127.0.0.1
port = 0

[tcp6]
family = AF_INET6
host = ::1
port = 0
greeting = six\r\n\x01\xff

[udp4]
family = PF_INET
type = dgram
protocol = udp
host = 2130706433
port = 0

[udp6]
type = SOCK_DGRAM
host = [::1]
port = 0

[wild4]
family = inet
type = dgram
host =
port = 0

[wild6]
family = inet6
type = dgram
port = 0
CONF
printf 'Thank you for connecting\n' >"$T/want"
printf 'six\r\n\001\377' >"$T/want6"

"$GREETINGD" -c "$T/g.conf" --test-config >"$T/test-config.out" || fail "--test-config refused a good file"
grep -A1 '^\[udp6\] any dgram' "$T/test-config.out" | grep -q '\[::1\]:0' || fail "--test-config: $(cat "$T/test-config.out")"
grep -q '^configuration OK$' "$T/test-config.out" || fail "--test-config did not say OK"

start_daemon "$T/g.conf"
grep -q 'port 0: the kernel chose port' "$DAEMON_LOG" || fail "the chosen port is not logged"

expect_greeting "$T/want" 127.0.0.1 "$(port_of tcp4)"
expect_greeting "$T/want6" -6 ::1 "$(port_of tcp6)"
expect_greeting "$T/want" -u 127.0.0.1 "$(port_of udp4)"
expect_greeting "$T/want" -u ::1 "$(port_of udp6)"
# Wildcard binds: greet's UDP socket is connected, so a reply from any other
# source than the address it wrote to would never reach it.
expect_greeting "$T/want" -u 127.0.0.1 "$(port_of wild4)"
expect_greeting "$T/want" -u 127.0.0.5 "$(port_of wild4)"
expect_greeting "$T/want" -u --source 127.0.0.1 127.1.2.3 "$(port_of wild4)"
expect_greeting "$T/want" -u -6 ::1 "$(port_of wild6)"

# Any datagram is answered the same: empty (greet's), or far larger than read.
"$TESTTOOL" udp 127.0.0.1 "$(port_of udp4)" 65507 "$T/want" || fail "a maximal datagram"
"$TESTTOOL" udp ::1 "$(port_of udp6)" 1 "$T/want" || fail "a one-byte datagram"

# The listener for UDP must not answer TCP, and the other way round.
"$GREET" -w 2s 127.0.0.1 "$(port_of udp4)" >/dev/null 2>&1 && fail "TCP reached a UDP-only port"
"$GREET" -w 500ms -u 127.0.0.1 "$(port_of tcp4)" >/dev/null 2>&1 && fail "UDP reached a TCP-only port"
stop_daemon
pass "stopped cleanly"

# family = any with an empty host: 0.0.0.0 and :: on the same port, side by side.
port=$((20000 + RANDOM % 20000))
cat >"$T/any.conf" <<CONF
[both]
family = any
host =
port = $port
CONF
start_daemon "$T/any.conf"
grep -q "\[both\] listening on stream 0.0.0.0:$port" "$DAEMON_LOG" || fail "no 0.0.0.0 socket"
grep -q "\[both\] listening on stream \[::\]:$port" "$DAEMON_LOG" || fail "no :: socket"
expect_greeting "$T/want" -4 127.0.0.1 "$port"
expect_greeting "$T/want" -6 ::1 "$port"
stop_daemon
