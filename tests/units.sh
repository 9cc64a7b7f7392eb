#!/bin/bash
# The systemd units: systemd-analyze verify is clean (man pages included),
# and greetingd.service's sandbox scores an exposure of 1.5 or less.
. "$top_srcdir/tests/lib.sh"

[ -x "${SYSTEMD_ANALYZE:-}" ] || fail "systemd-analyze is required (package systemd)"
mkdir -p "$T/units" "$T/man/man1" "$T/man/man5" "$T/man/man8"
# The built units, run from the build tree instead of $sbindir.
for u in greetingd.service greetingd-inetd@.service; do
	sed "s|^ExecStart=[^ ]*/greetingd |ExecStart=$top_builddir/greetingd |" "$top_builddir/units/$u" >"$T/units/$u"
	grep -q "^ExecStart=$top_builddir/greetingd -c " "$T/units/$u" || fail "$u: unexpected ExecStart="
done
cp "$top_srcdir/units/greetingd.socket" "$top_srcdir/units/greetingd-inetd.socket" "$T/units/"
for page in greet.1 greetingd.conf.5 greetingd.8; do
	cp "$top_srcdir/man/$page" "$T/man/man${page##*.}/"
done

(cd "$T/units" && MANPATH=$T/man "$SYSTEMD_ANALYZE" verify ./greetingd.service ./greetingd.socket \
	./greetingd-inetd@.service ./greetingd-inetd.socket) >"$T/verify.log" 2>&1 || fail "verify: $(cat "$T/verify.log")"
[ ! -s "$T/verify.log" ] || fail "verify warns: $(cat "$T/verify.log")"
pass "systemd-analyze verify: clean"

for u in greetingd.service greetingd-inetd@.service; do
	"$SYSTEMD_ANALYZE" security --offline=true "$T/units/$u" >"$T/security.log" 2>&1 || true
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.log")
	[ -n "$score" ] || fail "no exposure level: $(tail -n 5 "$T/security.log")"
	awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }' || fail "$u: exposure $score, above 1.5: $(grep '✗' "$T/security.log")"
	pass "$u: exposure $score"
done

# TasksMax= holds the most workers, plus the reload's reader and one spare.
tasks=$(sed -n 's/^TasksMax=\([0-9]*\)$/\1/p' "$T/units/greetingd.service")
workers=$(sed -n 's/^#define CONFIG_WORKERS_MAX \([0-9]*\)$/\1/p' "$top_srcdir/daemon/config.h")
[ -n "$tasks" ] && [ -n "$workers" ] || fail "cannot read TasksMax= ('$tasks') or CONFIG_WORKERS_MAX ('$workers')"
[ "$tasks" -ge $((workers + 2)) ] || fail "TasksMax=$tasks cannot run workers = $workers and a reload's reader"
pass "TasksMax=$tasks holds $workers workers"

# The socket unit matches the shipped configuration, by name and address.
grep -qx 'FileDescriptorName=seed' "$T/units/greetingd.socket" || fail "greetingd.socket is not named seed"
grep -qx 'ListenStream=127.0.0.1:12345' "$T/units/greetingd.socket" || fail "greetingd.socket has another address"
grep -qx '\[seed\]' "$top_srcdir/conf/greetingd.conf" || fail "the shipped config has no [seed]"

# The manuals: every key greetingd knows and every option it offers is documented.
printf '[greetingd]\nnosuch = 1\n[x]\nnosuch = 1\n' >"$T/keys.conf"
"$GREETINGD" -c "$T/keys.conf" -t 2>"$T/keys.err" && fail "unknown keys accepted"
keys=$(sed -n 's/.*takes \(.*\)$/\1/p' "$T/keys.err" | tr ',' '\n' | sed 's/^ *//' | sort -u)
[ "$(echo "$keys" | wc -l)" -ge 10 ] || fail "could not read the key list: $(cat "$T/keys.err")"
for key in $keys; do
	grep -q "^\.BI\{0,1\}R\{0,1\} .*${key//-/\\\\-}=" "$top_srcdir/man/greetingd.conf.5" || fail "greetingd.conf(5) does not document $key"
done
for option in $("$GREETINGD" --help | grep -o -- '--[a-z-]*' | sort -u); do
	grep -q -- "${option//-/\\\\-}" "$top_srcdir/man/greetingd.8" || fail "greetingd(8) does not document $option"
done
for option in $("$GREET" --help | grep -o -- '--[a-z-]*' | sort -u); do
	grep -q -- "${option//-/\\\\-}" "$top_srcdir/man/greet.1" || fail "greet(1) does not document $option"
done
for signal in SIGHUP SIGTERM SIGINT SIGUSR1 SIGUSR2 SIGALRM SIGPIPE; do
	grep -q "$signal" "$top_srcdir/man/greetingd.8" || fail "greetingd(8) does not document $signal"
done
pass "every key, option and signal is in the manuals"
