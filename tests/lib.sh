# Shared by the shell tests: a scratch directory, the daemon started and
# stopped by PID, readiness through NOTIFY_SOCKET (never a sleep).
set -euo pipefail

: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
GREETINGD=$top_builddir/greetingd
GREET=$top_builddir/greet
TESTTOOL=$top_builddir/tests/testtool
T=$(mktemp -d /tmp/greetingd-test.XXXXXX)
PIDS=()
DAEMONS=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
	done
	exit 1
}

pass() {
	echo "ok: $*"
}

# start_daemon CONFIG [ARGS...]: starts greetingd ($WRAPPER, if set, runs
# it), waits for READY=1. Sets DAEMON_PID and DAEMON_LOG.
start_daemon() {
	local conf=$1 collector
	shift
	DAEMONS=$((DAEMONS + 1))
	DAEMON_LOG=$T/daemon$DAEMONS.log
	NOTIFY_LOG=$T/notify$DAEMONS.log
	collector=$("$TESTTOOL" notify-collect "$T/notify$DAEMONS.sock" "$NOTIFY_LOG")
	PIDS+=("$collector")
	NOTIFY_SOCKET=$T/notify$DAEMONS.sock ${WRAPPER:-} "$GREETINGD" -c "$conf" "$@" >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	"$TESTTOOL" wait-file "$NOTIFY_LOG" READY=1 "${READY_TIMEOUT:-10}" >/dev/null || fail "greetingd did not become ready"
}

# stop_daemon: SIGTERM, and the exit status must be 0.
stop_daemon() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || fail "greetingd exited with $? after SIGTERM"
}

# port_of NAME: the port listener NAME is on, from the daemon's log.
port_of() {
	sed -n "s/^\[$1\] listening on [a-z]* .*:\([0-9]*\)\$/\1/p" "$DAEMON_LOG" | head -n 1
}

# expect_greeting FILE GREET-ARGS...: greet's output must be FILE's bytes.
expect_greeting() {
	local want=$1
	shift
	"$GREET" -w 5s "$@" >"$T/got" 2>"$T/greet.err" || fail "greet $* failed: $(cat "$T/greet.err")"
	cmp -s "$want" "$T/got" || fail "greet $*: got '$(head -c 100 "$T/got" | od -c | head -n 3)'"
	pass "greet $*"
}
