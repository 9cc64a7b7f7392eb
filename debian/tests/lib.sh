# Helpers of debian/tests/installed and tests/e2e-guest.sh (POSIX sh),
# sourced by both.

# until_ok SECONDS COMMAND...: COMMAND until it succeeds or the deadline.
# Between tries it waits for the journal's next entry, a second at most:
# what it waits for (a reload, a unit that ends, greetingd's own lines)
# comes with one.
until_ok() {
	end=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		timeout 1 journalctl -q -f -n 0 -o cat 2>/dev/null | head -n 1 >/dev/null
	done
}

greets() { # greets EXPECTED GREET-ARGS...
	want=$1
	shift
	[ "$(greet -w 5s "$@")" = "$want" ]
}
