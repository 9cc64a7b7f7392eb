#!/bin/bash
# The fail2ban filter shipped in conf/examples/fail2ban, run by fail2ban's
# own fail2ban-regex over access lines a running greetingd wrote: each
# connection allow and deny refused is a failure of its host, once per
# refusal; greeted clients never are, nor datagrams (their source may be
# forged), nor by default clients refused by a per-prefix limit (the
# failures parameter adds them); the listeners parameter leaves others out.
# The same lines as the journal or syslog hand them to fail2ban ("host
# greetingd[PID]: ...") match alike.
. "$top_srcdir/tests/lib.sh"

command -v fail2ban-regex >/dev/null || fail "fail2ban-regex is required (package fail2ban)"
[ -f /etc/fail2ban/filter.d/common.conf ] || fail "fail2ban's common.conf is missing (package fail2ban)"
# The filter as installed in filter.d/, beside the common.conf it includes.
mkdir -p "$T/filter.d"
cp "$top_srcdir/conf/examples/fail2ban/filter.d/greetingd.conf" "$T/filter.d/"
ln -s /etc/fail2ban/filter.d/common.conf "$T/filter.d/common.conf"

head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
printf 'Thank you for connecting\n' >"$T/want"
cat >"$T/f.conf" <<CONF
[greetingd]
log-clients = yes
limit-exempt =
source-prefix4 = 32

[seed]
host = 127.0.0.1
port = 0
deny = 127.0.0.2
rate = 1
rate-burst = 1

[big]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 300ms
max-clients-per-source = 1

[udp]
type = dgram
host = 127.0.0.1
port = 0
deny = 127.0.0.4
CONF
start_daemon "$T/f.conf"
seed=$(port_of seed)

# Greeted: 127.0.0.1 and 127.0.0.5.
expect_greeting "$T/want" --source 127.0.0.1 127.0.0.1 "$seed"
expect_greeting "$T/want" --source 127.0.0.5 127.0.0.1 "$seed"
# Denied three times: 127.0.0.2. Greeted once, then over its rate twice: 127.0.0.3.
for src in 127.0.0.2 127.0.0.2 127.0.0.2 127.0.0.3 127.0.0.3 127.0.0.3; do
	"$GREET" -w 5s --source "$src" 127.0.0.1 "$seed" >/dev/null || fail "greet from $src failed"
done
# Over max-clients-per-source once: 127.0.0.6 (its first client times out).
TESTTOOL_SOURCE=127.0.0.6 "$TESTTOOL" stall 127.0.0.1 "$(port_of big)" 2 10 >/dev/null || fail "stall failed"
# A datagram denied: 127.0.0.4.
"$GREET" -w 1s -u --source 127.0.0.4 127.0.0.1 "$(port_of udp)" >/dev/null 2>&1 && fail "a denied datagram was answered"
"$TESTTOOL" wait-file "$DAEMON_LOG" '[udp] datagram from 127.0.0.4 port' 10 >/dev/null || fail "no access line for the datagram"
"$TESTTOOL" wait-file "$DAEMON_LOG" '[big] client 127.0.0.6 port' 10 2 >/dev/null || fail "no access lines for big"
grep -c ': greeted, ' "$DAEMON_LOG" | grep -qx 3 || fail "expected 3 greeted clients: $(grep ': greeted, ' "$DAEMON_LOG")"
stop_daemon

# failures LOG [FILTER-PARAMETERS]: each matched host, once per match, sorted.
failures() {
	fail2ban-regex -o ip "$1" "$T/filter.d/greetingd.conf${2:-}" 2>"$T/f2b.err" | sort ||
		fail "fail2ban-regex: $(cat "$T/f2b.err")"
}
want=$(printf '%s\n' 127.0.0.2 127.0.0.2 127.0.0.2)
got=$(failures "$DAEMON_LOG")
[ "$got" = "$want" ] || fail "fail2ban matched $(echo $got), not $(echo $want)"
pass "every connection allow and deny refused is a failure of its host; no other client is, nor a datagram"

# Where one address is one source (source-prefix4 = 32 here), the limits
# may count too; a datagram never does, nor does a listener left out.
all=$(printf '%s\n' 127.0.0.2 127.0.0.2 127.0.0.2 127.0.0.3 127.0.0.3 127.0.0.6)
got=$(failures "$DAEMON_LOG" '[failures="denied|limited|rate-limited"]')
[ "$got" = "$all" ] || fail "with the limits counted, fail2ban matched $(echo $got), not $(echo $all)"
got=$(failures "$DAEMON_LOG" '[listeners="seed", failures="denied|limited|rate-limited"]')
[ "$got" = "$(grep -v 127.0.0.6 <<<"$all")" ] || fail "with listeners=seed, fail2ban matched $(echo $got)"
pass "the limits count when asked; the jail's listeners leave the others out"

sed 's/^/Dec  1 12:00:00 host greetingd[4242]: /' "$DAEMON_LOG" >"$T/syslog"
got=$(failures "$T/syslog")
[ "$got" = "$want" ] || fail "as syslog hands them, fail2ban matched $(echo $got)"
sed 's/^\[/worker 2: [/' "$DAEMON_LOG" >"$T/worker"
got=$(failures "$T/worker")
[ "$got" = "$want" ] || fail "a worker's lines: fail2ban matched $(echo $got)"
pass "the lines match as syslog or the journal hands them, and a worker's"
