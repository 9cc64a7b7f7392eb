#!/bin/bash
# Hard clients: a thousand at once, slow readers, clients that write first,
# clients that never read, and running out of file descriptors.
. "$top_srcdir/tests/lib.sh"

# A thousand clients at once, plus the daemon's and testtool's own fds: near
# Debian's soft limit of 1024 open files, so raise it rather than depend on it.
ulimit -Sn 4096 2>/dev/null || fail "needs 4096 open files; the hard limit is $(ulimit -Hn): raise it (ulimit -Hn, LimitNOFILE=)"

head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
printf 'Thank you for connecting\n' >"$T/want"
cat >"$T/c.conf" <<CONF
[small]
family = inet
host = 127.0.0.1
port = 0

[big]
family = inet
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 2s
CONF

start_daemon "$T/c.conf" --log-level debug
small=$(port_of small)
big=$(port_of big)

"$TESTTOOL" flood 127.0.0.1 "$small" 1000 "$T/want" >"$T/flood.out" || fail "flood"
grep -qx 'greeted 1000' "$T/flood.out" || fail "not all 1000 greeted"
pass "1000 concurrent clients greeted"

"$TESTTOOL" slow 127.0.0.1 "$big" "$T/big.txt" || fail "slow reader"
pass "a slow reader gets the whole 1 MiB greeting"

"$TESTTOOL" write-first 127.0.0.1 "$small" 200000 "$T/want" || fail "write-first (small greeting)"
"$TESTTOOL" write-first 127.0.0.1 "$big" 200000 "$T/big.txt" || fail "write-first (big greeting)"
pass "clients that write first still get the whole greeting"

# Clients that write without end, and never read, do not hold up the others.
for i in 1 2 3 4; do
	"$TESTTOOL" firehose 127.0.0.1 "$big" 6 >"$T/firehose$i.out" &
	PIDS+=("$!")
done
for i in 1 2 3 4; do
	"$TESTTOOL" wait-file "$T/firehose$i.out" writing 10 >/dev/null || fail "firehose $i did not start"
done
"$TESTTOOL" flood 127.0.0.1 "$small" 300 "$T/want" >/dev/null || fail "clients starved by clients that only write"
pass "clients that only write do not starve the others"

# Twenty clients that never read hold the big listener; others are served
# meanwhile, and the stalled ones are dropped after the 2s timeout.
"$TESTTOOL" stall 127.0.0.1 "$big" 20 15 >"$T/stall.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$T/stall.out" 'stalling 20' 10 >/dev/null || fail "stall did not start"
"$TESTTOOL" flood 127.0.0.1 "$big" 20 "$T/big.txt" >/dev/null || fail "big clients not served while others stall"
"$TESTTOOL" flood 127.0.0.1 "$small" 200 "$T/want" >/dev/null || fail "small clients not served while others stall"
wait "$stall" || fail "stalled clients were not dropped"
grep -q 'dropped 20' "$T/stall.out" || fail "stall: $(cat "$T/stall.out")"
grep -q '\[big\] client 127\.0\.0\.1:[0-9]* stopped reading its greeting' "$DAEMON_LOG" || fail "timeout not logged"
pass "clients that never read are dropped after the timeout, others served meanwhile"
stop_daemon

# Out of file descriptors: accepting pauses (no busy loop), then resumes
# once the stalled clients are dropped.
start_daemon "$T/c.conf" &&
pid=$DAEMON_PID
prlimit --pid "$pid" --nofile=64:64
big=$(port_of big)
ticks() { [ -e "/proc/$pid/stat" ] || fail "greetingd died"; awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
"$TESTTOOL" stall 127.0.0.1 "$big" 100 20 >"$T/stall2.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$DAEMON_LOG" 'cannot accept, pausing: Too many open files' 10 >/dev/null || fail "no pause on EMFILE"
before=$(ticks)
wait "$stall" || fail "stalled clients were not all dropped once accepting resumed"
after=$(ticks)
expect_greeting "$T/want" 127.0.0.1 "$(port_of small)"
# While paused, the daemon waits: two seconds of spinning would be ~200 ticks.
[ $((after - before)) -lt 100 ] || fail "the daemon spun while out of fds: $((after - before)) ticks"
pass "EMFILE pauses accepting for $((after - before)) ticks of CPU, then resumes"
stop_daemon
