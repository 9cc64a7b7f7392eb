#!/bin/bash
# IPv6 turned off on loopback (disable_ipv6, so ::1 is gone): a family = any
# listener serves its IPv4 addresses and warns about the IPv6 ones; one with
# nothing but IPv6 left still fails. The script re-runs itself under unshare,
# in network and mount namespaces of its own: turning IPv6 off and binding an
# /etc/hosts (where "twohost" is 127.0.0.1 and ::1) touch nothing outside.
# unshare execs, so the PIDs the test stops are the real ones.
if [ -z "${GREETINGD_UNSHARED:-}" ]; then
	GREETINGD_UNSHARED=1 exec unshare --net --mount "$BASH" "$0" "$@"
fi
. "$top_srcdir/tests/lib.sh"

echo 1 >/proc/sys/net/ipv6/conf/lo/disable_ipv6
ip link set lo up
printf '127.0.0.1 twohost\n::1 twohost\n::1 sixhost\n::2 sixhost\n' >"$T/hosts"
mount --bind "$T/hosts" /etc/hosts
trap 'umount /etc/hosts; cleanup' EXIT
printf 'Thank you for connecting\n' >"$T/want"

printf '[two]\nhost = twohost\nport = 12345\n[udp]\ntype = dgram\nhost = twohost\nport = 12345\n' >"$T/two.conf"
start_daemon "$T/two.conf"
expect_greeting "$T/want" 127.0.0.1 12345
expect_greeting "$T/want" -u 127.0.0.1 12345
grep -q "^\[two\] skipping \[::1\]:12345: Cannot assign requested address (is IPv6 turned off?)$" "$DAEMON_LOG" ||
	fail "no warning for ::1: $(cat "$DAEMON_LOG")"
grep -q "^\[udp\] skipping \[::1\]:12345" "$DAEMON_LOG" || fail "no warning for the dgram ::1"
stop_daemon
pass "family = any serves IPv4 and warns about the IPv6 address it cannot use"

# Asked for IPv6 alone, or left with nothing but IPv6: start-up fails.
printf '[six]\nfamily = inet6\nhost = twohost\nport = 12345\n' >"$T/six.conf"
"$GREETINGD" -c "$T/six.conf" >"$T/six.out" 2>&1 && fail "family = inet6 started without IPv6"
grep -q "^\[six\] cannot bind stream \[::1\]:12345: Cannot assign requested address" "$T/six.out" || fail "inet6: $(cat "$T/six.out")"
printf '[six]\nhost = sixhost\nport = 12345\n' >"$T/any6.conf"
"$GREETINGD" -c "$T/any6.conf" >"$T/any6.out" 2>&1 && fail "started with none of its addresses usable"
grep -q "^\[six\] none of its addresses can be used here" "$T/any6.out" || fail "any6: $(cat "$T/any6.out")"
pass "a listener with no usable address still fails, with its name"
