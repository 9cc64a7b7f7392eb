#!/bin/bash
# workers = 2: two processes with SO_REUSEPORT sockets both serve; a reload
# reaches both; SIGTERM stops both; a worker that dies stops them all.
. "$top_srcdir/tests/lib.sh"

# The flood below holds 3000 connections open at once, past Debian's soft
# limit of 1024 open files; raise it here rather than depend on the caller's.
ulimit -Sn 8192 2>/dev/null || fail "needs 8192 open files; the hard limit is $(ulimit -Hn): raise it (ulimit -Hn, LimitNOFILE=)"

port=$((20000 + RANDOM % 20000))
printf 'first\n' >"$T/want1"
printf 'second\n' >"$T/want2"
write_config() {
	printf '[greetingd]\nworkers = 2\ngreeting = %s\\n\n[tcp]\nhost = 127.0.0.1\nport = %s\n[local]\npath = %s\n' \
		"$1" "$port" "$T/w.sock" >"$T/w.conf"
}
write_config first
start_daemon "$T/w.conf"
worker=$(pgrep -P "$DAEMON_PID")
[ -n "$worker" ] && [ "$(echo "$worker" | wc -l)" -eq 1 ] || fail "expected one more worker, got: $worker"
"$TESTTOOL" wait-file "$DAEMON_LOG" "worker 2: ready: 1 sockets" 10 >/dev/null || fail "the second worker is not ready"
# One TCP socket each; the second worker's lines say which worker it is.
[ "$(grep -c "^\(worker 2: \)\?\[tcp\] listening on stream 127.0.0.1:$port" "$DAEMON_LOG")" -eq 2 ] || fail "not two TCP sockets"
grep -q "^worker 2: \[tcp\] listening on stream 127.0.0.1:$port" "$DAEMON_LOG" || fail "the second worker's line does not name it"
[ "$(grep -c "^\(worker 2: \)\?\[local\] listening on" "$DAEMON_LOG")" -eq 1 ] || fail "the unix socket was bound twice"

"$TESTTOOL" flood 127.0.0.1 "$port" 3000 "$T/want1" >/dev/null || fail "flood over two workers"
expect_greeting "$T/want1" --unix "$T/w.sock"
# SIGUSR1: each worker logs its own listeners' counters; the second must
# have accepted some of the 3000 (its CPU ticks were too coarse to tell).
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "worker 2: [tcp] accepted" 10 >/dev/null || fail "the second worker logged no counters"
second=$(sed -n 's/^worker 2: \[tcp\] accepted \([0-9]*\),.*/\1/p' "$DAEMON_LOG" | tail -n 1)
[ "${second:-0}" -gt 0 ] || fail "the second worker served nobody"
pass "two workers share the TCP port; the second accepted $second of 3000"

write_config second
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "reloaded:" 10 2 >/dev/null || fail "both workers did not reload"
# STATUS= after the reload counts both workers' clients: the 3000 and the unix one.
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 2 >/dev/null || fail "no READY=1 after the reload"
status=$(grep -o 'STATUS=[0-9][^|]*' "$NOTIFY_LOG" | tail -n 1)
case $status in
*"accepted 3001, greeted 3001, failed 0, timed-out 0, bad-source 0, denied 0, limited 0, rate-limited 0, too-small 0") ;;
*) fail "STATUS= does not count both workers: $status" ;;
esac
pass "STATUS= counts every worker's clients"
"$TESTTOOL" flood 127.0.0.1 "$port" 500 "$T/want2" >/dev/null || fail "a worker kept the old greeting"
pass "a reload reaches every worker"

# One process reads the file: a broken one is reported once, not once per worker.
printf 'bogus = 1\n' >>"$T/w.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 3 >/dev/null || fail "no READY=1 after the failed reload"
[ "$(grep -c ': bogus: ' "$DAEMON_LOG")" -eq 1 ] || fail "the error was logged $(grep -c ': bogus: ' "$DAEMON_LOG") times"
[ "$(grep -c 'reloading ' "$DAEMON_LOG")" -eq 2 ] || fail "a worker read the file itself"
"$TESTTOOL" flood 127.0.0.1 "$port" 500 "$T/want2" >/dev/null || fail "a failed reload changed a worker"
pass "one process reads the file; its errors are logged once"
write_config second
stop_daemon
kill -0 "$worker" 2>/dev/null && fail "the second worker outlived SIGTERM"
pass "SIGTERM stops every worker, exit 0"

start_daemon "$T/w.conf"
worker=$(pgrep -P "$DAEMON_PID")
kill -KILL "$worker"
rc=0
wait "$DAEMON_PID" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc after a worker died, expected 1"
grep -q "^worker $worker exited unexpectedly (signal 9): stopping" "$DAEMON_LOG" || fail "a dead worker is not logged"
pass "a worker that dies stops the service, exit 1"

# A worker that dies before it answers a reload is a death, not a refusal:
# no "kept their old configuration", no READY=1 after STOPPING=1.
start_daemon "$T/w.conf"
worker=$(pgrep -P "$DAEMON_PID")
kill -STOP "$worker"
printf '[extra]\npath = %s\n' "$T/extra.sock" >>"$T/w.conf"
kill -HUP "$DAEMON_PID"
# The first has applied it (its own new socket) and now waits for the worker.
"$TESTTOOL" wait-file "$DAEMON_LOG" '[extra] listening on' 10 >/dev/null || fail "the first did not apply the reload"
kill -KILL "$worker"
rc=0
wait "$DAEMON_PID" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc after a worker died mid-reload, expected 1"
grep -q 'kept their old configuration' "$DAEMON_LOG" && fail "a dead worker was taken for one that refused the reload"
awk '/^STOPPING=1/ { stopping = 1 } /READY=1/ && stopping { bad = 1 } END { exit bad }' "$NOTIFY_LOG" ||
	fail "READY=1 after STOPPING=1: $(tr '\n' ' ' <"$NOTIFY_LOG")"
pass "a worker that dies during a reload stops the service; no READY=1 follows"

# Running workers and a reload whose file says workers = 1 with port 0: the
# running workers would each get another port, so the reload is refused.
write_config first
start_daemon "$T/w.conf"
sed -i 's/^workers = 2$/workers = 1/' "$T/w.conf"
printf '[any]\nhost = 127.0.0.1\nport = 0\n' >>"$T/w.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 2 >/dev/null || fail "no READY=1 after the reload"
grep -q '^\[any\] port 0 would give each running worker another port; name one' "$DAEMON_LOG" ||
	fail "port 0 under running workers was not refused: $(tail -n 5 "$DAEMON_LOG")"
grep -q '\[any\] listening on' "$DAEMON_LOG" && fail "[any] was bound"
stop_daemon
pass "a reload cannot give running workers a port 0 each"
