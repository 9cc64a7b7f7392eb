#!/bin/bash
# Log lines: a peer's bytes reach the log escaped, so that no peer can forge
# a line or a journal priority; the rate limit's "suppressed" summary comes
# when its window ends, without waiting for another line. The script re-runs
# itself in a mount namespace with an empty /run: the lines it checks under
# JOURNAL_STREAM go to the stream only when no journald's socket takes them
# (tests/journal.sh has the socket). unshare execs: the PIDs are the real ones.
if [ -z "${GREETINGD_UNSHARED:-}" ]; then
	GREETINGD_UNSHARED=1 exec unshare --mount "$BASH" "$0" "$@"
fi
. "$top_srcdir/tests/lib.sh"
mount -t tmpfs tmpfs /run

cat >"$T/l.conf" <<CONF
[d]
type = dgram
path = $T/d.sock
CONF
printf 'Thank you for connecting\n' >"$T/want"

# forge_check LOG: a client bound to an abstract name holding a newline and
# "<2>" gets its reply refused; the line about it must stay one line.
forge_check() {
	local name=$'@\n<2>forged-'$$
	"$TESTTOOL" send-from "$name" "$T/d.sock" || fail "send-from failed"
	"$TESTTOOL" wait-file "$DAEMON_LOG" "cannot reply to" 10 >/dev/null || fail "no line about the refused reply"
	grep -qE '^(<[0-9]>)?forged' "$DAEMON_LOG" && fail "a peer forged a log line: $(grep -n forged "$DAEMON_LOG")"
	grep -qF '[d] cannot reply to @\x0a<2>forged-'$$ "$DAEMON_LOG" || fail "no escaped name: $(grep -n forged "$DAEMON_LOG")"
	expect_greeting "$T/want" -u --unix "$T/d.sock"
}

start_daemon "$T/l.conf"
forge_check
stop_daemon
pass "a unix peer's name is escaped in the log"

# Under the journal (JOURNAL_STREAM names stderr), lines carry <N>: a peer
# must not choose one.
log=$T/daemon$((DAEMONS + 1)).log
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") start_daemon "$T/l.conf"
[ "$DAEMON_LOG" = "$log" ] || fail "start_daemon logs elsewhere than $log"
grep -q '^<6>ready:' "$DAEMON_LOG" || fail "no <N> prefixes under JOURNAL_STREAM: $(head -n 3 "$DAEMON_LOG")"
forge_check
grep -q '^<6>\[d\] cannot reply to @' "$DAEMON_LOG" || fail "the line has no priority of ours"
stop_daemon
pass "under the journal, a peer chooses no priority"

# Defence in depth: whatever reaches a line raw (here a value from the file,
# holding an escape sequence and a carriage return) has its control bytes
# escaped by the log itself.
printf '[a]\nfamily = in\033[2Jet\rx\n' >"$T/esc.conf"
"$GREETINGD" -c "$T/esc.conf" --test-config 2>"$T/esc.err" && fail "a bad family was accepted"
grep -qF 'family: "in\x1b[2Jet\x0dx" is not one of' "$T/esc.err" || fail "control bytes not escaped: $(od -c "$T/esc.err" | head -n 4)"
LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/esc.err" && fail "a control byte reached the log"
pass "control bytes in a log line are escaped"

# More than 10 per-client lines in 5 s, then silence: the summary comes
# when the window ends, without another line to carry it.
start_daemon "$T/l.conf" --log-level debug
"$TESTTOOL" send-unbound "$T/d.sock" 30
"$TESTTOOL" wait-file "$DAEMON_LOG" "no reply possible" 10 10 >/dev/null || fail "fewer than 10 lines shown"
"$TESTTOOL" wait-file "$DAEMON_LOG" "20 client messages suppressed" 8 >/dev/null ||
	fail "no summary of the suppressed lines within 8 s"
[ "$(grep -c 'no reply possible' "$DAEMON_LOG")" -eq 10 ] || fail "not exactly 10 lines shown"
stop_daemon
pass "the suppressed lines are counted when the window ends"
