#!/bin/bash
# A socket path belongs to the socket that bound it: greetingd never removes
# a socket file that another program, or another of its own sockets, uses.
. "$top_srcdir/tests/lib.sh"

printf 'testtool\n' >"$T/want-other"
printf 'from greetingd\n' >"$T/want"

# listen_other PATH TYPE: another program serves PATH. Sets OTHER_PID.
listen_other() {
	"$TESTTOOL" listen-unix "$1" "$2" >"$T/other.out" 2>&1 &
	OTHER_PID=$!
	PIDS+=("$OTHER_PID")
	"$TESTTOOL" wait-file "$T/other.out" listening 10 >/dev/null || fail "testtool listen-unix did not start"
}

# Another program's live stream socket, a dgram listener on its path: the
# probe answers EPROTOTYPE, which is "alive, other type", never "stale".
listen_other "$T/other.sock" stream
printf '[d]\ntype = dgram\npath = %s\n' "$T/other.sock" >"$T/d.conf"
rc=0
NOTIFY_SOCKET= timeout 10 "$GREETINGD" -c "$T/d.conf" >"$T/d.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc over another program's live socket: $(cat "$T/d.log")"
grep -qxF "[d] $T/other.sock is in use by a running process, with a socket of another type than dgram" "$T/d.log" ||
	fail "no 'in use' message: $(cat "$T/d.log")"
grep -q "removed the stale socket" "$T/d.log" && fail "a live socket of another type was taken for stale"
expect_greeting "$T/want-other" --unix "$T/other.sock"
pass "a live socket of another type is in use, and keeps working"
kill -TERM "$OTHER_PID"
wait "$OTHER_PID" || true

# A reload that changes a listener's type at the same path: the new socket
# cannot be bound before the old one closes. Refused, with what to do; the
# old socket keeps serving, and its file stays.
write_config() {
	printf '[greetingd]\ngreeting = from greetingd\\n\n[u]\ntype = %s\npath = %s\n' "$1" "$T/u.sock" >"$T/u.conf.new"
	mv "$T/u.conf.new" "$T/u.conf"
}
write_config stream
start_daemon "$T/u.conf"
expect_greeting "$T/want" --unix "$T/u.sock"
write_config dgram
kill -HUP "$DAEMON_PID"
"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 10 2 >/dev/null || fail "the reload did not finish"
grep -qxF "[u] stream $T/u.sock holds its path until the new sockets are bound: restart greetingd to make this change" \
	"$DAEMON_LOG" || fail "the refused reload does not say what to do: $(tail -n 5 "$DAEMON_LOG")"
grep -q "reload failed: keeping the running configuration" "$DAEMON_LOG" || fail "the reload was not refused"
[ -S "$T/u.sock" ] || fail "the socket file is gone after the reload"
expect_greeting "$T/want" --unix "$T/u.sock"
pass "a reload to another type on the same path is refused; the old socket serves on"

# The path replaced behind greetingd's back: another program removed the file
# and bound its own socket there. Stopping greetingd must leave it alone.
rm "$T/u.sock"
listen_other "$T/u.sock" stream
stop_daemon
[ -S "$T/u.sock" ] || fail "greetingd removed another program's socket file at stop"
expect_greeting "$T/want-other" --unix "$T/u.sock"
pass "a socket file another program bound after ours is not removed at stop"
kill -TERM "$OTHER_PID"
wait "$OTHER_PID" || true

# Its own file, untouched, is removed at stop, as before.
rm -f "$T/u.sock"
write_config stream
start_daemon "$T/u.conf"
stop_daemon
[ ! -e "$T/u.sock" ] || fail "greetingd left its own socket file behind"
pass "greetingd's own socket file is removed at stop"
