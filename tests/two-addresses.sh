#!/bin/bash
# A host name with two addresses gets one socket per address. A private
# mount namespace gives greetingd an /etc/hosts where "twohost" is both
# 127.0.0.2 and ::1; unshare execs, so the PID we stop is greetingd's.
. "$top_srcdir/tests/lib.sh"

printf '127.0.0.2 twohost\n::1 twohost\n' >"$T/hosts"
port=$((20000 + RANDOM % 20000))
cat >"$T/two.conf" <<CONF
[two]
host = twohost
port = $port
CONF

unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts" \
	"$GREETINGD" -c "$T/two.conf" --test-config >"$T/test-config.out" || fail "--test-config failed"
grep -qx "	127.0.0.2:$port" "$T/test-config.out" || fail "127.0.0.2 missing: $(cat "$T/test-config.out")"
grep -qx "	\[::1\]:$port" "$T/test-config.out" || fail "::1 missing: $(cat "$T/test-config.out")"
pass "--test-config lists both addresses"

collector=$("$TESTTOOL" notify-collect "$T/n.sock" "$T/notify.log")
PIDS+=("$collector")
DAEMON_LOG=$T/daemon.log
NOTIFY_SOCKET=$T/n.sock unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts" \
	"$GREETINGD" -c "$T/two.conf" >"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")
"$TESTTOOL" wait-file "$T/notify.log" READY=1 10 >/dev/null || fail "not ready"

printf 'Thank you for connecting\n' >"$T/want"
expect_greeting "$T/want" -4 127.0.0.2 "$port"
expect_greeting "$T/want" -6 ::1 "$port"
"$GREET" -w 2s 127.0.0.1 "$port" >/dev/null 2>&1 && fail "127.0.0.1 answered: the bind is not per address"
pass "127.0.0.1 is not bound"
stop_daemon
