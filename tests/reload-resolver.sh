#!/bin/bash
# A reload never stops serving: a new host name whose resolver never answers
# delays the new configuration, never a client. In network and mount
# namespaces of its own, /etc/resolv.conf points at a UDP socket that reads
# nothing; unshare execs, so the PIDs the test stops are the real ones.
if [ -z "${GREETINGD_UNSHARED:-}" ]; then
	GREETINGD_UNSHARED=1 exec unshare --net --mount "$BASH" "$0" "$@"
fi
. "$top_srcdir/tests/lib.sh"

ip link set lo up
printf 'nameserver 127.0.0.1\noptions timeout:3 attempts:1\n' >"$T/resolv.conf"
printf '127.0.0.1 localhost\n' >"$T/hosts"
mount --bind "$T/resolv.conf" /etc/resolv.conf
mount --bind "$T/hosts" /etc/hosts
trap 'umount /etc/resolv.conf /etc/hosts; cleanup' EXIT
"$TESTTOOL" udp-sink 127.0.0.1 53 >"$T/sink.out" &
PIDS+=("$!")
"$TESTTOOL" wait-file "$T/sink.out" bound 10 >/dev/null || fail "the silent resolver did not start"

printf 'Thank you for connecting\n' >"$T/want"
printf '[tcp]\nhost = 127.0.0.1\nport = 0\n' >"$T/r.conf"
start_daemon "$T/r.conf"
port=$(port_of tcp)
printf '[tcp]\nhost = 127.0.0.1\nport = %s\n[slow]\nhost = greetingd-test.example\nport = 0\n' "$port" >"$T/r.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "reloading $T/r.conf" 10 >/dev/null || fail "no reload began"
# The resolver takes 3 s to give up; meanwhile every client is greeted at once.
for i in 1 2 3 4 5; do
	"$GREET" -w 500ms 127.0.0.1 "$port" >"$T/got" 2>"$T/greet.err" || fail "client $i not greeted during the reload: $(cat "$T/greet.err")"
	cmp -s "$T/want" "$T/got" || fail "client $i: wrong greeting"
done
grep -q 'reload failed' "$DAEMON_LOG" && fail "the reload ended before the clients were served: the test proves nothing"
pass "five clients greeted while the resolver dawdled"

# A SIGHUP during the reload waits for it, then reads the file again.
printf '[tcp]\nhost = 127.0.0.1\nport = %s\ngreeting = second\\n\n' "$port" >"$T/r.conf.new"
mv "$T/r.conf.new" "$T/r.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'SIGHUP during a reload: reading the file again once it is done' 10 >/dev/null ||
	fail "a SIGHUP during a reload was not deferred"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'reload failed: keeping the running configuration' 20 >/dev/null || fail "the slow reload never ended"
grep -q "^$T/r.conf:5: host: \"greetingd-test.example\" does not resolve" "$DAEMON_LOG" ||
	fail "the resolver's failure is not reported by file, line and key: $(tail -n 5 "$DAEMON_LOG")"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 3 >/dev/null || fail "the deferred reload did not finish"
[ "$(grep -c "^reloading $T/r.conf" "$DAEMON_LOG")" -eq 2 ] || fail "expected two reloads"
printf 'second\n' >"$T/want2"
expect_greeting "$T/want2" 127.0.0.1 "$port"
awk '/RELOADING=1/ { if (open) bad = 1; open = 1 } /READY=1/ { open = 0 } END { exit bad || open }' "$NOTIFY_LOG" ||
	fail "RELOADING=1 and READY=1 out of order: $(tr '\n' ' ' <"$NOTIFY_LOG")"
stop_daemon
pass "the slow reload failed with file:line: key; the SIGHUP that came meanwhile applied the file after it"

# A worker dies while a reload waits for a slow (but answering) resolver:
# greetingd stops, and the reload's answer, when it comes, applies nothing:
# no socket is bound once stopping. A unix client that never reads keeps the
# stop waiting (up to its 5 s deadline) past the resolver's answer.
"$TESTTOOL" dns-slow 127.0.0.2 53 1000 >"$T/dns.out" &
PIDS+=("$!")
"$TESTTOOL" wait-file "$T/dns.out" bound 10 >/dev/null || fail "the slow resolver did not start"
printf 'nameserver 127.0.0.2\noptions timeout:5 attempts:1\n' >"$T/resolv.conf"
head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
printf '[greetingd]\nworkers = 2\ntimeout = 60s\n[tcp]\nhost = 127.0.0.1\nport = %s\n[big]\npath = %s\ngreeting-file = %s\n' \
	"$port" "$T/big.sock" "$T/big.txt" >"$T/w.conf"
start_daemon "$T/w.conf"
worker=$(pgrep -P "$DAEMON_PID")
"$TESTTOOL" stall "$T/big.sock" 0 1 60 >"$T/stall.out" &
PIDS+=("$!")
"$TESTTOOL" wait-file "$T/stall.out" 'stalling 1' 10 >/dev/null || fail "stall did not start"
printf '[slow]\nhost = slow.example\nport = %s\n' $((port + 1)) >>"$T/w.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" "reloading $T/w.conf" 10 >/dev/null || fail "no reload began"
kill -KILL "$worker"
"$TESTTOOL" wait-file "$DAEMON_LOG" 'exited unexpectedly (signal 9): stopping' 10 >/dev/null || fail "the dead worker went unnoticed"
rc=0
wait "$DAEMON_PID" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc after a worker died, expected 1"
grep -q '^\[slow\] listening on' "$DAEMON_LOG" && fail "a reload was applied while stopping: $(tail -n 8 "$DAEMON_LOG")"
grep -q 'kept their old configuration' "$DAEMON_LOG" && fail "a dead worker was taken for one that refused a reload"
awk '/^STOPPING=1/ { stopping = 1 } /READY=1/ && stopping { bad = 1 } END { exit bad }' "$NOTIFY_LOG" ||
	fail "READY=1 after STOPPING=1: $(tr '\n' ' ' <"$NOTIFY_LOG")"
pass "a worker's death during a reload stops greetingd; the reload applies nothing"
