#!/bin/bash
# Under valgrind: the daemon serves every kind of client and stops on SIGTERM
# with no error, every heap block freed and no fd left open; so does greet
# greeted over TCP, UDP and unix, and on its failure path; so do the unit tests.
. "$top_srcdir/tests/lib.sh"

[ -x "${VALGRIND:-}" ] || fail "valgrind is required (apt-get install valgrind)"
VG=("$VALGRIND" --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=all --track-fds=no)
# With --track-fds=yes valgrind lists at exit each fd open but 0-2 as "Open
# file descriptor N: PATH" (or "Open AF_INET socket N: ..."), followed by
# the stack that opened it, or by "<inherited from parent>".
VG_FDS=("$VALGRIND" --error-exitcode=99 --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=all --track-fds=yes)

# fds_left LOG: each fd the process left open that it did not inherit.
fds_left() {
	awk 'open && !/<inherited from parent>/ { print open }
	{ open = "" }
	/== Open .* [0-9]+:/ { fd = $0; sub(/:.*/, "", fd); sub(/.* /, "", fd); if (fd + 0 > 2) open = $0 }' "$1"
}

# valgrind_clean LOG WHAT: no error, every heap block freed, no fd left open.
valgrind_clean() {
	grep -q 'ERROR SUMMARY: 0 errors' "$1" || fail "$2: valgrind found errors: $(grep -A20 'ERROR SUMMARY' "$1" | head -40)"
	grep -q 'All heap blocks were freed' "$1" || fail "$2: leaks: $(grep -B2 -A12 'LEAK SUMMARY' "$1")"
	grep -q 'FILE DESCRIPTORS: [0-9]* open' "$1" || fail "$2: valgrind did not track fds: $(tail -n 20 "$1")"
	[ -z "$(fds_left "$1")" ] || fail "$2: fds left open at exit: $(fds_left "$1"; grep -A8 '== Open ' "$1")"
}

# greet_valgrind NAME GREET-ARGS...: greet under valgrind gets the greeting
# in $T/want, exits 0, with no error, no leak and no fd left open.
greet_valgrind() {
	local name=$1 rc=0
	shift
	"${VG_FDS[@]}" --log-file="$T/greet-$name.vg" "$GREET" -w 10s "$@" >"$T/greet-$name.out" 2>"$T/greet-$name.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "greet $* under valgrind: exit $rc: $(cat "$T/greet-$name.err"; tail -n 30 "$T/greet-$name.vg")"
	cmp -s "$T/want" "$T/greet-$name.out" || fail "greet $* under valgrind: got '$(od -c "$T/greet-$name.out" | head -n 3)'"
	valgrind_clean "$T/greet-$name.vg" "greet $*"
	pass "greet $* under valgrind: greeted, no errors, no leaks, no fds left open"
}

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
WRAPPER="$VALGRIND -v --child-silent-after-fork=yes --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --track-fds=yes --log-file=$T/valgrind.log"
READY_TIMEOUT=60 start_daemon "$T/v.conf" --log-level debug
expect_greeting "$T/want" 127.0.0.1 "$(port_of tcp)"
expect_greeting "$T/want" -u 127.0.0.1 "$(port_of udp)"
expect_greeting "$T/want" --unix "$T/v.sock"
# greet's success paths, while the daemon serves: TCP, UDP and unix.
greet_valgrind tcp 127.0.0.1 "$(port_of tcp)"
greet_valgrind udp -u 127.0.0.1 "$(port_of udp)"
greet_valgrind unix --unix "$T/v.sock"
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
valgrind_clean "$T/valgrind.log" greetingd
pass "greetingd: no errors, all heap blocks freed, no fd left open but 0-2 and inherited ones"

rc=0
"${VG_FDS[@]}" --log-file="$T/greet-refused.vg" "$GREET" -w 5s 127.0.0.1 "$(port_of tcp)" >/dev/null 2>"$T/greet.err" || rc=$?
[ "$rc" -eq 1 ] || fail "greet under valgrind: exit $rc: $(cat "$T/greet.err")"
valgrind_clean "$T/greet-refused.vg" "greet, refused"
for t in test-config test-address test-greeting test-config-serial test-server test-addrlist test-sources; do
	"${VG[@]}" "$top_builddir/tests/$t" >"$T/$t.out" 2>&1 || fail "$t under valgrind: $(tail -30 "$T/$t.out")"
done
pass "greet and the unit tests: no errors, no leaks"
