#!/bin/bash
# CVE-2024-2169: one spoofed datagram must not start endless traffic. A
# datagram from port 0, from a port below 1024, or from one of greetingd's
# own sockets is dropped before any reply; any other source is answered.
# In a network namespace of its own, so that spoofing touches nothing else.
if [ -z "${GREETINGD_IN_NETNS:-}" ]; then
	unshare -n true || { echo "FAIL: cannot create a network namespace (unshare -n): run as root" >&2; exit 1; }
	GREETINGD_IN_NETNS=1 exec unshare -n "$BASH" "$0" "$@"
fi
. "$top_srcdir/tests/lib.sh"

ip link set lo up || fail "cannot bring lo up in the namespace"
cat >"$T/u.conf" <<CONF
[greetingd]
greeting = hello\n
[a]
type = dgram
host = 127.0.0.1
port = 0
[b]
type = dgram
host = 127.0.0.1
port = 0
[any4]
type = dgram
family = inet
port = 0
[a6]
type = dgram
host = ::1
port = 0
CONF
printf 'hello\n' >"$T/want"
start_daemon "$T/u.conf" --log-level debug
a=$(port_of a) b=$(port_of b) any4=$(port_of any4) a6=$(port_of a6)

# Received UDP datagrams in this namespace, all sockets together.
udp_in() {
	awk '/^Udp: [0-9]/ { print $2; exit }' /proc/net/snmp
}

expect_greeting "$T/want" -u 127.0.0.1 "$a"
"$TESTTOOL" udp-from 127.0.0.1 1024 127.0.0.1 "$a" reply >/dev/null || fail "a spoofed source on port 1024 was not answered"
pass "sources on ports from 1024 that are not ours are answered (spoofed or not)"

# [b] to [a], [a] to itself, and [any4] (0.0.0.0) from another local
# address to [a]: each would start a loop. Over 1 s, nothing but the three.
before=$(udp_in)
"$TESTTOOL" udp-from 127.0.0.1 "$b" 127.0.0.1 "$a" send >/dev/null || fail "cannot spoof"
"$TESTTOOL" udp-from 127.0.0.1 "$a" 127.0.0.1 "$a" send >/dev/null || fail "cannot spoof"
"$TESTTOOL" udp-from 127.0.0.2 "$any4" 127.0.0.1 "$a" send >/dev/null || fail "cannot spoof"
ticks=$("$TESTTOOL" cpu-ticks "$DAEMON_PID" 1000)
after=$(udp_in)
[ $((after - before)) -le 3 ] ||
	fail "$((after - before)) UDP datagrams in 1 s after 3 spoofed ones: a loop (greetingd used $ticks CPU ticks)"
for src in "127.0.0.1:$b" "127.0.0.1:$a" "127.0.0.2:$any4"; do
	grep -qxF "[a] datagram from $src dropped: it comes from one of greetingd's own sockets" "$DAEMON_LOG" ||
		fail "a datagram from $src was not dropped as ours"
done
pass "datagrams from our own sockets (exact, itself, wildcard) are dropped: no loop"

"$TESTTOOL" udp-from 127.0.0.1 7 127.0.0.1 "$a" none >/dev/null || fail "a datagram from port 7 (echo) was answered"
"$TESTTOOL" udp-from 127.0.0.1 0 127.0.0.1 "$a" send >/dev/null || fail "cannot spoof"
"$TESTTOOL" udp-from ::1 1023 ::1 "$a6" none >/dev/null || fail "a datagram from [::1]:1023 was answered"
expect_greeting "$T/want" -u ::1 "$a6"
for src in 127.0.0.1:7 127.0.0.1:0 "[::1]:1023"; do
	grep -qF "datagram from $src dropped: its source port is below 1024" "$DAEMON_LOG" ||
		fail "a datagram from $src was not dropped for its port"
done
pass "datagrams from ports below 1024 and port 0 are dropped, IPv4 and IPv6"
stop_daemon

# Multicast and broadcast sources, which would make a whole group or subnet
# answer: the limited broadcast, and a local interface's broadcast address,
# known from the next reload on. (Unspecified and IPv4-mapped sources cannot
# be sent here: the kernel fills in 0.0.0.0 and drops ::ffff:0:0/96.)
start_daemon "$T/u.conf" --log-level debug
a=$(port_of a)
ip link add gd-veth0 type veth peer name gd-veth1 || fail "cannot create a veth pair in the namespace"
ip addr add 10.9.0.1/24 broadcast + dev gd-veth0 &&
	ip link set gd-veth0 up && ip link set gd-veth1 up || fail "cannot set gd-veth0 up"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "reloaded:" 10 >/dev/null || fail "no reload"
for src in 224.0.0.5 255.255.255.255 10.9.0.255; do
	"$TESTTOOL" udp-from "$src" 5000 127.0.0.1 "$a" send >/dev/null || fail "cannot spoof"
done
expect_greeting "$T/want" -u 127.0.0.1 "$a"
for src in "224.0.0.5:5000 dropped: its source is a multicast address" \
	"255.255.255.255:5000 dropped: its source is a broadcast address" \
	"10.9.0.255:5000 dropped: its source is a broadcast address"; do
	grep -qxF "[a] datagram from $src" "$DAEMON_LOG" || fail "not in the log: [a] datagram from $src"
done
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" '[a] accepted' 10 >/dev/null || fail "no counters of [a] on SIGUSR1"
grep -q '^\[a\] accepted .*, bad-source 3,' "$DAEMON_LOG" || fail "3 bad sources not counted: $(grep '^\[a\] accepted' "$DAEMON_LOG")"
stop_daemon
pass "multicast, limited broadcast and an interface's broadcast sources are dropped"

# The same spoofed datagram with the defences turned off (no source check,
# no rate: and loopback is limit-exempt anyway) starts the endless loop
# the defaults prevent: this is what the test above would see without them.
cat >"$T/off.conf" <<CONF
[greetingd]
greeting = hello\n
udp-source-check = no
rate = 0
[a]
type = dgram
host = 127.0.0.1
port = 0
[b]
type = dgram
host = 127.0.0.1
port = 0
CONF
start_daemon "$T/off.conf"
before=$(udp_in)
"$TESTTOOL" udp-from 127.0.0.1 "$(port_of b)" 127.0.0.1 "$(port_of a)" send >/dev/null || fail "cannot spoof"
ticks=$("$TESTTOOL" cpu-ticks "$DAEMON_PID" 1000)
after=$(udp_in)
[ $((after - before)) -gt 1000 ] || fail "no loop without the defences: $((after - before)) datagrams in 1 s"
stop_daemon
pass "without udp-source-check and rate, one spoofed datagram loops: $((after - before)) datagrams in 1 s ($ticks ticks)"

# Bounded state: a million datagrams, each from another spoofed source, go
# through a per-source table of 64 Ki: memory grows by less than 16 MiB, and
# a source that was there before is still answered. max-amplification = 1
# and one-byte requests: every datagram meets the table, none is answered.
cat >"$T/flood.conf" <<CONF
[greetingd]
greeting = hi
limit-exempt =
source-prefix4 = 32
[f]
type = dgram
host = 127.0.0.1
port = 0
max-amplification = 1
CONF
start_daemon "$T/flood.conf"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
printf 'hi' >"$T/hi"
"$TESTTOOL" udp 127.0.0.1 "$(port_of f)" 2 "$T/hi" >/dev/null || fail "not answered before the flood"
before=$(rss)
"$TESTTOOL" udp-spoof-flood 127.0.0.1 "$(port_of f)" 1000000 >/dev/null || fail "the flood did not run"
"$TESTTOOL" udp 127.0.0.1 "$(port_of f)" 2 "$T/hi" >/dev/null || fail "not answered after the flood"
after=$(rss)
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'User defined signal 1: accepted' 10 >/dev/null || fail "no counters line"
read -r seen < <(sed -n 's/.*too-small \([0-9]*\)$/\1/p' "$DAEMON_LOG" | tail -n 1)
[ "${seen:-0}" -gt 131072 ] || fail "only ${seen:-0} of the spoofed datagrams were read: the table was not overrun twice"
[ $((after - before)) -lt 16384 ] || fail "RSS grew by $((after - before)) KiB over $seen spoofed sources"
stop_daemon
pass "$seen datagrams from distinct spoofed sources: RSS $before -> $after KiB; an old source still answered"
