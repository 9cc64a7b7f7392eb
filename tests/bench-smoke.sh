#!/bin/bash
# The benchmark must not rot: one short round against every server, every
# reply checked byte for byte; and greetingd under a flood from one prefix,
# whose replies must stay within its rate and burst. Its figures are not
# asserted: see bench/.
. "$top_srcdir/tests/lib.sh"

[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || fail "nginx-light and libnginx-mod-stream are required"
top_builddir=$top_builddir bash "$top_srcdir/bench/run.sh" --smoke >"$T/smoke.out" 2>&1 || fail "bench: $(cat "$T/smoke.out")"
cat "$T/smoke.out"
for s in greetingd greetingd-2 nginx-1 nginx-2r refserver; do
	grep -q "^  $s  *tcp_per_s  *[1-9]" "$T/smoke.out" || fail "no TCP figure for $s"
	grep -q "^  $s  *udp_per_s  *[1-9]" "$T/smoke.out" || fail "no UDP figure for $s"
done
pass "bench smoke run: every reply byte-exact"
for p in tcp udp; do
	grep -q "^  greetingd-fl  *flood_${p}_sent_per_s  *[1-9]" "$T/smoke.out" || fail "no $p flood"
	grep -q "^  greetingd-fl  *flood_${p}_held  *1$" "$T/smoke.out" || fail "the $p flood was not held to its rate"
done
pass "bench smoke run: a flood from one prefix gets no more replies than rate + burst"
