#!/bin/bash
# conf/examples/: every file there is installed (in dist_example_DATA), and
# every example greetingd.conf passes --test-config.
. "$top_srcdir/tests/lib.sh"

: "${EXAMPLES:?run through make check}" "${EXAMPLE_CONFIGS:?run through make check}"
[ "$(echo $EXAMPLE_CONFIGS | wc -w)" -ge 3 ] || fail "fewer than three example configurations: $EXAMPLE_CONFIGS"
for f in "$top_srcdir"/conf/examples/*; do
	case " $EXAMPLES " in
	*" conf/examples/${f##*/} "*) ;;
	*) fail "conf/examples/${f##*/} is not in dist_example_DATA: it would not be installed" ;;
	esac
done
for f in $EXAMPLE_CONFIGS; do
	"$GREETINGD" --test-config -c "$top_srcdir/$f" >"$T/test-config.log" 2>&1 ||
		fail "$f: $(cat "$T/test-config.log")"
	grep -q '^\[' "$T/test-config.log" || fail "$f: no listener listed: $(cat "$T/test-config.log")"
	pass "$f: --test-config"
done
