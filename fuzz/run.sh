#!/bin/bash
# fuzz/run.sh SECONDS NAME...: runs each fuzz/fuzz-NAME (built by make fuzz,
# from the build directory) for its share of SECONDS, over its checked-in
# seeds in fuzz/corpus/NAME/ with the words of fuzz/NAME.dict. Any finding
# (a crash, a leak, a sanitizer report, an input slower than 10 s, memory
# over 2 GiB) fails, and its input is kept in fuzz/artifacts/: replay it with
# `fuzz/fuzz-NAME FILE`. New inputs go to fuzz/work/NAME/, kept between runs;
# the checked-in corpus is only read.
set -euo pipefail
: "${top_srcdir:?run through make fuzz}"

total=$1
shift
each=$((total / $#))
[ "$each" -ge 1 ] || each=1
for name; do
	mkdir -p "fuzz/work/$name" fuzz/artifacts
	log=fuzz/$name.log
	echo "fuzz: $name for ${each}s (log: $log)"
	rc=0
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"fuzz/fuzz-$name" -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="fuzz/artifacts/$name-" \
		-dict="$top_srcdir/fuzz/$name.dict" "fuzz/work/$name" "$top_srcdir/fuzz/corpus/$name" \
		>"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$log" >&2
		echo "fuzz: $name found a bug (exit $rc); the input is in $(ls -t fuzz/artifacts/"$name"-* 2>/dev/null | head -n 1)" >&2
		exit 1
	fi
	# The last progress line (coverage, features, corpus) and the speed.
	grep -E '^#[0-9]+' "$log" | tail -n 1 | sed 's/^/fuzz: /'
	sed -n 's/^stat::\(number_of_executed_units\|average_exec_per_sec\|peak_rss_mb\): */fuzz:   \1 /p' "$log"
done
