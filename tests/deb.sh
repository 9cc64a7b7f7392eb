#!/bin/bash
# The Debian package: it builds from the tree make dist ships (the unit tests
# run in the build), lintian finds no error and no warning in the source or
# the binary package, and the .deb holds what an administrator expects.
# tests/e2e.sh installs it under systemd.
. "$top_srcdir/tests/lib.sh"

build_deb
pass "dpkg-buildpackage: $(basename "$DEB")"
grep -q '^PASS: tests/test-config$' "$DEB_DIR/build.log" || fail "the build ran no unit test: $(grep -E '^(PASS|FAIL|SKIP|ERROR)' "$DEB_DIR/build.log")"
! grep -q '^PASS: tests/.*\.sh$' "$DEB_DIR/build.log" || fail "the build ran shell tests, which need root"
pass "the build runs the unit tests"

[ "$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)" = "$VERSION" ] ||
	fail "debian/changelog's version is not configure.ac's $VERSION"
pass "debian/changelog: $VERSION"

lintian --fail-on error,warning "$DEB_DIR"/greetingd_"$VERSION"_*.changes >"$T/lintian.log" 2>&1 ||
	fail "lintian: $(cat "$T/lintian.log")"
! grep -q '^[EW]: ' "$T/lintian.log" || fail "lintian: $(cat "$T/lintian.log")"
pass "lintian: no error, no warning (source and binary)"

# What the package holds.
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T/files"
for f in /usr/sbin/greetingd /usr/bin/greet /etc/greetingd/greetingd.conf \
	/lib/systemd/system/greetingd.service /lib/systemd/system/greetingd.socket \
	/lib/systemd/system/greetingd-inetd.socket /lib/systemd/system/greetingd-inetd@.service \
	/usr/share/man/man8/greetingd.8.gz /usr/share/man/man5/greetingd.conf.5.gz /usr/share/man/man1/greet.1.gz \
	/usr/share/doc/greetingd/README.Debian /usr/share/doc/greetingd/copyright; do
	grep -qx "$f" "$T/files" || fail "the package has no $f"
done
for f in $EXAMPLES; do
	grep -qx "/usr/share/doc/greetingd/examples/${f#conf/examples/}" "$T/files" || fail "the package has no example ${f#conf/examples/}"
done
! grep -q '^/etc/init.d/' "$T/files" || fail "the package has an init script"
pass "the package holds the programs, manuals, units, configuration and examples"
dpkg-deb -f "$DEB" Depends | grep -qw netbase || fail "the package does not depend on netbase: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb -I "$DEB" conffiles >"$T/conffiles" || fail "the package has no conffiles"
grep -qx /etc/greetingd/greetingd.conf "$T/conffiles" || fail "greetingd.conf is not a conffile: $(cat "$T/conffiles")"
pass "greetingd.conf is a conffile; netbase a dependency"

# The maintainer scripts: only greetingd.socket is enabled, and the service
# is stopped with it before an upgrade restarts it and on remove.
mkdir "$T/control"
dpkg-deb -e "$DEB" "$T/control"
# debhelper's snippet that enables on a first install, for the socket alone.
[ "$(grep -c 'was-enabled defaults to true' "$T/control/postinst")" -eq 1 ] &&
	grep -q "deb-systemd-helper enable 'greetingd.socket'" "$T/control/postinst" || fail "postinst does not enable greetingd.socket alone"
for unit in greetingd.service greetingd-inetd.socket; do
	grep -q "deb-systemd-helper debian-installed '$unit'" "$T/control/postinst" || fail "postinst may enable $unit"
done
grep -q "deb-systemd-invoke stop greetingd.socket greetingd.service" "$T/control/postinst" || fail "postinst does not stop the service before restarting the socket"
grep -q "deb-systemd-invoke stop greetingd.socket greetingd.service" "$T/control/prerm" || fail "prerm does not stop the service with the socket"
pass "maintainer scripts: greetingd.socket alone enabled; the service stopped with it"
