#!/bin/bash
# Per-source limits (DESIGN section 6), on loopback, where each 127.0.0.x is
# a source of its own (source-prefix4 = 32, limit-exempt emptied): a source
# over its rate is refused while another is greeted; one at its
# max-clients-per-source is refused at once while another is greeted;
# limit-exempt sources are never limited; each refusal is counted.
. "$top_srcdir/tests/lib.sh"

head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
printf 'hello\n' >"$T/want"
cat >"$T/l.conf" <<CONF
[greetingd]
greeting = hello\n
limit-exempt =
source-prefix4 = 32
[udp]
type = dgram
host = 127.0.0.1
port = 0
rate = 1
rate-burst = 5
[tcp]
host = 127.0.0.1
port = 0
rate = 1
rate-burst = 3
[big]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 30s
max-clients-per-source = 2
[exempt]
host = 127.0.0.1
port = 0
rate = 1
rate-burst = 1
limit-exempt = 127.0.0.9
[amp]
type = dgram
host = 127.0.0.1
port = 0
greeting = 0123456789012345678901234567890123456789012345678\n
max-amplification = 5
CONF
start_daemon "$T/l.conf"

# Datagrams: a burst of 20 from one source gets its 5 tokens (6 if one came
# back meanwhile); another source has its own bucket.
for src in 127.0.0.2 127.0.0.3; do
	"$TESTTOOL" udp-burst "$src" 127.0.0.1 "$(port_of udp)" 20 >"$T/burst.out"
	read -r _ k <"$T/burst.out"
	[ "$k" -ge 5 ] && [ "$k" -le 6 ] || fail "$src: $k replies to 20 datagrams at rate 1/s, burst 5"
done
grep -q '^\[udp\] 127.0.0.2/32: over rate 1/s, dropping its datagrams$' "$DAEMON_LOG" || fail "no line for the dropping source"
pass "a datagram source over its rate is answered up to its burst; another has its own"

# Connections: the burst, then refusals with no byte; another source is greeted.
greeted=0
for i in 1 2 3 4 5 6; do
	"$GREET" -w 5s --source 127.0.0.2 127.0.0.1 "$(port_of tcp)" >"$T/got" 2>/dev/null || fail "greet $i"
	[ -s "$T/got" ] && greeted=$((greeted + 1))
done
[ "$greeted" -ge 3 ] && [ "$greeted" -le 4 ] || fail "$greeted of 6 connections greeted at rate 1/s, burst 3"
expect_greeting "$T/want" --source 127.0.0.3 127.0.0.1 "$(port_of tcp)"
[ "$(grep -c '^\[tcp\] 127.0.0.2/32: over rate 1/s, dropping its connections$' "$DAEMON_LOG")" -eq 1 ] ||
	fail "not one line for the source over its rate: $(grep '\[tcp\]' "$DAEMON_LOG")"
pass "a connecting source over its rate is refused, in one line for its prefix; another is greeted"

# Two clients of 127.0.0.2 that never read hold its two slots on [big].
TESTTOOL_SOURCE=127.0.0.2 "$TESTTOOL" stall 127.0.0.1 "$(port_of big)" 2 60 >"$T/stall.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$T/stall.out" 'stalling 2' 10 >/dev/null || fail "stall did not start"
"$GREET" -w 5s --source 127.0.0.2 127.0.0.1 "$(port_of big)" >"$T/got" 2>/dev/null || fail "greet at the limit"
[ ! -s "$T/got" ] || fail "a third client of a source at max-clients-per-source = 2 was greeted"
expect_greeting "$T/big.txt" --source 127.0.0.3 127.0.0.1 "$(port_of big)"
kill "$stall"
wait "$stall" 2>/dev/null || true
pass "a source at max-clients-per-source is refused at once; another is greeted meanwhile"

# limit-exempt: 127.0.0.9 is never limited, 127.0.0.2 is.
for i in 1 2 3 4; do
	expect_greeting "$T/want" --source 127.0.0.9 127.0.0.1 "$(port_of exempt)"
done
expect_greeting "$T/want" --source 127.0.0.5 127.0.0.1 "$(port_of exempt)"
"$GREET" -w 5s --source 127.0.0.5 127.0.0.1 "$(port_of exempt)" >"$T/got" 2>/dev/null || fail "greet"
[ ! -s "$T/got" ] || fail "a source that is not exempt was not limited on [exempt]"
pass "a limit-exempt source is never rate-limited; the others are"

# max-amplification = 5 and a 50-byte greeting: a 9-byte request gets no
# reply, a 10-byte one does.
printf '0123456789012345678901234567890123456789012345678\n' >"$T/amp"
"$TESTTOOL" udp 127.0.0.1 "$(port_of amp)" 9 "$T/amp" 2>/dev/null && fail "a 9-byte request drew a 50-byte reply"
"$TESTTOOL" udp 127.0.0.1 "$(port_of amp)" 10 "$T/amp" >/dev/null || fail "a 10-byte request was not answered"
pass "max-amplification: no reply over 5 times the request"

# The bursts above stopped: each dropping prefix's last drops are summed up
# when their 10 s are over, with no drop to bring the line.
"$TESTTOOL" wait-file "$DAEMON_LOG" 'datagrams over rate 1/s dropped in' 20 >/dev/null ||
	fail "no summary of the drops after the last line: $(grep 'over rate' "$DAEMON_LOG")"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'connections over rate 1/s dropped in' 5 >/dev/null ||
	fail "no summary of the refused connections: $(grep 'over rate' "$DAEMON_LOG")"
grep -Eq '^\[udp\] 127\.0\.0\.2/32: 1[45] datagrams over rate 1/s dropped in 1[01] s$' "$DAEMON_LOG" ||
	fail "not the summary of 127.0.0.2's 14-15 last drops: $(grep 'over rate' "$DAEMON_LOG")"
grep -Eq '^\[tcp\] 127\.0\.0\.2/32: [23] connections over rate 1/s dropped in 1[01] s$' "$DAEMON_LOG" ||
	fail "not the summary of 127.0.0.2's last refused connections: $(grep 'over rate' "$DAEMON_LOG")"
pass "a flood that stops gets its last summary: $(grep -c 'dropped in' "$DAEMON_LOG") lines"

kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'User defined signal 1: accepted' 10 >/dev/null || fail "no counters line"
line=$(grep 'User defined signal 1: accepted' "$DAEMON_LOG" | tail -n 1)
case $line in
*", limited 1, rate-limited "[1-9]*", too-small 1") ;;
*) fail "refusals not counted: $line" ;;
esac
stop_daemon
pass "refusals are counted: ${line#*: }"
