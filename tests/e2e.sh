#!/bin/bash
# End to end under a real systemd: Debian 12's systemd as PID 1 in a
# systemd-nspawn container, where tests/e2e-guest.sh installs the package
# built from this tree with apt and runs its checks, debian/tests/installed
# (the autopkgtest) among them. The debootstrap root is cached in
# /var/tmp/greetingd-e2e and used read-only (--volatile=overlay): nothing a
# run does outlives it.
. "$top_srcdir/tests/lib.sh"

[ "$(id -u)" -eq 0 ] || fail "needs root (systemd-nspawn)"
for tool in debootstrap systemd-nspawn unshare; do
	command -v "$tool" >/dev/null || fail "$tool is required (packages debootstrap, systemd-container)"
done
# What apt needs to install the package offline: its dependencies. The
# list names the cached root, so a change builds a new one.
include=systemd,systemd-sysv,libinih1,libsystemd0,netbase,procps
cache=${GREETINGD_E2E_CACHE:-/var/tmp/greetingd-e2e}
rootfs=$cache/rootfs-bookworm-$(echo "$include" | cksum | cut -d' ' -f1)
if [ ! -x "$rootfs/lib/systemd/systemd" ]; then
	echo "building the container root in $rootfs (cached for later runs)"
	rm -rf "$rootfs.new"
	mkdir -p "$cache"
	debootstrap --variant=minbase --include="$include" \
		bookworm "$rootfs.new" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$T/debootstrap.log" 2>&1 ||
		fail "debootstrap failed: $(tail -n 5 "$T/debootstrap.log")"
	mv "$rootfs.new" "$rootfs"
fi

build_deb
mkdir -p "$T/guest" "$T/out"
cp "$DEB" "$top_srcdir/debian/tests/installed" "$top_srcdir/debian/tests/lib.sh" "$T/guest/"
cp "$top_srcdir/tests/e2e-guest.sh" "$T/guest/run.sh"
# The test itself, as a unit that runs once the system is up (systemd.wants=
# on PID 1's command line: the container's /etc stays the package's).
printf '[Unit]\nAfter=multi-user.target sockets.target\n[Service]\nType=oneshot\nExecStart=/bin/sh /e2e/run.sh\n' >"$T/e2e.service"

# nspawn wants a cgroup of its own (the shell may sit in the root cgroup),
# and /run/systemd as a tmpfs of its own; there is no bus to register with.
cg=greetingd-e2e-$$
boot() {
	local h
	for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
		if [ -f "$h/cgroup.procs" ] && [ ! -d "$h/unified" ] && mkdir -p "$h/$cg" 2>/dev/null; then
			echo "$BASHPID" >"$h/$cg/cgroup.procs"
		fi
	done
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec unshare --mount sh -c '
		mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd &&
		exec systemd-nspawn --quiet --register=no --keep-unit --volatile=overlay -D "$0" \
			--bind-ro="$1/guest:/e2e" --bind="$1/out:/e2e-out" \
			--bind-ro="$1/e2e.service:/etc/systemd/system/e2e.service" \
			-b systemd.wants=e2e.service' "$rootfs" "$T"
}
timeout 300 bash -c "$(declare -f boot); cg=$cg rootfs=$rootfs T=$T boot" >"$T/console.log" 2>&1 &
PIDS+=("$!")
wait "$!" || true
for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
	[ -d "$h/$cg" ] && rmdir "$h/$cg" 2>/dev/null || true
done
[ -f "$T/out/result" ] || fail "the guest wrote no result: $(tail -n 30 "$T/console.log")"
cat "$T/out/result"
grep -q '^FAIL' "$T/out/result" && fail "checks failed in the guest: $(tail -n 60 "$T/out/commands.log" 2>/dev/null)"
grep -qx done "$T/out/result" || fail "the guest did not finish: $(tail -n 30 "$T/console.log")"
want=$(($(grep -c '^check ' "$top_srcdir/debian/tests/installed") + $(grep -c '^check ' "$top_srcdir/tests/e2e-guest.sh")))
[ "$(grep -c '^ok' "$T/out/result")" -eq "$want" ] || fail "expected $want checks"
pass "the package under systemd: install, activation, reload, reinstall, remove, purge, Accept=yes, journal, dynamic user"
