#!/bin/bash
# greetingd survives its surroundings: a log reader that went away (SIGPIPE),
# being started with fds 0-2 closed, and signals it does not use; SIGUSR1
# logs the counters.
. "$top_srcdir/tests/lib.sh"

cat >"$T/s.conf" <<CONF
[stream]
path = $T/s.sock
[d]
type = dgram
path = $T/d.sock
CONF
printf 'Thank you for connecting\n' >"$T/want"

# notify_collector: a NOTIFY_SOCKET for a daemon started by hand.
notify_collector() {
	DAEMONS=$((DAEMONS + 1))
	NOTIFY_LOG=$T/notify$DAEMONS.log
	PIDS+=("$("$TESTTOOL" notify-collect "$T/notify$DAEMONS.sock" "$NOTIFY_LOG")")
}

# 1. stderr on a pipe whose reader has exited: the next log line (one a
# client provokes) must not kill the daemon with SIGPIPE.
mkfifo "$T/err.fifo"
cat "$T/err.fifo" >"$T/reader.log" &
reader=$!
PIDS+=("$reader")
notify_collector
NOTIFY_SOCKET=$T/notify$DAEMONS.sock "$GREETINGD" -c "$T/s.conf" --log-level debug 2>"$T/err.fifo" >&2 &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "greetingd did not become ready"
"$TESTTOOL" wait-file "$T/reader.log" "ready:" 10 >/dev/null || fail "the reader got no log line"
kill "$reader"
wait "$reader" || true
# A datagram from an unbound socket makes a debug line; the next datagram on
# the same socket is answered only after that line was written.
"$TESTTOOL" send-unbound "$T/d.sock"
expect_greeting "$T/want" -u --unix "$T/d.sock"
expect_greeting "$T/want" --unix "$T/s.sock"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "greetingd died when its log reader went away"
stop_daemon
pass "a log reader that went away does not kill greetingd"

# 2. Started with fds 0-2 closed: they are opened on /dev/null, so no
# socket takes them and no log line reaches a client.
notify_collector
NOTIFY_SOCKET=$T/notify$DAEMONS.sock "$GREETINGD" -c "$T/s.conf" --log-level debug <&- >&- 2>&- &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "greetingd did not become ready with fds 0-2 closed"
for fd in 0 1 2; do
	target=$(readlink "/proc/$DAEMON_PID/fd/$fd" || true)
	[ "$target" = /dev/null ] || fail "fd $fd of a daemon started without it is '$target', not /dev/null"
done
for i in 1 2 3; do
	"$TESTTOOL" send-unbound "$T/d.sock" # a log line each
	expect_greeting "$T/want" --unix "$T/s.sock"
	expect_greeting "$T/want" -u --unix "$T/d.sock"
done
stop_daemon
pass "started with fds 0-2 closed: they are /dev/null, greetings carry no log text"

# 3. SIGUSR2 and SIGALRM do not kill it; SIGUSR1 logs the counters.
start_daemon "$T/s.conf"
expect_greeting "$T/want" --unix "$T/s.sock"
expect_greeting "$T/want" -u --unix "$T/d.sock"
kill -USR2 "$DAEMON_PID"
kill -ALRM "$DAEMON_PID"
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "accepted 2, greeted 2, failed 0" 10 >/dev/null ||
	fail "no counters after SIGUSR1: $(tail -n 3 "$DAEMON_LOG")"
expect_greeting "$T/want" --unix "$T/s.sock"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "greetingd died of SIGUSR2 or SIGALRM"
stop_daemon
pass "SIGUSR1 logs the counters; SIGUSR2 and SIGALRM are ignored"

# 4. stderr on a pipe whose reader is there but never reads (a stuck
# journal, a paused pager): once the pipe is full, log lines are dropped and
# counted, and serving goes on. Each SIGUSR1 writes a line; 200 of them
# overfill the 4 KiB pipe many times.
mkfifo "$T/full.fifo"
"$TESTTOOL" fifo-hold "$T/full.fifo" >"$T/hold.out" &
PIDS+=("$!")
"$TESTTOOL" wait-file "$T/hold.out" holding 10 >/dev/null || fail "the stuck reader did not start"
notify_collector
NOTIFY_SOCKET=$T/notify$DAEMONS.sock "$GREETINGD" -c "$T/s.conf" 2>"$T/full.fifo" >&2 &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 >/dev/null || fail "greetingd did not become ready"
for i in $(seq 1 200); do
	kill -USR1 "$DAEMON_PID"
	"$GREET" -w 2s --unix "$T/s.sock" >"$T/got" 2>"$T/greet.err" ||
		fail "client $i not greeted while stderr is full: $(cat "$T/greet.err"); greetingd waits in $(cat "/proc/$DAEMON_PID/wchan")"
done
stop_daemon
pass "a log reader that does not read costs log lines, never a client"
