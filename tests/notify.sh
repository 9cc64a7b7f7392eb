#!/bin/bash
# What systemd hears (READY=1 once live, STATUS= with counters, WATCHDOG=1,
# STOPPING=1) and what journald reads: <N> priority prefixes when stderr is
# the journal stream, plain text otherwise, per-client lines rate-limited.
. "$top_srcdir/tests/lib.sh"

printf 'Thank you for connecting\n' >"$T/want"
cat >"$T/n.conf" <<CONF
[tcp]
host = 127.0.0.1
port = 0
[ud]
type = dgram
path = $T/ud.sock
CONF
export WATCHDOG_USEC=400000
start_daemon "$T/n.conf"
unset WATCHDOG_USEC
grep -v '^WATCHDOG=1$' "$NOTIFY_LOG" >"$T/messages"
head -n 1 "$T/messages" | grep -qx 'STATUS=2 sockets for 2 listeners; accepted 0, greeted 0, failed 0, timed-out 0, bad-source 0, denied 0, limited 0, rate-limited 0, too-small 0' ||
	fail "first message: $(head -n 1 "$T/messages")"
sed -n 2p "$T/messages" | grep -qx 'READY=1' || fail "READY=1 is not second"
"$TESTTOOL" wait-file "$NOTIFY_LOG" WATCHDOG=1 5 3 >/dev/null || fail "no WATCHDOG=1 pings"
pass "STATUS=, READY=1 once live, WATCHDOG=1"

for i in 1 2 3; do expect_greeting "$T/want" 127.0.0.1 "$(port_of tcp)"; done
"$TESTTOOL" wait-file "$NOTIFY_LOG" "accepted 3, greeted 3, failed 0, timed-out 0, bad-source 0, denied 0" 15 >/dev/null || fail "STATUS= counters"
pass "STATUS= counts clients"

# A flood of per-client messages: at most 10 per 5 seconds reach the log.
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "exit status $? after SIGTERM"
grep -qx 'STOPPING=1' "$NOTIFY_LOG" || fail "no STOPPING=1"
start_daemon "$T/n.conf" --log-level debug
"$TESTTOOL" send-unbound "$T/ud.sock" 50
expect_greeting "$T/want" -u --unix "$T/ud.sock"
n=$(grep -c 'datagram from an unbound unix socket' "$DAEMON_LOG")
[ "$n" -ge 1 ] && [ "$n" -le 10 ] || fail "$n per-client lines for 50 bad datagrams"
pass "50 per-client messages, $n logged"
stop_daemon

# stderr as the journal's stream: every line carries its priority.
: >"$T/daemon$((DAEMONS + 1)).log" # the log start_daemon will write: its inode is the stream
export JOURNAL_STREAM=$(stat -c '%d:%i' "$T/daemon$((DAEMONS + 1)).log")
start_daemon "$T/n.conf"
unset JOURNAL_STREAM
stop_daemon
cp "$DAEMON_LOG" "$T/journal.log"
grep -qx '<6>ready: 2 sockets' "$T/journal.log" || fail "no <6> prefix: $(head -n 3 "$T/journal.log")"
grep -v '^<[0-7]>' "$T/journal.log" && fail "a line without a priority"
printf '[x]\nport = htpp\n' >"$T/bad.conf"
: >"$T/err.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/err.log") "$GREETINGD" -c "$T/bad.conf" 2>>"$T/err.log" && fail "bad config accepted"
grep -qx "<3>$T/bad.conf:2: port: \"htpp\" is not a number or a known tcp service" "$T/err.log" || fail "errors at <3>: $(cat "$T/err.log")"
"$GREETINGD" -c "$T/bad.conf" 2>"$T/plain.log" && fail "bad config accepted"
grep -qx "$T/bad.conf:2: port: \"htpp\" is not a number or a known tcp service" "$T/plain.log" || fail "plain text"
pass "<N> prefixes for the journal, plain text elsewhere"
