#!/bin/bash
# End to end under a real systemd: Debian 12's systemd as PID 1 in a
# systemd-nspawn container, greetingd installed with make install DESTDIR=,
# greetingd.socket enabled offline; tests/e2e-guest.sh checks inside.
# The debootstrap root is cached in /var/tmp/greetingd-e2e and used
# read-only (--volatile=overlay): nothing a run does outlives it.
. "$top_srcdir/tests/lib.sh"

[ "$(id -u)" -eq 0 ] || fail "needs root (systemd-nspawn)"
for tool in debootstrap systemd-nspawn unshare; do
	command -v "$tool" >/dev/null || fail "$tool is required (packages debootstrap, systemd-container)"
done
cache=${GREETINGD_E2E_CACHE:-/var/tmp/greetingd-e2e}
rootfs=$cache/rootfs-bookworm
if [ ! -x "$rootfs/lib/systemd/systemd" ]; then
	echo "building the container root in $rootfs (cached for later runs)"
	rm -rf "$rootfs.new"
	mkdir -p "$cache"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,libinih1,libsystemd0,procps \
		bookworm "$rootfs.new" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$T/debootstrap.log" 2>&1 ||
		fail "debootstrap failed: $(tail -n 5 "$T/debootstrap.log")"
	mv "$rootfs.new" "$rootfs"
fi

# greetingd as an administrator installs it, into a tree of its own.
mkdir -p "$T/build" "$T/dest"
(cd "$T/build" && "$top_srcdir/configure" -q --prefix=/usr/local --sysconfdir=/etc \
	--with-systemdsystemunitdir=/usr/local/lib/systemd/system && make -s -j"$(nproc)" greetingd greet &&
	make -s install DESTDIR="$T/dest") >"$T/build.log" 2>&1 || fail "build: $(tail -n 20 "$T/build.log")"
# Two more sockets for the same service, and listeners for them.
units=$T/dest/usr/local/lib/systemd/system
printf '[Socket]\nListenDatagram=127.0.0.1:12347\nFileDescriptorName=udp\nService=greetingd.service\n' >"$units/greetingd-udp.socket"
printf '[Socket]\nListenStream=/run/greetingd-e2e.sock\nFileDescriptorName=local\nService=greetingd.service\n' >"$units/greetingd-local.socket"
printf '\n[udp]\ntype = dgram\nhost = 127.0.0.1\nport = 12347\n\n[local]\npath = /run/greetingd-e2e.sock\n' \
	>>"$T/dest/etc/greetingd/greetingd.conf"
# The test itself, as a unit that runs once the system is up.
mkdir -p "$T/dest/etc/systemd/system" "$T/guest" "$T/out"
cp "$top_srcdir/tests/e2e-guest.sh" "$T/guest/run.sh"
printf '[Unit]\nAfter=multi-user.target sockets.target\n[Service]\nType=oneshot\nExecStart=/bin/sh /e2e/run.sh\n[Install]\nWantedBy=multi-user.target\n' \
	>"$T/dest/etc/systemd/system/e2e.service"
for unit in greetingd.socket greetingd-udp.socket greetingd-local.socket greetingd-inetd.socket; do
	[ "$unit" = greetingd-udp.socket ] || [ "$unit" = greetingd-local.socket ] ||
		grep -q '^WantedBy=sockets.target' "$units/$unit" || fail "$unit has no [Install]"
done
mkdir -p "$T/dest/etc/systemd/system/sockets.target.wants"
for unit in greetingd-udp.socket greetingd-local.socket; do
	ln -s "/usr/local/lib/systemd/system/$unit" "$T/dest/etc/systemd/system/sockets.target.wants/$unit"
done
systemctl --root="$T/dest" enable greetingd.socket greetingd-inetd.socket e2e.service >"$T/enable.log" 2>&1 ||
	fail "offline enable: $(cat "$T/enable.log")"

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
			--bind-ro="$1/usr/local:/usr/local" --bind="$1/etc/greetingd:/etc/greetingd" \
			--bind-ro="$1/etc/systemd/system:/etc/systemd/system" \
			--bind-ro="$2:/e2e" --bind="$3:/e2e-out" -b' "$rootfs" "$T/dest" "$T/guest" "$T/out"
}
timeout 300 bash -c "$(declare -f boot); cg=$cg rootfs=$rootfs T=$T boot" >"$T/console.log" 2>&1 &
PIDS+=("$!")
wait "$!" || true
for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
	[ -d "$h/$cg" ] && rmdir "$h/$cg" 2>/dev/null || true
done
[ -f "$T/out/result" ] || fail "the guest wrote no result: $(tail -n 30 "$T/console.log")"
cat "$T/out/result"
grep -q '^FAIL' "$T/out/result" && fail "checks failed in the guest: $(tail -n 40 "$T/out/commands.log" 2>/dev/null)"
grep -qx done "$T/out/result" || fail "the guest did not finish: $(tail -n 30 "$T/console.log")"
[ "$(grep -c '^ok' "$T/out/result")" -eq 25 ] || fail "expected 25 checks"
pass "greetingd under systemd: activation, reload, stop, Accept=yes, journal, dynamic user"
