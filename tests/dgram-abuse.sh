#!/bin/bash
# A unix datagram listener under abuse: a client that never reads its replies
# stops nobody else and costs no CPU; fds a client passes are not kept.
. "$top_srcdir/tests/lib.sh"

cat >"$T/d.conf" <<CONF
[dgram]
type = dgram
path = $T/dgram.sock
CONF
printf 'Thank you for connecting\n' >"$T/want"
start_daemon "$T/d.conf"

# A bound client that sends and never reads: once its queue is full
# (net.unix.max_dgram_qlen), each reply to it fails with EAGAIN. Those
# replies are dropped; greetingd must go on reading, and must not spin.
"$TESTTOOL" dgram-deaf "$T/dgram.sock" "$T/deaf.sock" 2000 10 >"$T/deaf.out" &
deaf=$!
PIDS+=("$deaf")
"$TESTTOOL" wait-file "$T/deaf.out" "sent" 15 >/dev/null || fail "the deaf client did not finish"
ticks=$("$TESTTOOL" cpu-ticks "$DAEMON_PID" 1000)
[ "$ticks" -le 20 ] || fail "greetingd used $ticks CPU ticks in 1 s while a client does not read"
grep -qx "sent 2000 of 2000" "$T/deaf.out" || fail "greetingd stopped reading: $(cat "$T/deaf.out")"
expect_greeting "$T/want" -w 2s -u --unix "$T/dgram.sock"
grep -qF "[dgram] cannot reply to $T/deaf.sock, dropping the reply: Resource temporarily unavailable" "$DAEMON_LOG" ||
	fail "the dropped replies are not logged"
kill "$deaf"
pass "a unix client that never reads: its replies dropped, others served, no spinning ($ticks ticks in 1 s)"
stop_daemon

# fds passed with datagrams (SCM_RIGHTS) must not stay open in greetingd.
start_daemon "$T/d.conf"
before=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
"$TESTTOOL" send-fds "$T/dgram.sock" "$T/fds.sock" 100 6 >/dev/null || fail "datagrams with fds not answered"
after=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
[ "$after" -le "$before" ] || fail "greetingd had $before fds before 100 datagrams carrying 6 fds each, $after after"
pass "fds passed with datagrams are not kept ($before fds before, $after after)"
stop_daemon
