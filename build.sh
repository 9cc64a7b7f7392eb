#!/bin/bash
# build.sh run    install what is missing, build, install, and run greetingd in
#                 the foreground with the shipped configuration
# build.sh check [SECONDS]
#                 install what is missing, build with -Werror, and run the whole
#                 test suite: plain (with valgrind), under ASan+UBSan, the
#                 libFuzzer targets for SECONDS in all (default 60), distcheck
# build.sh deb    install what is missing and build the Debian package
#                 (build-deb/greetingd_VERSION_ARCH.deb)
# Debian 12, as root. Builds in build/, build-asan/ and build-deb/.
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PACKAGES=(build-essential autoconf automake pkg-config libsystemd-dev libinih-dev libcmocka-dev)
RUN_PACKAGES=(netcat-openbsd netbase)
DEB_PACKAGES=(debhelper dpkg-dev)
CHECK_PACKAGES=(netbase clang libclang-rt-14-dev valgrind time systemd util-linux procps iproute2 man-db debootstrap systemd-container nginx-light libnginx-mod-stream "${DEB_PACKAGES[@]}" lintian fail2ban)

install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	echo "build.sh: installing ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# configure_in DIR ARGS...: (re)configure a build directory.
configure_in() {
	local dir=$1
	shift
	[ -x configure ] || ./autogen.sh
	mkdir -p "$dir"
	(cd "$dir" && ../configure --sysconfdir=/etc "$@")
}

jobs=$(nproc)
case "${1:-}" in
run)
	install_missing "${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}"
	configure_in build --prefix=/usr/local
	make -C build -j"$jobs"
	make -C build install
	echo "build.sh: greetingd runs in the foreground; try: greet 127.0.0.1 12345 (or nc 127.0.0.1 12345)"
	exec /usr/local/sbin/greetingd -c conf/greetingd.conf
	;;
deb)
	install_missing "${BUILD_PACKAGES[@]}" "${DEB_PACKAGES[@]}"
	version=$(dpkg-parsechangelog -S Version)
	# From the tree make dist ships, in build-deb/, where the results land.
	configure_in build-deb
	rm -rf "build-deb/greetingd-$version"
	make -C build-deb distdir distdir="greetingd-$version"
	(cd "build-deb/greetingd-$version" && dpkg-buildpackage -us -uc)
	deb=$(ls build-deb/greetingd_"$version"_*.deb)
	echo "build.sh: built $deb; install it with: apt install ./$deb"
	;;
check)
	fuzz_time=${2:-60}
	[[ $fuzz_time =~ ^[0-9]+$ ]] || { echo "build.sh: check takes a number of seconds to fuzz, not '$fuzz_time'" >&2; exit 2; }
	install_missing "${BUILD_PACKAGES[@]}" "${CHECK_PACKAGES[@]}"
	./autogen.sh
	configure_in build --enable-werror
	make -C build -j"$jobs"
	make -C build -j"$jobs" check || { cat build/test-suite.log; exit 1; }
	configure_in build-asan --enable-werror --enable-sanitizers
	make -C build-asan -j"$jobs"
	make -C build-asan -j"$jobs" check || { cat build-asan/test-suite.log; exit 1; }
	make -C build -j"$jobs" fuzz FUZZ_TIME="$fuzz_time"
	make -C build -j"$jobs" distcheck
	echo "build.sh: all tests passed"
	;;
*)
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit 2
	;;
esac
