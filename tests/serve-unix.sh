#!/bin/bash
# UNIX sockets: stream, dgram, seqpacket, abstract; stale and live socket files.
. "$top_srcdir/tests/lib.sh"

abstract=greetingd-test-$$-$RANDOM
cat >"$T/u.conf" <<CONF
[greetingd]
greeting = over unix\n

[stream]
family = unix
path = $T/stream.sock

[dgram]
family = AF_UNIX
type = dgram
path = $T/dgram.sock

[seqpacket]
path = $T/seq.sock
type = seqpacket
greeting = one message\n

[abstract]
family = unix
path = @$abstract
CONF
printf 'over unix\n' >"$T/want"
printf 'one message\n' >"$T/want-seq"

start_daemon "$T/u.conf"
first=$DAEMON_PID
expect_greeting "$T/want" --unix "$T/stream.sock"
expect_greeting "$T/want" -u --unix "$T/dgram.sock"
expect_greeting "$T/want-seq" -s --unix "$T/seq.sock"
expect_greeting "$T/want" --unix "@$abstract"

# A second daemon on the same paths must refuse: the sockets are live.
NOTIFY_SOCKET= "$GREETINGD" -c "$T/u.conf" >"$T/second.log" 2>&1 && fail "a second daemon took live sockets"
grep -q "^\[stream\] $T/stream.sock is in use by a running process" "$T/second.log" || fail "no 'in use' message"
pass "live socket files are kept"
[ -S "$T/stream.sock" ] || fail "the second daemon removed a live socket"
expect_greeting "$T/want" --unix "$T/stream.sock"

# Killed without cleanup, the daemon leaves stale files: the next one replaces them.
kill -KILL "$first"
wait "$first" || true
[ -S "$T/stream.sock" ] || fail "expected a stale socket file after SIGKILL"
start_daemon "$T/u.conf" --log-level debug
grep -q "\[stream\] removed the stale socket $T/stream.sock" "$DAEMON_LOG" || fail "stale socket not reported"
expect_greeting "$T/want" --unix "$T/stream.sock"
expect_greeting "$T/want" -u --unix "$T/dgram.sock"
# A datagram from an unbound socket has no address to answer; others still are.
"$TESTTOOL" send-unbound "$T/dgram.sock"
expect_greeting "$T/want" -u --unix "$T/dgram.sock"
grep -q "\[dgram\] datagram from an unbound unix socket: no reply possible" "$DAEMON_LOG" || fail "unbound sender not logged"
stop_daemon
[ ! -e "$T/stream.sock" ] || fail "socket file left behind after a clean stop"
pass "socket files removed at stop"


# Anything but a socket at the path is never removed.
: >"$T/file.sock"
printf '[f]\npath = %s\n' "$T/file.sock" >"$T/f.conf"
"$GREETINGD" -c "$T/f.conf" >"$T/f.log" 2>&1 && fail "bound over a regular file"
grep -q "exists and is not a socket; not replacing it" "$T/f.log" || fail "no message for a regular file"
[ -f "$T/file.sock" ] || fail "a regular file was removed"
printf '[d]\npath = %s/no/such/dir.sock\n' "$T" >"$T/d.conf"
"$GREETINGD" -c "$T/d.conf" >"$T/d.log" 2>&1 && fail "bound in a missing directory"
grep -q "its directory does not exist" "$T/d.log" || fail "no message for a missing directory"
pass "bad socket paths refused"

# A unix client that never reads is dropped after the timeout, and the log
# says who it was: its pid and uid (a unix peer has no address to name).
head -c 1048576 /dev/zero | tr '\0' 'u' >"$T/big"
printf '[stall]\npath = %s\ngreeting-file = %s\ntimeout = 1s\n' "$T/stall.sock" "$T/big" >"$T/s.conf"
start_daemon "$T/s.conf"
"$TESTTOOL" stall "$T/stall.sock" 0 1 10 >"$T/stall.out" &
stall=$!
PIDS+=("$stall")
wait "$stall" || fail "stalled unix client not dropped: $(cat "$T/stall.out")"
grep -q "^\[stall\] client pid $stall uid $(id -u) stopped reading its greeting" "$DAEMON_LOG" ||
	fail "the drop does not name the client: $(grep stall "$DAEMON_LOG")"
stop_daemon
pass "a unix client that never reads is dropped, and named by pid and uid"
