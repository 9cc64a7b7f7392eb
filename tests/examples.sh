#!/bin/bash
# conf/examples/: every file there is installed (in EXAMPLE_FILES), and
# every example greetingd.conf passes --test-config.
. "$top_srcdir/tests/lib.sh"

: "${EXAMPLES:?run through make check}" "${EXAMPLE_CONFIGS:?run through make check}"
[ "$(echo $EXAMPLE_CONFIGS | wc -w)" -ge 3 ] || fail "fewer than three example configurations: $EXAMPLE_CONFIGS"
while read -r f; do
	case " $EXAMPLES " in
	*" $f "*) ;;
	*) fail "$f is not in EXAMPLE_FILES: it would not be installed" ;;
	esac
done < <(cd "$top_srcdir" && find conf/examples -type f)
for f in $EXAMPLE_CONFIGS; do
	"$GREETINGD" --test-config -c "$top_srcdir/$f" >"$T/test-config.log" 2>&1 ||
		fail "$f: $(cat "$T/test-config.log")"
	grep -q '^\[' "$T/test-config.log" || fail "$f: no listener listed: $(cat "$T/test-config.log")"
	pass "$f: --test-config"
done
