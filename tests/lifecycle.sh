#!/bin/bash
# max-clients is a bound, counted per accept; a client that stops reading is
# dropped with an RST, as greetingd(8) says; a SIGHUP after SIGTERM is ignored;
# deadline bounds a slow reader.
. "$top_srcdir/tests/lib.sh"

head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
cat >"$T/l.conf" <<CONF
[greetingd]
max-clients = 5
[big]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 1s
CONF
start_daemon "$T/l.conf"
# The daemon's TCP sockets (not the unix one sd_notify opens for a moment
# every few seconds); find fails when an fd closes under it, no error here.
sockets() {
	local n
	n=$(find "/proc/$DAEMON_PID/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' |
		grep -cxFf <(awk 'NR > 1 { print $10 }' /proc/net/tcp)) || true
	echo "${n:-0}"
}
# most_in_flight PID: the most TCP sockets over $base the daemon held while PID ran.
most_in_flight() {
	local most=0 n
	while kill -0 "$1" 2>/dev/null; do
		n=$(($(sockets) - base))
		if [ "$n" -gt "$most" ]; then most=$n; fi
	done
	echo "$most"
}
base=$(sockets)
# Twenty clients that never read: the kernel's backlog holds them all, and
# greetingd must take at most five at a time, whatever one accept batch holds.
"$TESTTOOL" stall 127.0.0.1 "$(port_of big)" 20 30 >"$T/stall.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$T/stall.out" 'stalling 20' 10 >/dev/null || fail "stall did not start"
most=$(most_in_flight "$stall")
wait "$stall" || fail "stalled clients were not all dropped: $(cat "$T/stall.out")"
[ "$most" -eq 5 ] || fail "max-clients = 5, yet $most clients were in flight at once"
pass "max-clients = 5 holds: at most $most clients in flight, the rest waited in the backlog"
grep -qx 'dropped 20 reset 20' "$T/stall.out" || fail "clients that stopped reading were not reset: $(cat "$T/stall.out")"
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" '[big] accepted' 10 >/dev/null || fail "no counters of [big] on SIGUSR1"
grep -q '^\[big\] accepted 20, greeted [0-9]*, failed 0, timed-out 20, ' "$DAEMON_LOG" ||
	fail "dropped clients not counted as timed-out: $(grep '^\[big\] accepted' "$DAEMON_LOG")"
pass "a client that stops reading is dropped with an RST, and counted as timed-out"

# SIGTERM with a client in flight, then SIGHUP: no reload, no READY=1 after STOPPING=1.
sed -i 's/^timeout = 1s$/timeout = 30s/' "$T/l.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 2 >/dev/null || fail "reload"
"$TESTTOOL" stall 127.0.0.1 "$(port_of big)" 1 30 >"$T/stall2.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$T/stall2.out" 'stalling 1' 10 >/dev/null || fail "stall did not start"
kill -TERM "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'stopping: finishing 1 clients in flight' 10 >/dev/null || fail "no stop with a client in flight"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'SIGHUP while stopping: not reloading' 10 >/dev/null || fail "SIGHUP after SIGTERM not ignored"
kill "$stall"
wait "$DAEMON_PID" || fail "greetingd exited with $? after SIGTERM"
awk '/^STOPPING=1/ { stopping = 1 } /READY=1/ && stopping { bad = 1 } END { exit bad }' "$NOTIFY_LOG" ||
	fail "READY=1 after STOPPING=1: $(tr '\n' ' ' <"$NOTIFY_LOG")"
[ "$(grep -c '^\[big\] listening on' "$DAEMON_LOG")" -eq 1 ] || fail "a SIGHUP after SIGTERM bound sockets again"
pass "a SIGHUP after SIGTERM is ignored"

# deadline: a reader that keeps reading, but too slowly, is dropped when the
# deadline comes, although it is never idle for a timeout; a fast reader of
# the same listener is greeted whole.
cat >"$T/d.conf" <<CONF
[slow]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 10s
deadline = 300ms
CONF
start_daemon "$T/d.conf"
expect_greeting "$T/big.txt" 127.0.0.1 "$(port_of slow)"
# testtool slow takes at least a second for 1 MiB (2 KiB every 2 ms).
"$TESTTOOL" slow 127.0.0.1 "$(port_of slow)" "$T/big.txt" >"$T/slow.out" 2>&1 && fail "a slow reader outlived its deadline"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'did not take its greeting within its deadline' 10 >/dev/null ||
	fail "the deadline drop is not logged: $(tail -n 5 "$DAEMON_LOG")"
stop_daemon
pass "a steady but slow reader is dropped at its deadline; a fast one is greeted whole"

# A listener's own max-clients: [held] takes 3 clients at a time, the rest
# wait in its backlog, and [other] is greeted meanwhile.
cat >"$T/m.conf" <<CONF
[held]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 1s
max-clients = 3
[other]
host = 127.0.0.1
port = 0
CONF
start_daemon "$T/m.conf"
base=$(sockets)
"$TESTTOOL" stall 127.0.0.1 "$(port_of held)" 10 30 >"$T/stall3.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$T/stall3.out" 'stalling 10' 10 >/dev/null || fail "stall did not start"
printf 'Thank you for connecting\n' >"$T/want"
expect_greeting "$T/want" 127.0.0.1 "$(port_of other)"
most=$(most_in_flight "$stall")
wait "$stall" || fail "stalled clients were not all dropped: $(cat "$T/stall3.out")"
[ "$most" -eq 3 ] || fail "[held] max-clients = 3, yet $most of its clients were in flight at once"
stop_daemon
pass "a listener's own max-clients = 3 holds ($most in flight at most); another listener is greeted meanwhile"
