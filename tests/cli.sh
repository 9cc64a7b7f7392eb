#!/bin/bash
# The command lines of greetingd and greet: usage errors, --help, -V,
# --test-config on the shipped file, refusal and timeout in greet.
. "$top_srcdir/tests/lib.sh"

expect_status() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want: $(cat "$T/err")"
}

expect_status 0 "$GREETINGD" --help
grep -q -- '--test-config' "$T/out" || fail "--help does not list --test-config"
expect_status 0 "$GREETINGD" -V
grep -qx 'greetingd [0-9.]*' "$T/out" || fail "-V: $(cat "$T/out")"
expect_status 2 "$GREETINGD" --bogus
expect_status 2 "$GREETINGD" stray-argument
grep -q 'unexpected argument "stray-argument"' "$T/err" || fail "no message for a stray argument"
expect_status 2 "$GREETINGD" --log-level loud
grep -q -- '--log-level: "loud" is not one of' "$T/err" || fail "no message for a bad log level"
pass "greetingd usage errors exit 2 with a message"

expect_status 0 "$GREETINGD" -c "$top_srcdir/conf/greetingd.conf" --test-config
cat >"$T/want" <<'OUT'
[seed] inet stream, greeting 25 bytes, timeout 10000ms, deadline 60000ms
	127.0.0.1:12345
	max-clients 16384 (the process's), log-clients no
	allow -
	deny -
	max-clients-per-source 64, source-prefix4 24, source-prefix6 56, rate 0 (none)
	limit-exempt 127.0.0.0/8 ::1/128
configuration OK
OUT
cmp -s "$T/want" "$T/out" || fail "--test-config of the shipped file: $(cat "$T/out")"
pass "--test-config prints the shipped listener"

# What a listener inherits, and what its own keys replace, as it will
# apply: the datagram rate by default, rate-burst 0 as 1, a listener's own
# limit-exempt and allow lines instead of [greetingd]'s.
cat >"$T/inherit.conf" <<'CONF'
[greetingd]
allow = 192.0.2.0/24
deny = 192.0.2.7
limit-exempt = 198.51.100.0/24
log-clients = yes
[udp]
type = dgram
host = 127.0.0.1
port = 7000
max-amplification = 2
[own]
host = 127.0.0.1
port = 7001
allow = 203.0.113.0/24
limit-exempt =
rate = 5
rate-burst = 0
max-clients = 9
CONF
expect_status 0 "$GREETINGD" -c "$T/inherit.conf" --test-config
cat >"$T/want" <<'OUT'
[udp] any dgram, greeting 25 bytes, timeout 10000ms, deadline 60000ms
	127.0.0.1:7000
	max-clients 16384 (the process's), log-clients yes
	allow 192.0.2.0/24
	deny 192.0.2.7/32
	max-clients-per-source 64, source-prefix4 24, source-prefix6 56, rate 20/s, rate-burst 40
	limit-exempt 198.51.100.0/24
	udp-source-check yes, max-amplification 2
[own] any stream, greeting 25 bytes, timeout 10000ms, deadline 60000ms
	127.0.0.1:7001
	max-clients 9, log-clients yes
	allow 203.0.113.0/24
	deny 192.0.2.7/32
	max-clients-per-source 64, source-prefix4 24, source-prefix6 56, rate 5/s, rate-burst 1
	limit-exempt -
configuration OK
OUT
cmp -s "$T/want" "$T/out" || fail "--test-config, inherited limits: $(diff "$T/want" "$T/out")"
pass "--test-config prints the limits each listener will have, inherited or its own"

expect_status 0 "$GREET" --help
expect_status 2 "$GREET" 127.0.0.1
expect_status 2 "$GREET" 127.0.0.1 htpp
grep -qF 'greet: "htpp" is not a port number or a known tcp service' "$T/err" || fail "bad port message: $(cat "$T/err")"
expect_status 2 "$GREET" -w forever 127.0.0.1 7
expect_status 2 "$GREET" --unix relative/path
pass "greet usage errors exit 2 with a message"

# Refused: a port nobody listens on (bound and closed again, so it is free).
printf '[a]\nhost = 127.0.0.1\nport = 0\n' >"$T/a.conf"
start_daemon "$T/a.conf"
port=$(port_of a)
stop_daemon
expect_status 1 "$GREET" 127.0.0.1 "$port"
grep -qxF "greet: cannot connect to 127.0.0.1:$port: Connection refused" "$T/err" || fail "refusal: $(cat "$T/err")"
expect_status 1 "$GREET" --unix "$T/nothing.sock"
grep -qF "No such file or directory" "$T/err" || fail "missing socket: $(cat "$T/err")"
pass "greet reports a refusal"

# Timeout: a socket that is listening, but where nobody accepts or writes.
"$SOCKET_ACTIVATE" -l "$T/silent.sock" tail -f /dev/null >"$T/activate.log" 2>&1 &
PIDS+=("$!")
"$TESTTOOL" wait-file "$T/activate.log" "Listening on" 10 >/dev/null || fail "systemd-socket-activate did not start"
expect_status 1 "$GREET" -w 300ms --unix "$T/silent.sock"
grep -qxF "greet: $T/silent.sock: no end of greeting within the timeout" "$T/err" || fail "timeout: $(cat "$T/err")"
pass "greet times out with a message"
