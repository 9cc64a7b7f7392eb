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

# build_deb: the Debian package of the tree make dist ships, built once per
# content and build tree: tests/deb.sh and tests/e2e.sh share it, one
# building while the other waits on the lock. Sets DEB_DIR (the source and
# binary packages, build.log) and DEB (the .deb).
build_deb() {
	local tool src key lock
	for tool in dpkg-buildpackage dh lintian flock; do
		command -v "$tool" >/dev/null || fail "$tool is required (packages dpkg-dev, debhelper, lintian, util-linux)"
	done
	: "${VERSION:?run through make check}"
	src=$T/deb-src/greetingd-$VERSION
	mkdir -p "$T/deb-src"
	# A make of its own: this one's jobserver is not ours.
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" distdir distdir="$src" >"$T/distdir.log" 2>&1 ||
		fail "make distdir: $(tail -n 20 "$T/distdir.log")"
	chmod -R u+w "$src"
	key=$(cd "$src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
	DEB_DIR=$top_builddir/tests/deb-$key
	exec {lock}>"$top_builddir/tests/deb.lock"
	flock "$lock"
	if [ ! -f "$DEB_DIR/done" ]; then
		rm -rf "$top_builddir"/tests/deb-*/
		mkdir -p "$DEB_DIR"
		mv "$src" "$DEB_DIR/"
		# The environment of make check is not the package's.
		(cd "$DEB_DIR/greetingd-$VERSION" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T" LANG=C.UTF-8 \
			DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc) >"$DEB_DIR/build.log" 2>&1 ||
			fail "dpkg-buildpackage: $(tail -n 30 "$DEB_DIR/build.log")"
		touch "$DEB_DIR/done"
	fi
	exec {lock}>&-
	DEB=$(ls "$DEB_DIR"/greetingd_"$VERSION"_*.deb) || fail "no greetingd_${VERSION}_*.deb in $DEB_DIR"
}
