#!/bin/bash
# Under valgrind: the daemon serves every kind of client and stops on SIGTERM
# with no error and every heap block freed; so do greet and the unit tests.
. "$top_srcdir/tests/lib.sh"

[ -x "${VALGRIND:-}" ] || fail "valgrind is required (apt-get install valgrind)"
VG=("$VALGRIND" --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=all --track-fds=no)

head -c 300000 <(yes 'a large greeting, sent in many pieces') >"$T/big.txt"
printf 'Thank you for connecting\n' >"$T/want"
cat >"$T/v.conf" <<CONF
[tcp]
host = 127.0.0.1
port = 0
[big]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 1s
[udp]
type = dgram
host =
family = inet
port = 0
[unix]
path = $T/v.sock
CONF

# A reload forks a child that reads the file and exits with _exit(): its
# copy of the daemon's heap is not a leak, so only the daemon reports.
WRAPPER="$VALGRIND -v --child-silent-after-fork=yes --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --log-file=$T/valgrind.log"
READY_TIMEOUT=60 start_daemon "$T/v.conf" --log-level debug
expect_greeting "$T/want" 127.0.0.1 "$(port_of tcp)"
expect_greeting "$T/want" -u 127.0.0.1 "$(port_of udp)"
expect_greeting "$T/want" --unix "$T/v.sock"
"$TESTTOOL" flood 127.0.0.1 "$(port_of tcp)" 200 "$T/want" >/dev/null || fail "flood under valgrind"
"$TESTTOOL" slow 127.0.0.1 "$(port_of big)" "$T/big.txt" >/dev/null || fail "slow reader under valgrind"
"$TESTTOOL" write-first 127.0.0.1 "$(port_of tcp)" 10000 "$T/want" >/dev/null || fail "write-first under valgrind"
"$TESTTOOL" stall 127.0.0.1 "$(port_of big)" 3 20 >/dev/null || fail "stalled clients under valgrind"
# A reload swaps greetings and drops a listener: the old ones must be freed.
sed -i 's/^\[tcp\]$/[greetingd]\ngreeting = reloaded\\n\n[tcp]/; /^\[unix\]/,$d' "$T/v.conf"
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 30 2 >/dev/null || fail "reload under valgrind"
printf 'reloaded\n' >"$T/want2"
expect_greeting "$T/want2" 127.0.0.1 "$(port_of tcp)"
# Leave a client in flight at SIGTERM: it is finished or freed, never leaked.
"$TESTTOOL" stall 127.0.0.1 "$(port_of big)" 2 20 >"$T/stall.out" &
stall=$!
PIDS+=("$stall")
"$TESTTOOL" wait-file "$T/stall.out" 'stalling 2' 20 >/dev/null || fail "stall did not start"
stop_daemon
[ "$(grep -c 'ERROR SUMMARY' "$T/valgrind.log")" -eq 1 ] || fail "more than one process reported to $T/valgrind.log"
grep -q 'ERROR SUMMARY: 0 errors' "$T/valgrind.log" || fail "valgrind found errors: $(grep -A20 'ERROR SUMMARY' "$T/valgrind.log" | head -40)"
grep -q 'All heap blocks were freed' "$T/valgrind.log" || fail "leaks: $(grep -B2 -A12 'LEAK SUMMARY' "$T/valgrind.log")"
pass "greetingd: no errors, all heap blocks freed"

rc=0
"${VG[@]}" "$GREET" -w 5s 127.0.0.1 "$(port_of tcp)" >/dev/null 2>"$T/greet.err" || rc=$?
[ "$rc" -eq 1 ] || fail "greet under valgrind: exit $rc: $(cat "$T/greet.err")"
for t in test-config test-address test-greeting test-config-serial test-server; do
	"${VG[@]}" "$top_builddir/tests/$t" >"$T/$t.out" 2>&1 || fail "$t under valgrind: $(tail -30 "$T/$t.out")"
done
pass "greet and the unit tests: no errors, no leaks"
