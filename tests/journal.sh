#!/bin/bash
# Under the journal (JOURNAL_STREAM names stderr), each entry goes to
# journald's native socket as fields: the text, its priority, the listener
# and client it is about, and a MESSAGE_ID= for each kind of event. Without
# the socket, the stream takes the lines; on a pipe or a file that is not
# the journal, they are plain text as ever. The script re-runs itself in
# mount and network namespaces of its own: a tmpfs on /run, where testtool
# plays journald's socket, and fixed ports on a loopback nobody else uses.
# unshare execs, so the PIDs the test stops are the real ones.
if [ -z "${GREETINGD_UNSHARED:-}" ]; then
	GREETINGD_UNSHARED=1 exec unshare --net --mount "$BASH" "$0" "$@"
fi
. "$top_srcdir/tests/lib.sh"

ip link set lo up
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal
SOCKET=/run/systemd/journal/socket
J=$T/journal.entries

# journald: one line per datagram in $J, its fields separated by '|'.
start_journal() {
	local pid
	pid=$("$TESTTOOL" notify-collect "$SOCKET" "$J") || fail "cannot play journald"
	PIDS+=("$pid")
	JOURNAL_PID=$pid
}

# stop_journal: entries it has not read yet go with it.
stop_journal() {
	kill "$JOURNAL_PID"
	wait "$JOURNAL_PID" 2>/dev/null || true
	rm -f "$SOCKET"
}

# entry TEXT: waits for an entry holding TEXT, prints it.
entry() {
	"$TESTTOOL" wait-file "$J" "$1" 10 || fail "no journal entry with '$1': $(tail -n 5 "$J" 2>/dev/null)"
}

# field ENTRY KEY: the value of KEY in ENTRY.
field() {
	printf '|%s' "$1" | sed -n "s/.*|$2=\([^|]*\)|.*/\1/p"
}

# expect ENTRY KEY VALUE
expect() {
	[ "$(field "$1" "$2")" = "$3" ] || fail "$2 is '$(field "$1" "$2")', not '$3', in: $1"
}

cat >"$T/j.conf" <<CONF
[seed]
host = 127.0.0.1
port = 12345
deny = 127.0.0.2

[other]
host = 127.0.0.1
port = 12346
greeting-file = $T/big.txt
timeout = 200ms
CONF
head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
printf 'Thank you for connecting\n' >"$T/want"

start_journal
log=$T/daemon$((DAEMONS + 1)).log
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") start_daemon "$T/j.conf"

e=$(entry 'MESSAGE=ready: ')
expect "$e" PRIORITY 6
expect "$e" SYSLOG_IDENTIFIER greetingd
expect "$e" MESSAGE_ID 28f0003744b642b1aed169ec086e82b5
[ -z "$(field "$e" LISTENER)" ] || fail "a line about no listener has LISTENER=: $e"
e=$(entry 'MESSAGE=[seed] listening on stream 127.0.0.1:12345|')
expect "$e" LISTENER seed
e=$(entry 'MESSAGE=[other] listening on stream 127.0.0.1:12346|')
expect "$e" LISTENER other
pass "entries carry their priority, identifier, MESSAGE_ID= and LISTENER="

# What journalctl LISTENER=seed shows: the seed listener's lines, no other's.
# refused CLIENT-ADDRESS: a client of seed from there, closed with no greeting.
refused() {
	"$GREET" -w 5s --source "$1" 127.0.0.1 12345 >"$T/got" 2>/dev/null || fail "greet from $1 failed"
	[ ! -s "$T/got" ] || fail "a denied client was greeted"
}

refused 127.0.0.2
e=$(entry 'MESSAGE=[seed] client 127.0.0.2:')
expect "$e" LISTENER seed
expect "$e" REMOTE_ADDR 127.0.0.2
expect "$e" MESSAGE_ID 2183fa8f35d4470c93c4450e2b7aa8fd
expect "$e" PRIORITY 6
port=$(field "$e" MESSAGE | sed -n 's/^\[seed\] client 127\.0\.0\.2:\([0-9]*\) denied$/\1/p')
[ -n "$port" ] || fail "unexpected text: $e"
expect "$e" REMOTE_PORT "$port"
grep '|LISTENER=seed|' "$J" | grep -v '|MESSAGE=\[seed\] ' && fail "LISTENER=seed on another listener's line"
grep '|MESSAGE=\[seed\] ' "$J" | grep -v '|LISTENER=seed|' && fail "a seed line without LISTENER=seed"
pass "a refused client's entry names its listener, address and port"

"$TESTTOOL" stall 127.0.0.1 12346 1 10 >"$T/stall.out" || fail "the stalled client was not dropped"
e=$(entry 'stopped reading its greeting')
expect "$e" LISTENER other
expect "$e" REMOTE_ADDR 127.0.0.1
expect "$e" MESSAGE_ID 7e46196fcb764c38a23ddb46a35f9c5f
pass "a dropped client's entry has its own MESSAGE_ID="

kill -HUP "$DAEMON_PID"
e=$(entry 'MESSAGE=reloaded: ')
expect "$e" MESSAGE_ID 0d2f9dfac2b5442baa2b1c1d88a16979
echo 'bogus = 1' >>"$T/j.conf"
kill -HUP "$DAEMON_PID"
e=$(entry 'MESSAGE=reload failed: keeping the running configuration')
expect "$e" MESSAGE_ID be6d1fd7707043b6914b986d01aa51eb
expect "$e" PRIORITY 3
sed -i '/^bogus = 1$/d' "$T/j.conf"
pass "a reload, and a refused one, have their MESSAGE_ID="

[ -s "$DAEMON_LOG" ] && fail "lines went to the stream as well: $(head -n 3 "$DAEMON_LOG")"
pass "with the journal's socket there, nothing goes to the stream"

# journald gone (restarting): the stream takes the lines, with <N>; back,
# it has them again.
stop_journal
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" '<6>[seed] accepted 1, ' 10 >/dev/null || fail "no fallback to the stream: $(cat "$DAEMON_LOG")"
start_journal
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$J" 'MESSAGE=[seed] accepted 1, ' 10 >/dev/null || fail "the journal was not found again"
stop_daemon
pass "without the journal's socket, the stream has the lines; with it back, the journal"

# Workers log through the socket too, each one its own entries.
sed 's/^\[seed\]$/[greetingd]\nworkers = 2\n\n[seed]/' "$T/j.conf" >"$T/w.conf"
log=$T/daemon$((DAEMONS + 1)).log
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") start_daemon "$T/w.conf"
kill -USR1 "$DAEMON_PID"
e=$(entry 'MESSAGE=worker 2: [seed] accepted 0, ')
expect "$e" LISTENER seed
expect "$e" PRIORITY 6
stop_daemon
[ -s "$DAEMON_LOG" ] && fail "a worker's lines went to the stream: $(head -n 3 "$DAEMON_LOG")"
pass "a worker's lines reach the journal's socket"

# Not the journal (no JOURNAL_STREAM; or one naming another file): plain
# text, and nothing for the socket, though it is there.
stop_journal
J=$T/journal2.entries
start_journal
start_daemon "$T/j.conf"
expect_greeting "$T/want" 127.0.0.1 12345
refused 127.0.0.2
"$TESTTOOL" wait-file "$DAEMON_LOG" '[seed] client 127.0.0.2:' 10 >/dev/null || fail "no refusal line"
grep -qx 'ready: 2 sockets' "$DAEMON_LOG" || fail "not plain text: $(head -n 3 "$DAEMON_LOG")"
grep -qx '\[seed\] listening on stream 127\.0\.0\.1:12345' "$DAEMON_LOG" || fail "not plain text: $(cat "$DAEMON_LOG")"
grep -qx '\[seed\] client 127\.0\.0\.2:[0-9]* denied' "$DAEMON_LOG" || fail "not plain text: $(cat "$DAEMON_LOG")"
stop_daemon
JOURNAL_STREAM=1:1 start_daemon "$T/j.conf"
stop_daemon
grep -q '^<' "$DAEMON_LOG" && fail "a <N> prefix on a file that is not the journal"
[ -s "$J" ] && fail "entries for the journal when stderr is not the journal: $(head -n 3 "$J")"
pass "elsewhere, plain text, and nothing for the journal"

# Access lines (log-clients) in the journal: their own MESSAGE_ID=, and the
# client's fields.
sed 's/^deny = 127.0.0.2$/deny = 127.0.0.2\nlog-clients = yes/' "$T/j.conf" >"$T/a.conf"
stop_journal
J=$T/journal3.entries
start_journal
log=$T/daemon$((DAEMONS + 1)).log
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") start_daemon "$T/a.conf"
expect_greeting "$T/want" --source 127.0.0.3 127.0.0.1 12345
e=$(entry 'MESSAGE=[seed] client 127.0.0.3 port ')
expect "$e" MESSAGE_ID edd1ac134e2e4984adacc787a333556b
expect "$e" LISTENER seed
expect "$e" REMOTE_ADDR 127.0.0.3
expect "$e" PRIORITY 6
port=$(field "$e" MESSAGE | sed -n 's/^\[seed\] client 127\.0\.0\.3 port \([0-9]*\): greeted, 25 bytes in 0 ms$/\1/p')
[ -n "$port" ] || fail "unexpected access line: $e"
expect "$e" REMOTE_PORT "$port"
pass "an access line's entry: its MESSAGE_ID=, listener, address and port"

# journald stops reading: serving goes on at full speed, the entries that
# would wait are dropped and counted, and the count comes once it reads.
kill -STOP "$JOURNAL_PID"
# (On failure, journald reads again first: a daemon stuck writing to it
# would never see its SIGTERM.)
timeout 20 "$TESTTOOL" flood 127.0.0.1 12345 500 "$T/want" >"$T/flood.out" ||
	{ kill -CONT "$JOURNAL_PID"; fail "clients were not greeted while the journal did not read"; }
kill -CONT "$JOURNAL_PID"
# The notice goes with the next line; while the queue the journal is still
# emptying stays full, that one is dropped too: ask again until it comes.
for i in $(seq 20); do
	kill -USR1 "$DAEMON_PID"
	"$TESTTOOL" wait-file "$J" 'log lines dropped: the journal was not being read' 1 >/dev/null 2>&1 && break
done
e=$(entry 'log lines dropped: the journal was not being read')
expect "$e" PRIORITY 4
n=$(field "$e" MESSAGE | sed -n 's/^\([0-9]*\) log lines dropped: .*/\1/p')
[ "${n:-0}" -gt 0 ] || fail "no count of the dropped entries: $e"
entry 'MESSAGE=[seed] accepted 501, greeted 501, ' >/dev/null
stop_daemon
pass "a journal that does not read costs entries ($n dropped), never serving"

# A process that lives for one client (Accept=yes) writes to the stream
# alone: journald finds the unit of a native entry by looking its sender
# up, which fails once the sender has exited.
[ -x "${SOCKET_ACTIVATE:-}" ] || fail "systemd-socket-activate is required (package systemd)"
stop_journal
J=$T/journal4.entries
start_journal
log=$T/accept.log
: >"$log"
printf '[greetingd]\nlog-clients = yes\n[other]\nhost = 127.0.0.1\nport = 12348\n' >"$T/accept.conf"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") "$SOCKET_ACTIVATE" -l 127.0.0.1:12347 --accept \
	-E JOURNAL_STREAM "$GREETINGD" -c "$T/accept.conf" 2>>"$log" &
PIDS+=("$!")
"$TESTTOOL" wait-file "$log" "Listening on" 10 >/dev/null || fail "systemd-socket-activate did not start"
expect_greeting "$T/want" 127.0.0.1 12347
"$TESTTOOL" wait-file "$log" "<6>[connection] client 127.0.0.1 port " 10 >/dev/null ||
	fail "the Accept=yes instance's access line is not on the stream: $(cat "$log")"
[ -s "$J" ] && fail "an Accept=yes instance sent native entries: $(head -n 3 "$J")"
pass "an Accept=yes instance writes to the stream, with priorities"
