#!/bin/sh
# Runs inside the container, as a unit after boot: installs the package with
# apt, runs its autopkgtest (debian/tests/installed: install to purge), then
# installs it again for what only this test sets up: more sockets for the
# service, Accept=yes, no IPv6. One line per check in /e2e-out/result.
out=/e2e-out/result
log=/e2e-out/commands.log
export DEBIAN_FRONTEND=noninteractive
ok() { echo "ok: $*" >>"$out"; }
bad() { echo "FAIL: $*" >>"$out"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	echo "--- $d: $*" >>"$log"
	if "$@" >>"$log" 2>&1; then ok "$d"; else bad "$d"; fi
}
. /e2e/lib.sh # until_ok, greets
deb=$(ls /e2e/greetingd_*.deb)

check "apt-get installs the package" apt-get install -y "$deb"
GREETINGD_DEB=$deb GREETINGD_TEST_LOG=$log sh /e2e/installed >>"$out" 2>>"$log" || bad "debian/tests/installed failed"

check "apt-get installs it again after the purge" apt-get install -y "$deb"
# Two more sockets for the same service, and listeners for them.
printf '[Socket]\nListenDatagram=127.0.0.1:12347\nFileDescriptorName=udp\nService=greetingd.service\n' \
	>/etc/systemd/system/greetingd-udp.socket
printf '[Socket]\nListenStream=/run/greetingd-e2e.sock\nFileDescriptorName=local\nService=greetingd.service\n' \
	>/etc/systemd/system/greetingd-local.socket
printf '\n[udp]\ntype = dgram\nhost = 127.0.0.1\nport = 12347\n\n[local]\npath = /run/greetingd-e2e.sock\n' \
	>>/etc/greetingd/greetingd.conf
systemctl daemon-reload
check "the extra sockets start" systemctl start greetingd-udp.socket greetingd-local.socket
check "the service is inactive before the first client" sh -c '! systemctl -q is-active greetingd.service'
check "a TCP client is greeted" greets "Thank you for connecting" 127.0.0.1 12345
check "a UDP client is greeted" greets "Thank you for connecting" -u 127.0.0.1 12347
check "a UNIX client is greeted" greets "Thank you for connecting" --unix /run/greetingd-e2e.sock
check "systemctl status shows STATUS=" sh -c 'systemctl status greetingd.service | grep -q "Status: \"3 sockets for 3 listeners; accepted"'

# journald fields: LISTENER= picks one listener's lines (issue 11, point 5).
check "journalctl LISTENER=seed shows the seed listener's lines, no other's" until_ok 10 sh -c \
	'journalctl -q -u greetingd.service LISTENER=seed -o cat >/tmp/seed.lines &&
	 grep -q "^\[seed\] serves the stream socket 127.0.0.1:12345 that systemd passed" /tmp/seed.lines &&
	 ! grep -v "^\[seed\] " /tmp/seed.lines'

check "greetingd-inetd.socket starts" systemctl start greetingd-inetd.socket
check "Accept=yes: an instance greets" greets "Thank you for connecting" 127.0.0.1 12346
check "Accept=yes: a second instance greets" greets "Thank you for connecting" 127.0.0.1 12346
check "Accept=yes: the instances exit successfully" until_ok 10 sh -c \
	'test "$(systemctl show -P NAccepted greetingd-inetd.socket)" = 2 &&
	 ! systemctl list-units --all --plain --no-legend "greetingd-inetd@*" | grep -q . &&
	 ! systemctl -q is-failed "greetingd-inetd@*"'
# No IPv6 for the service (socket(AF_INET6) fails with EAFNOSUPPORT, as with
# ipv6.disable=1): family = any and no host serves 0.0.0.0 and warns about ::.
printf '[wild]\nport = 12350\n' >/run/wild.conf
check "without AF_INET6, family = any starts (RestrictAddressFamilies)" systemd-run -q --unit=wild -p Type=notify \
	-p RestrictAddressFamilies="AF_UNIX AF_INET" /usr/sbin/greetingd -c /run/wild.conf
check "without AF_INET6, 0.0.0.0 is served" greets "Thank you for connecting" 127.0.0.1 12350
check "without AF_INET6, :: is skipped with a warning" sh -c \
	'journalctl -q -u wild.service -p 4..4 -o cat | grep -q "^\[wild\] skipping \[::\]:12350: Address family not supported by protocol"'
systemctl stop wild.service

check "remove stops the inetd socket too" sh -c 'apt-get remove -y greetingd && ! systemctl -q is-active greetingd-inetd.socket'
echo done >>"$out"
systemctl poweroff
