#!/bin/bash
# bench/run.sh [--smoke | --saturated] [--rounds N] [--seconds S] [--baseline BINARY] [--limits]
#
# greetingd (1 worker; 2 workers) side by side with nginx's stream "return"
# (1 worker; 2 workers with reuseport) and refserver (epoll + accept4 + send + close: the limit),
# all on 127.0.0.1 with the same greeting, in interleaved rounds with the
# order rotated. Prints each figure's median (min-max over rounds) and its
# ratio to nginx with 1 worker and to refserver. Then a saturated table: each
# server process held to the same CPU quota, so that the rate is the
# efficiency, and workers = 2 (worker_processes 2) must double it to scale.
# On 2 cores or more, one-process servers run on CPU 0 and the load
# generator on CPU 1, so that they do not take each other's time.
# --smoke: one short round that only checks every reply is byte-exact.
# --saturated: the saturated table alone.
# --baseline BINARY: BINARY (an older greetingd) too, as greetingd-base and
# greetingd-base-q1, with greetingd's config in the same rounds, and a column
# of greetingd over it.
# --limits: greetingd twice more, as greetingd-lim (every per-source limit
# evaluated on every client, none ever reached) and greetingd-off (every limit
# off), pinned and saturated, and a column of greetingd-lim over greetingd-off.
# Installs nginx-light and libnginx-mod-stream when missing (as root).
set -euo pipefail

rounds=3 seconds=5 smoke=0 main=1 BASE= limits=0
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 rounds=1 seconds=1 ;;
	--saturated) main=0 ;;
	--rounds) rounds=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--baseline) BASE=$(realpath "$2"); shift ;;
	--limits) limits=1 ;;
	*) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
	shift
done
top_builddir=${top_builddir:-$(pwd)}
GREETINGD=$top_builddir/greetingd
LOAD=$top_builddir/bench/greetload
REF=$top_builddir/bench/refserver
for p in "$GREETINGD" "$LOAD" "$REF" ${BASE:+"$BASE"}; do
	[ -x "$p" ] || { echo "bench: $p is missing: make bench builds it" >&2; exit 1; }
done
if [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light libnginx-mod-stream >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

T=$(mktemp -d /tmp/greetingd-bench.XXXXXX)
SPID= HOLD= CG=
cleanup() {
	[ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null && wait "$HOLD" 2>/dev/null
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	[ -n "$CG" ] && cgroup_remove
	rm -rf "$T"
}
trap cleanup EXIT
printf 'Thank you for connecting\n' >"$T/greeting"
head -c 16384 <(yes 'a greeting larger than the clients take') >"$T/big"
mkfifo "$T/tick"
tick() { read -r -t 0.05 <>"$T/tick" || true; } # a poll's interval, never the wait itself
# Below the ephemeral ports (32768 and up): a port some client socket of an
# earlier round still holds could not be bound again.
tcp=$((20000 + RANDOM % 10000)) udp=$((tcp + 1)) big=$((tcp + 2))

# One-process servers on CPU 0, the load on CPU 1: each has a core of its own.
on_server=() on_load=()
if [ "$(nproc)" -ge 2 ]; then
	on_server=(taskset -c 0) on_load=(taskset -c 1)
fi
load() { "${on_load[@]}" "$LOAD" "$@"; }

config_greetingd() { # WORKERS [LIMITS]
	printf '[greetingd]\n%bworkers = %s\ngreeting = Thank you for connecting\\n\n[tcp]\nhost = 127.0.0.1\nport = %s\n[udp]\ntype = dgram\nhost = 127.0.0.1\nport = %s\n[big]\nhost = 127.0.0.1\nport = %s\ngreeting-file = %s\ntimeout = 60s\n' \
		"${2:-}" "$1" "$tcp" "$udp" "$big" "$T/big" >"$T/greetingd.conf"
}
# The limits of greetingd.conf(5) evaluated on every connection and datagram
# (nobody exempt, every client address its own source) but far above the
# load, so that none is ever reached; and every limit off.
limits_on='limit-exempt =\nsource-prefix4 = 32\nmax-clients-per-source = 1000000\nrate = 1000000\nrate-burst = 2000000\n'
limits_off='max-clients-per-source = 0\nrate = 0\nudp-source-check = no\n'
config_nginx() { # WORKERS [reuseport]
	cat >"$T/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes $1;
daemon off;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 19000; }
stream {
	server { listen 127.0.0.1:$tcp ${2:-}; return "Thank you for connecting\n"; }
	server { listen 127.0.0.1:$udp udp ${2:-}; return "Thank you for connecting\n"; }
}
CONF
}

# start NAME: starts a server in the foreground of a background job.
start() {
	case $1 in
	greetingd) config_greetingd 1; "${on_server[@]}" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	greetingd-2) config_greetingd 2; "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	greetingd-lim | greetingd-lim-q1) config_greetingd 1 "$limits_on"; "${on_server[@]}" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	greetingd-off | greetingd-off-q1) config_greetingd 1 "$limits_off"; "${on_server[@]}" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	greetingd-base | greetingd-base-q1) config_greetingd 1; "${on_server[@]}" "$BASE" -c "$T/greetingd.conf" --log-level warning & ;;
	nginx-1) config_nginx 1; "${on_server[@]}" "$NGINX" -c "$T/nginx.conf" & ;;
	nginx-2r) config_nginx 2 reuseport; "$NGINX" -c "$T/nginx.conf" & ;;
	refserver) "${on_server[@]}" "$REF" "$tcp" "$udp" "$T/greeting" >/dev/null & ;;
	# For the saturated table: every process on CPU 0, each in a cgroup of its own.
	greetingd-q1 | greetingd-q2) config_greetingd "${1#greetingd-q}"; "${on_server[@]}" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	nginx-q1 | nginx-q2) config_nginx "${1#nginx-q}" reuseport; "${on_server[@]}" "$NGINX" -c "$T/nginx.conf" & ;;
	refserver-q1) "${on_server[@]}" "$REF" "$tcp" "$udp" "$T/greeting" >/dev/null & ;;
	esac
	SPID=$!
	# Ready when it greets (a poll with a deadline).
	local deadline=$((SECONDS + 10))
	until "$top_builddir/greet" -w 200ms 127.0.0.1 "$tcp" 2>/dev/null | cmp -s - "$T/greeting" &&
		"$top_builddir/greet" -w 200ms -u 127.0.0.1 "$udp" 2>/dev/null | cmp -s - "$T/greeting"; do
		[ $SECONDS -lt $deadline ] || { echo "bench: $1 did not start" >&2; exit 1; }
	done
}

stop() {
	kill "$SPID"
	wait "$SPID" 2>/dev/null || true
	SPID=
}

tree() { # PID and its descendants
	local p
	echo "$1"
	for p in $(pgrep -P "$1" || true); do tree "$p"; done
}
cpu_ticks() {
	local p sum=0
	for p in $(tree "$SPID"); do
		sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$sum"
}
memory_kib() { # Rss Pss, summed over the tree
	local p
	for p in $(tree "$SPID"); do cat "/proc/$p/smaps_rollup"; done |
		awk '/^Rss:/ { r += $2 } /^Pss:/ { p += $2 } END { print r, p }'
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
record() { echo "$1 $2 $3" >>"$T/results"; } # server metric value

# per_cpu_s OUT TICKS: replies per CPU-second, from greetload's ok= count.
per_cpu_s() {
	echo "$1" | awk -v t="$2" -v hz="$(getconf CLK_TCK)" '{ sub(/.*ok=/, ""); sub(/ .*/, ""); print (t > 0 ? int($1 / (t / hz)) : 0) }'
}

# tcp_load SERVER SUFFIX: a TCP run, its rate, latency and CPU per greeting;
# prints the rate.
tcp_load() {
	local out before after
	before=$(cpu_ticks)
	out=$(load tcp 127.0.0.1 "$tcp" "$T/greeting" -c 64 -d "$seconds") || { echo "bench: $1: $out" >&2; exit 1; }
	after=$(cpu_ticks)
	record "$1" "tcp_per_s$2" "$(echo "$out" | field rate)"
	record "$1" "tcp_p50_us$2" "$(echo "$out" | field p50_us)"
	record "$1" "tcp_p99_us$2" "$(echo "$out" | field p99_us)"
	record "$1" "tcp_per_cpu_s$2" "$(per_cpu_s "$out" $((after - before)))"
	echo "$out" | field rate
}

# udp_load SERVER: a UDP run, its rate, lost replies and CPU per reply.
udp_load() {
	local out before after
	before=$(cpu_ticks)
	out=$(load udp 127.0.0.1 "$udp" "$T/greeting" -c 64 -d "$seconds") || { echo "bench: $1: $out" >&2; exit 1; }
	after=$(cpu_ticks)
	record "$1" udp_per_s "$(echo "$out" | field rate)"
	record "$1" udp_lost "$(echo "$out" | field lost)"
	record "$1" udp_per_cpu_s "$(per_cpu_s "$out" $((after - before)))"
}

measure() {
	local s=$1 rss pss rate
	start "$s"
	read -r rss pss < <(memory_kib)
	record "$s" "rss_idle_kib" "$rss"
	record "$s" "pss_idle_kib" "$pss"

	rate=$(tcp_load "$s" "")
	udp_load "$s"

	if [ "$smoke" = 0 ]; then
		hold 10000 "$tcp"
		read -r rss pss < <(memory_kib)
		record "$s" rss_10k_held_kib "$rss"
		release
	fi
	if [ "$smoke" = 0 ] && { [ "$s" = greetingd ] || [ "$s" = greetingd-base ]; }; then
		# Clients greetingd must keep: a 16 KiB greeting, a 1 KiB receive
		# buffer, never read. What 10,000 cost; how 1,000 slow the others.
		hold 10000 "$big"
		until_fds 10000
		read -r rss _ < <(memory_kib)
		record "$s" rss_10k_slow_kib "$rss"
		release
		slow_clients "$s" "$rate"
	fi
	stop
}

# slow_clients SERVER RATE: the TCP rate while greetingd holds 1,000 clients
# that never read, and its ratio to RATE, the rate without them.
slow_clients() {
	local slow
	hold 1000 "$big"
	until_fds 1000
	slow=$(tcp_load "$1" _1k_slow)
	release
	record "$1" slow_rate_ratio "$(awk -v a="$slow" -v b="$2" 'BEGIN { printf "%.2f", a / b }')"
}

# hold N PORT: N clients that connect and never read, until release.
hold() {
	mkfifo "$T/hold.in"
	"${on_load[@]}" "$LOAD" hold 127.0.0.1 "$2" "$1" <"$T/hold.in" >"$T/hold.out" &
	HOLD=$!
	exec 7>"$T/hold.in"
	until grep -q held "$T/hold.out" 2>/dev/null; do
		kill -0 "$HOLD" 2>/dev/null || { echo "bench: hold failed" >&2; exit 1; }
		tick
	done
}
# until_fds N: until the server has N fds open (it holds its clients), or 60 s.
until_fds() {
	local deadline=$((SECONDS + 60))
	while [ "$(ls "/proc/$SPID/fd" | wc -l)" -lt "$1" ] && [ $SECONDS -lt $deadline ]; do
		tick
	done
}
release() {
	exec 7>&-
	wait "$HOLD" || true
	HOLD=
	rm -f "$T/hold.in"
}

# CPU quota cgroups, cgroup v1 or v2: $CG/p0, p1, p2, one per server process.
# Returns 1, leaving what it made for cgroup_remove, where it cannot (no
# controller, or a read-only cgroup tree as in some containers).
cgroup_create() { # QUOTA_US PERIOD_US
	local i v2=0
	if [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
		CG=/sys/fs/cgroup/cpu/greetingd-bench.$$
	elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		CG=/sys/fs/cgroup/greetingd-bench.$$ v2=1
	else
		return 1
	fi
	mkdir "$CG" 2>/dev/null || { CG=; return 1; }
	{
		[ "$v2" = 0 ] || echo +cpu >"$CG/cgroup.subtree_control" || return 1
		for i in 0 1 2; do
			mkdir "$CG/p$i" || return 1
			if [ "$v2" = 1 ]; then
				echo "$1 $2" >"$CG/p$i/cpu.max" || return 1
			else
				echo "$2" >"$CG/p$i/cpu.cfs_period_us" && echo "$1" >"$CG/p$i/cpu.cfs_quota_us" || return 1
			fi
		done
	} 2>/dev/null
}
cgroup_enter() { # puts each process of the server in a cgroup of its own
	local i=0 p
	for p in $(tree "$SPID"); do
		echo "$p" >"$CG/p$i/cgroup.procs"
		i=$((i + 1))
	done
}
cgroup_remove() { # the servers have exited; their cgroups may take a moment to empty
	local deadline=$((SECONDS + 10))
	while ! rmdir "$CG"/p* "$CG" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		tick
	done
	CG=
}

# table FILE SERVERS RATIOS: each metric's median (min-max) per server, and
# the ratios named "A/B" (1-based server numbers) of the medians.
table() {
	awk -v servers="$2" -v ratios="$3" '
	{ v[$1, $2] = v[$1, $2] " " $3; if (!($2 in seen)) { seen[$2] = 1; order[++nm] = $2 } }
	function median(list, a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		lo = a[1]; hi = a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		ns = split(servers, s, " "); nr = split(ratios, r, " ")
		printf "%-20s", "figure"
		for (i = 1; i <= ns; i++) printf " %24s", s[i]
		for (k = 1; k <= nr; k++) { split(r[k], ab, "/"); printf " %12s", s[ab[1]] "/" s[ab[2]] }
		printf "\n"
		for (m = 1; m <= nm; m++) {
			printf "%-20s", order[m]
			for (i = 1; i <= ns; i++) {
				med[i] = v[s[i], order[m]] == "" ? "" : median(v[s[i], order[m]])
				printf " %24s", med[i] == "" ? "-" : sprintf("%g (%g-%g)", med[i], lo, hi)
			}
			for (k = 1; k <= nr; k++) {
				split(r[k], ab, "/")
				printf " %12s", med[ab[1]] != "" && med[ab[2]] + 0 ? sprintf("%.2f", med[ab[1]] / med[ab[2]]) : "-"
			}
			printf "\n"
		}
	}' "$1"
}

# The ratio columns: greetingd to nginx-1 and to refserver; with
# --baseline, to greetingd-base (server 6) too; with --limits, greetingd-lim
# to greetingd-off (the last two servers).
servers=(greetingd nginx-1 nginx-2r refserver greetingd-2)
ratios="1/2 1/4 5/1"
[ -z "$BASE" ] || { servers+=(greetingd-base); ratios+=" 1/6"; }
[ "$limits" = 0 ] || { servers+=(greetingd-lim greetingd-off); ratios+=" $((${#servers[@]} - 1))/${#servers[@]}"; }
[ "$main" = 1 ] || servers=()
for r in $(seq 1 "$rounds"); do
	n=${#servers[@]}
	for i in $(seq 0 $((n - 1))); do
		measure "${servers[$(((i + r - 1) % n))]}"
	done
done

if [ "$smoke" = 0 ]; then
	echo "greetingd bench: $rounds rounds of ${seconds}s, 64 clients in flight; $(nproc) cores, $(uname -r)"
	[ -z "$BASE" ] || echo "greetingd: $GREETINGD; greetingd-base: $BASE"
	[ "$limits" = 0 ] || printf 'greetingd-lim: %s\ngreetingd-off: %s\n' "$(printf "$limits_on" | paste -sd ';')" "$(printf "$limits_off" | paste -sd ';')"
	if [ "$main" = 1 ]; then
		[ ${#on_server[@]} -gt 0 ] && echo "greetingd${BASE:+, greetingd-base}$([ "$limits" = 0 ] || echo ", greetingd-lim, greetingd-off"), nginx-1 and refserver on CPU 0; the load generator on CPU 1; greetingd-2 and nginx-2r on both"
		table "$T/results" "${servers[*]}" "$ratios"
		echo
		mv "$T/results" "$T/results.main"
	fi
fi

# Saturated: each server process held to 10% of a CPU (all on CPU 0) by a
# cgroup CPU quota, so that the server is always busy and the generator on
# CPU 1 is never the limit. The rate is then the server's efficiency, and
# workers = 2, with twice the CPU, should give twice the rate.
saturated=(greetingd-q1 greetingd-q2 nginx-q1 nginx-q2 refserver-q1)
ratios="1/3 1/5 2/1 4/3"
[ -z "$BASE" ] || { saturated+=(greetingd-base-q1); ratios+=" 1/6"; }
[ "$limits" = 0 ] || { saturated+=(greetingd-lim-q1 greetingd-off-q1); ratios+=" $((${#saturated[@]} - 1))/${#saturated[@]}"; }
if cgroup_create 5000 50000; then
	for r in $(seq 1 "$rounds"); do
		n=${#saturated[@]}
		for i in $(seq 0 $((n - 1))); do
			s=${saturated[$(((i + r - 1) % n))]}
			start "$s"
			cgroup_enter
			rate=$(tcp_load "$s" "")
			udp_load "$s"
			case $s in greetingd-q1 | greetingd-base-q1) slow_clients "$s" "$rate" ;; esac
			stop
		done
	done
else
	echo "bench: no cgroup CPU controller here: no saturated table"
	saturated=()
fi

if [ "$smoke" = 1 ]; then
	echo "bench smoke: every reply byte-exact"
	awk '$2 == "tcp_per_s" || $2 == "udp_per_s" { printf "  %-12s %-10s %s\n", $1, $2, $3 }' "$T/results"
elif [ ${#saturated[@]} -gt 0 ]; then
	echo "saturated: every server process held to 10% of CPU 0 by a cgroup CPU quota; the load generator on CPU 1"
	table "$T/results" "${saturated[*]}" "$ratios"
fi
