#!/bin/bash
# A bad configuration is refused, every error named by file, line and key.
. "$top_srcdir/tests/lib.sh"

cat >"$T/bad.conf" <<'CONF'
[greetingd]
greeting = Hello\q

[web]
port = htpp
colour = blue

[web]
port = 1

[local]
family = unix
host = localhost
CONF

for args in "" "--test-config"; do
	rc=0
	NOTIFY_SOCKET= "$GREETINGD" -c "$T/bad.conf" $args >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "exit status $rc for a bad file ($args), expected 1"
	for want in \
		"$T/bad.conf:6: colour: unknown key; [web] takes family, type, protocol, host, port, path, greeting, greeting-file, timeout, deadline, max-clients, allow, deny, limit-exempt, source-prefix4, source-prefix6, max-clients-per-source, rate, rate-burst, udp-source-check, max-amplification, log-clients" \
		"$T/bad.conf:8: section [web] is already defined at line 4" \
		"$T/bad.conf:2: greeting: unknown escape \"\\q\": use \\n \\r \\t \\\\ or \\xHH" \
		"$T/bad.conf:5: port: \"htpp\" is not a number or a known tcp service" \
		"$T/bad.conf:13: host: not used with family = unix; use path" \
		"$T/bad.conf:11: [local]: family = unix needs a path"; do
		grep -qxF "$want" "$T/err" || fail "missing error ($args): $want"
	done
	[ "$(wc -l <"$T/err")" -eq 6 ] || fail "expected exactly 6 errors, got: $(cat "$T/err")"
	[ ! -s "$T/out" ] || fail "a bad file printed listeners: $(cat "$T/out")"
done
pass "every error reported with file:line: key, exit status 1"

rc=0
"$GREETINGD" -c "$T/missing.conf" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc for a missing file"
grep -qxF "$T/missing.conf: cannot read: No such file or directory" "$T/err" || fail "missing file: $(cat "$T/err")"
head -c 4096 /dev/urandom >"$T/binary.conf"
rc=0
timeout 10 "$GREETINGD" -c "$T/binary.conf" --test-config >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc for a binary file"
pass "missing and binary files refused"

# A file that parses but cannot be served: the daemon fails, and says why.
printf '[a]\nhost = 127.0.0.1\nport = 0\n' >"$T/a.conf"
start_daemon "$T/a.conf"
port=$(port_of a)
printf '[b]\nhost = 127.0.0.1\nport = %s\n' "$port" >"$T/b.conf"
collector=$("$TESTTOOL" notify-collect "$T/b.sock" "$T/b-notify.log")
PIDS+=("$collector")
rc=0
NOTIFY_SOCKET=$T/b.sock "$GREETINGD" -c "$T/b.conf" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc when the port is taken"
grep -qxF "[b] cannot bind stream 127.0.0.1:$port: Address already in use" "$T/err" || fail "bind error: $(cat "$T/err")"
"$TESTTOOL" wait-file "$T/b-notify.log" "ERRNO=98" 5 >/dev/null || fail "no ERRNO= sent to systemd"
grep -q READY=1 "$T/b-notify.log" && fail "READY=1 sent although a listener failed"
pass "a bind failure names the listener, the address and the errno"
stop_daemon

# No socket at all (here: no fd left for it): the listener and the errno are named.
printf '[t]\nhost = 127.0.0.1\nport = 0\n' >"$T/t.conf"
rc=0
(ulimit -n 7 && exec "$GREETINGD" -c "$T/t.conf") 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc without fds"
grep -qxF "[t] cannot create a socket (inet stream): Too many open files" "$T/err" || fail "socket error: $(cat "$T/err")"
pass "a socket that cannot be created is named with its errno"

# Sockets the kernel would refuse to bind side by side are refused by the check.
cat >"$T/overlap.conf" <<'CONF'
[a]
host = 127.0.0.1
port = 7
[b]
port = 7
protocol = tcp
[c]
path = @greetingd-overlap-test
[d]
type = dgram
path = @greetingd-overlap-test
CONF
rc=0
"$GREETINGD" -c "$T/overlap.conf" --test-config >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc for overlapping listeners"
grep -qxF "$T/overlap.conf:4: [b]: stream 0.0.0.0:7 (protocol tcp) overlaps stream 127.0.0.1:7 of [a] at line 1" "$T/err" ||
	fail "wildcard over a specific address: $(cat "$T/err")"
grep -qxF "$T/overlap.conf:9: [d]: dgram @greetingd-overlap-test overlaps stream @greetingd-overlap-test of [c] at line 7" "$T/err" ||
	fail "one path, two types: $(cat "$T/err")"
pass "--test-config refuses overlapping listeners, naming both"
