#!/bin/bash
# greet against servers that misbehave and outputs that fail: -w bounds the
# whole exchange, output is written as it arrives, a write error is an
# error, and a closed stdout is refused before the socket can take fd 1.
. "$top_srcdir/tests/lib.sh"

# trickle NAME COUNT: a server sending a byte every 0.3 s (COUNT, 0: forever).
trickle() {
	"$TESTTOOL" trickle "$T/$1.sock" "$2" >"$T/$1.out" &
	PIDS+=("$!")
	"$TESTTOOL" wait-file "$T/$1.out" listening 10 >/dev/null || fail "trickle $1 did not start"
}

ms() {
	echo $(($(date +%s%N) / 1000000))
}

# run_greet ARGS...: greet with a hard stop at 10 s; sets rc and elapsed (ms).
run_greet() {
	local start
	start=$(ms)
	rc=0
	timeout 10 "$GREET" "$@" 2>"$T/err" || rc=$?
	elapsed=$(($(ms) - start))
}

# 1. A server that never stops trickling: -w 1s ends the exchange after
# 1 s in all, and what arrived until then was printed.
trickle forever 0
run_greet -w 1s --unix "$T/forever.sock" >"$T/got"
[ "$rc" -ne 124 ] || fail "greet -w 1s still running after 10 s"
[ "$rc" -eq 1 ] || fail "greet -w 1s exited $rc, expected 1: $(cat "$T/err")"
[ "$elapsed" -lt 2000 ] || fail "greet -w 1s took ${elapsed} ms"
grep -qxF "greet: $T/forever.sock: no end of greeting within the timeout" "$T/err" || fail "message: $(cat "$T/err")"
grep -q '^xx*$' "$T/got" || fail "the bytes that arrived were not printed: '$(cat "$T/got")'"
pass "-w bounds the whole exchange (${elapsed} ms), bytes printed as they came"

# 2. stdout that cannot be written: an error at once, not a success, and
# not a wait for the end of the greeting.
run_greet -w 5s --unix "$T/forever.sock" >/dev/full
[ "$rc" -eq 1 ] || fail "greet >/dev/full exited $rc, expected 1: $(cat "$T/err")"
[ "$elapsed" -lt 3000 ] || fail "greet >/dev/full took ${elapsed} ms to notice"
grep -qxF "greet: cannot write the greeting: No space left on device" "$T/err" || fail "message: $(cat "$T/err")"
pass "a write error is an error (${elapsed} ms)"

# 3. stdout closed: refused before connecting, so nothing goes back to the
# server. The server serves clients in turn: after a normal client, it has
# reported on every earlier one.
trickle once 1
run_greet -w 5s --unix "$T/once.sock" >&-
[ "$rc" -eq 1 ] || fail "greet >&- exited $rc, expected 1: $(cat "$T/err")"
grep -qxF "greet: standard output is closed: nowhere to print the greeting" "$T/err" || fail "message: $(cat "$T/err")"
printf x >"$T/want-x"
expect_greeting "$T/want-x" --unix "$T/once.sock"
"$TESTTOOL" wait-file "$T/once.out" "client done" 10 >/dev/null || fail "the trickle server saw no client"
grep -v '^client done: received 0 bytes$' "$T/once.out" | grep -q 'client done' &&
	fail "the server received bytes from greet: $(cat "$T/once.out")"
pass "greet >&- refuses to run; the server receives nothing"

# Closed stdin and stderr are harmless: greet opens /dev/null on them.
"$GREET" -w 5s --unix "$T/once.sock" <&- 2>&- >"$T/got" || fail "greet with fds 0 and 2 closed failed"
cmp -s "$T/want-x" "$T/got" || fail "greet with fds 0 and 2 closed printed '$(cat "$T/got")'"
pass "greet with stdin and stderr closed"
