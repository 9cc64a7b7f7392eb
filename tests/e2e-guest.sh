#!/bin/sh
# Runs inside the container, as a unit after boot: checks greetingd under a
# real systemd, writes one line per check to /e2e-out/result, powers off.
out=/e2e-out/result
ok() { echo "ok: $*" >>"$out"; }
bad() { echo "FAIL: $*" >>"$out"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@" >>/e2e-out/commands.log 2>&1; then ok "$d"; else bad "$d"; fi
}
# until SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline.
until_ok() {
	end=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
greets() { # greets EXPECTED GREET-ARGS...
	want=$1
	shift
	[ "$(/usr/local/bin/greet -w 5s "$@")" = "$want" ]
}

check "greetingd.service is inactive before the first client" sh -c '! systemctl -q is-active greetingd.service'
check "greetingd.socket is listening" systemctl -q is-active greetingd.socket
check "a TCP client activates it and is greeted" greets "Thank you for connecting" 127.0.0.1 12345
check "the service is active" systemctl -q is-active greetingd.service
check "a UDP client is greeted" greets "Thank you for connecting" -u 127.0.0.1 12347
check "a UNIX client is greeted" greets "Thank you for connecting" --unix /run/greetingd-e2e.sock
check "systemctl status shows STATUS=" sh -c 'systemctl status greetingd.service | grep -q "Status: \"3 sockets for 3 listeners; accepted"'
pid=$(systemctl show -P MainPID greetingd.service)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
check "it runs under a dynamic UID ($uid)" test "$uid" -ge 61184 -a "$uid" -le 65519

sed -i 's/^greeting = .*/greeting = Reloaded greeting\\n/' /etc/greetingd/greetingd.conf
check "systemctl reload succeeds" systemctl reload greetingd.service
check "the reload applies the new greeting" until_ok 10 greets "Reloaded greeting" 127.0.0.1 12345
check "the reload keeps the PID" test "$(systemctl show -P MainPID greetingd.service)" = "$pid"
echo 'bogus = 1' >>/etc/greetingd/greetingd.conf
systemctl reload greetingd.service
check "a broken file is refused, logged at priority err" until_ok 10 sh -c \
	'journalctl -q -u greetingd.service -p 3..3 -o cat | grep -q "reload failed: keeping the running configuration"'
check "the running configuration stays" greets "Reloaded greeting" 127.0.0.1 12345
check "the daemon's lines reach the journal at priority info" sh -c \
	'journalctl -q -u greetingd.service -p 6..6 -o cat | grep -q "^\[seed\] serves the stream socket 127.0.0.1:12345 that systemd passed as \"seed\"$"'
sed -i '/^bogus = 1$/d' /etc/greetingd/greetingd.conf

# journald fields: LISTENER= picks one listener's lines (issue 11, point 5).
check "journalctl LISTENER=seed shows the seed listener's lines, no other's" until_ok 10 sh -c \
	'journalctl -q -u greetingd.service LISTENER=seed -o cat >/tmp/seed.lines &&
	 grep -q "^\[seed\] serves the stream socket 127.0.0.1:12345 that systemd passed" /tmp/seed.lines &&
	 ! grep -v "^\[seed\] " /tmp/seed.lines'

check "systemctl stop greetingd.service" systemctl stop greetingd.service
check "it is inactive after the stop" sh -c '! systemctl -q is-active greetingd.service'
check "the next client activates it again" greets "Reloaded greeting" 127.0.0.1 12345
check "a new PID" sh -c "test \"\$(systemctl show -P MainPID greetingd.service)\" != $pid"

check "Accept=yes: an instance greets" greets "Reloaded greeting" 127.0.0.1 12346
check "Accept=yes: a second instance greets" greets "Reloaded greeting" 127.0.0.1 12346
check "Accept=yes: the instances exit successfully" until_ok 10 sh -c \
	'test "$(systemctl show -P NAccepted greetingd-inetd.socket)" = 2 &&
	 ! systemctl list-units --all --plain --no-legend "greetingd-inetd@*" | grep -q . &&
	 ! systemctl -q is-failed "greetingd-inetd@*"'
# No IPv6 for the service (socket(AF_INET6) fails with EAFNOSUPPORT, as with
# ipv6.disable=1): family = any and no host serves 0.0.0.0 and warns about ::.
printf '[wild]\nport = 12350\n' >/run/wild.conf
check "without AF_INET6, family = any starts (RestrictAddressFamilies)" systemd-run -q --unit=wild -p Type=notify \
	-p RestrictAddressFamilies="AF_UNIX AF_INET" /usr/local/sbin/greetingd -c /run/wild.conf
check "without AF_INET6, 0.0.0.0 is served" greets "Thank you for connecting" 127.0.0.1 12350
check "without AF_INET6, :: is skipped with a warning" sh -c \
	'journalctl -q -u wild.service -p 4..4 -o cat | grep -q "^\[wild\] skipping \[::\]:12350: Address family not supported by protocol"'
systemctl stop wild.service

echo done >>"$out"
systemctl poweroff
