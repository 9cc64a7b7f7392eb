#!/bin/bash
# bench/run.sh [--smoke | --saturated] [--rounds N] [--seconds S] [--baseline BINARY] [--limits] [--flood]
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
# --flood: the flood table alone: a measured source (127.1.0.0/24) without
# and with a flood from another prefix (127.0.0.0/24) at the highest rate
# greetload can send, against greetingd with per-source rates on
# (greetingd-fl; greetingd-fl-rb, the same with an 8 MiB receive buffer on
# its UDP socket) and nginx (nginx-fl). --smoke runs greetingd-fl under the
# flood too, and checks the flood got no more replies than rate + burst.
# --sources: memory with 1,000,000 distinct sources: each server's RSS
# before and after 1,000,000 datagrams from distinct spoofed sources
# (testtool udp-spoof-flood: raw sockets, so in a network namespace of its
# own), and whether another source is still answered; greetingd-src with
# every source a /32 and nobody exempt, nginx-src as nginx-1.
# Installs nginx-light and libnginx-mod-stream when missing (as root).
set -euo pipefail

rounds=3 seconds=5 smoke=0 main=1 sat=1 BASE= limits=0 flood=0 sources=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 rounds=1 seconds=1 flood=1 ;;
	--saturated) main=0 ;;
	--rounds) rounds=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--baseline) BASE=$(realpath "$2"); shift ;;
	--limits) limits=1 ;;
	--flood) flood=1 main=0 sat=0 ;;
	--sources) sources=1 main=0 sat=0 ;;
	*) sed -n '2,33s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
	shift
done
top_builddir=${top_builddir:-$(pwd)}
GREETINGD=$top_builddir/greetingd
LOAD=$top_builddir/bench/greetload
REF=$top_builddir/bench/refserver
ACTIVATE=$top_builddir/bench/activate
for p in "$GREETINGD" "$LOAD" "$REF" "$ACTIVATE" ${BASE:+"$BASE"}; do
	[ -x "$p" ] || { echo "bench: $p is missing: make bench builds it" >&2; exit 1; }
done
if [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light libnginx-mod-stream >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
TESTTOOL=$top_builddir/tests/testtool
if [ "$sources" = 1 ] && [ -z "${GREETINGD_BENCH_NETNS:-}" ]; then
	[ -x "$TESTTOOL" ] || { echo "bench: $TESTTOOL is missing: make tests/testtool" >&2; exit 1; }
	# Spoofed sources through raw sockets: in a network namespace of our own.
	GREETINGD_BENCH_NETNS=1 exec unshare -n "$BASH" "$0" "${args[@]}"
fi
[ -z "${GREETINGD_BENCH_NETNS:-}" ] || ip link set lo up

T=$(mktemp -d /tmp/greetingd-bench.XXXXXX)
SPID= HOLD= CG= FLOOD=
cleanup() {
	# Each line goes on when the one before fails (a process already gone).
	[ -z "$HOLD" ] || { kill "$HOLD" && wait "$HOLD"; } 2>/dev/null || true
	[ -z "$FLOOD" ] || { kill "$FLOOD" && wait "$FLOOD"; } 2>/dev/null || true
	[ -z "$SPID" ] || { kill "$SPID" && wait "$SPID"; } 2>/dev/null || true
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
# The flood table's: the DESIGN defaults for datagrams (20/s, burst 40 per
# /24), the same for connections (whose default is no rate), and nobody
# exempt but the measured source's prefix, which makes tens of thousands of
# requests a second: an operator's known heavy client.
flood_rate=20 flood_burst=40
# --sources: every source its own, at the datagram defaults (20/s, burst 40).
limits_sources='limit-exempt =\nsource-prefix4 = 32\n'
limits_flood="limit-exempt = 127.1.0.0/24\\nrate = $flood_rate\\nrate-burst = $flood_burst\\n"
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
	greetingd-src) config_greetingd 1 "$limits_sources"; "${on_server[@]}" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	nginx-src) config_nginx 1; "${on_server[@]}" "$NGINX" -c "$T/nginx.conf" & ;;
	greetingd-fl) config_greetingd 1 "$limits_flood"; "${on_server[@]}" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	# The same, its sockets made as a socket unit with ReceiveBuffer=8M would.
	greetingd-fl-rb) config_greetingd 1 "$limits_flood"; "${on_server[@]}" "$ACTIVATE" $((8 << 20)) 127.0.0.1 "$tcp" "$udp" "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	nginx-fl) config_nginx 1; "${on_server[@]}" "$NGINX" -c "$T/nginx.conf" & ;;
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

# CPU quota cgroups, cgroup v1 or v2, under $CG: p0, p1, p2, one per server
# process (saturated table); g0, g1 for the flood table's two generators.
# Each returns 1, leaving what it made for cgroup_remove, where it cannot (no
# controller, or a read-only cgroup tree as in some containers).
CG_V2=0
cgroup_base() { # makes $CG, once
	[ -z "$CG" ] || return 0
	if [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
		CG=/sys/fs/cgroup/cpu/greetingd-bench.$$
	elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		CG=/sys/fs/cgroup/greetingd-bench.$$ CG_V2=1
	else
		return 1
	fi
	mkdir "$CG" 2>/dev/null || { CG=; return 1; }
	[ "$CG_V2" = 0 ] || echo +cpu >"$CG/cgroup.subtree_control" 2>/dev/null
}
cgroup_group() { # NAME QUOTA_US PERIOD_US
	{
		mkdir "$CG/$1" || return 1
		if [ "$CG_V2" = 1 ]; then
			echo "$2 $3" >"$CG/$1/cpu.max"
		else
			echo "$3" >"$CG/$1/cpu.cfs_period_us" && echo "$2" >"$CG/$1/cpu.cfs_quota_us"
		fi
	} 2>/dev/null
}
cgroup_create() { # QUOTA_US PERIOD_US: p0, p1, p2
	local i
	cgroup_base || return 1
	for i in 0 1 2; do
		cgroup_group "p$i" "$1" "$2" || return 1
	done
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
	while ! rmdir "$CG"/[pg]* "$CG" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
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
if [ "$sat" = 0 ]; then
	saturated=()
elif cgroup_create 5000 50000; then
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

# Under a flood (--flood). The server runs on CPU 0, alone, as in the pinned
# table; the measured source (127.1.0.1-16, one /24, limit-exempt) and the
# flood (127.0.0.2-17: one /24, limited) run on CPU 1, each in a cgroup held
# to half of it. Without the flood the measured generator keeps its half and
# CPU 1's other half is idle, so that both measurements give it the same
# CPU and the ratio shows only what the flood costs the server.
# Each of TCP and UDP: the measured run alone, and with the flood, the order
# swapped every round. The flood is greetload -f: TCP, 256 connections in
# flight, each replaced as soon as it is answered or refused; UDP, batches of
# 64 empty datagrams as fast as sendmmsg takes them.
GEN_CG=
gen() { # CGROUP GREETLOAD-ARGS...: greetload on the load's CPU, in $GEN_CG/CGROUP if any
	local g=$1
	shift
	if [ -n "$GEN_CG" ]; then
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$GEN_CG/$g" "${on_load[@]}" "$LOAD" "$@"
	else
		"${on_load[@]}" "$LOAD" "$@"
	fi
}
flood_start() { # tcp|udp PORT: until greetload -f says it is flooding
	mkfifo "$T/flood.in"
	gen g1 "$1" 127.0.0.1 "$2" "$T/greeting" -f -b 127.0.0.2 -s 16 -c 256 -d 3600 <"$T/flood.in" >"$T/flood.out" &
	FLOOD=$!
	exec 8>"$T/flood.in"
	until grep -q flooding "$T/flood.out" 2>/dev/null; do
		kill -0 "$FLOOD" 2>/dev/null || { echo "bench: the flood did not start: $(cat "$T/flood.out")" >&2; exit 1; }
		tick
	done
}
flood_stop() { # its figures are the last line of $T/flood.out
	exec 8>&-
	wait "$FLOOD" || { echo "bench: flood: $(cat "$T/flood.out")" >&2; exit 1; }
	FLOOD=
	rm -f "$T/flood.in"
}
cpu0_ticks() { # busy (user nice system irq softirq steal) and steal ticks of CPU 0, from /proc/stat
	awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 + $9, $9 }' /proc/stat
}
# flood_measure SERVER ROUND
flood_measure() {
	local s=$1 proto port with out before after n busy0 steal0 busy1 steal1
	local -A rate
	start "$s"
	for proto in tcp udp; do
		port=$tcp
		[ "$proto" = tcp ] || port=$udp
		for with in $(if [ "$smoke" = 1 ]; then echo 1; elif [ $(($2 % 2)) = 1 ]; then echo 0 1; else echo 1 0; fi); do
			n=$proto
			[ "$with" = 0 ] || { n=${proto}_flood; flood_start "$proto" "$port"; }
			before=$(cpu_ticks)
			read -r busy0 steal0 < <(cpu0_ticks)
			out=$(gen g0 "$proto" 127.0.0.1 "$port" "$T/greeting" -b 127.1.0.1 -s 16 -c 64 -d "$seconds") ||
				{ echo "bench: $s: $out" >&2; exit 1; }
			read -r busy1 steal1 < <(cpu0_ticks)
			after=$(cpu_ticks)
			# CPU 0's time taken by anything but the server (other people's
			# work on a shared machine; the hypervisor's steal).
			record "$s" "${n}_cpu0_others_pct" $(((busy1 - busy0 - (after - before)) * 100 / (seconds * $(getconf CLK_TCK))))
			record "$s" "${n}_cpu0_steal_pct" $(((steal1 - steal0) * 100 / (seconds * $(getconf CLK_TCK))))
			rate[$with]=$(echo "$out" | field rate)
			record "$s" "${n}_per_s" "${rate[$with]}"
			record "$s" "${n}_p99_us" "$(echo "$out" | field p99_us)"
			[ "$proto" = tcp ] || record "$s" "${n}_lost" "$(echo "$out" | field lost)"
			record "$s" "${n}_server_cpu_pct" $(((after - before) * 100 / (seconds * $(getconf CLK_TCK))))
			record "$s" "${n}_load_cpu_pct" "$(echo "$out" | awk '{ sub(/.*cpu_us=/, ""); sub(/ .*/, ""); print int($1 / 10000 / '"$seconds"') }')"
			[ "$with" = 1 ] || continue
			flood_stop
			tail -n 1 "$T/flood.out" | awk -v s="$s" -v p="$proto" -v r="$flood_rate" -v b="$flood_burst" '{
				for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
				replies = f["ok"] + f["dropped"]; secs = f["elapsed_us"] / 1e6
				# The bucket: burst tokens, and rate more a second; one more for
				# a reply read after the window closed.
				allowed = int(b + r * secs) + 1
				printf "%s flood_%s_sent_per_s %d\n", s, p, f["sent_rate"]
				printf "%s flood_%s_load_cpu_pct %d\n", s, p, f["cpu_us"] / f["elapsed_us"] * 100
				printf "%s flood_%s_replies_per_s %.1f\n", s, p, replies / secs
				printf "%s flood_%s_replies %d\n", s, p, replies
				printf "%s flood_%s_replies_allowed %d\n", s, p, allowed
				printf "%s flood_%s_held %d\n", s, p, replies <= allowed
			}' >>"$T/results"
		done
		[ "$smoke" = 1 ] || record "$s" "${proto}_flood_ratio" "$(awk -v a="${rate[1]}" -v b="${rate[0]}" 'BEGIN { printf "%.3f", a / b }')"
	done
	stop
}
if [ "$flood" = 1 ]; then
	[ ! -e "$T/results" ] || mv "$T/results" "$T/results.before-flood"
	flood_servers=(greetingd-fl greetingd-fl-rb nginx-fl)
	[ "$smoke" = 0 ] || flood_servers=(greetingd-fl)
	if [ "$smoke" = 0 ] && [ ${#on_load[@]} -gt 0 ] && cgroup_base && cgroup_group g0 5000 10000 && cgroup_group g1 5000 10000; then
		GEN_CG=$CG
	fi
	for r in $(seq 1 "$rounds"); do
		n=${#flood_servers[@]}
		for i in $(seq 0 $((n - 1))); do
			flood_measure "${flood_servers[$(((i + r - 1) % n))]}" "$r"
		done
	done
	if [ "$smoke" = 0 ]; then
		echo "under a flood: $rounds rounds of ${seconds}s; the server on CPU 0; the measured source (127.1.0.1-16, 64 in flight) and the flood (127.0.0.2-17, greetload -f) on CPU 1$([ -z "$GEN_CG" ] || echo ", each held to half of it by a cgroup CPU quota")"
		echo "greetingd-fl: $(printf "$limits_flood" | paste -sd ';'); greetingd-fl-rb: the same, its UDP socket with an 8 MiB receive buffer (bench/activate); nginx-fl: nginx-1's config, no per-source limit"
		table "$T/results" "${flood_servers[*]}" ""
		# Each round's ratios beside the share of CPU 0 others took under the
		# flood: whether a low ratio is the server's or the machine's.
		echo "per round (rounds in order): with/without ratio [CPU 0 % taken by others under the flood]"
		awk '$2 ~ /^(tcp|udp)_flood_(ratio|cpu0_others_pct)$/ { v[$1, $2] = v[$1, $2] " " $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
			END {
				for (i = 1; i <= n; i++) for (p = 0; p < 2; p++) {
					proto = p ? "udp" : "tcp"
					k = split(v[order[i], proto "_flood_ratio"], r, " "); split(v[order[i], proto "_flood_cpu0_others_pct"], o, " ")
					line = sprintf("  %-16s %s", order[i], proto)
					for (j = 1; j <= k; j++) line = line sprintf("  %.2f [%d]", r[j], o[j])
					print line
				}
			}' "$T/results"
		awk '$1 ~ /^greetingd-fl/ && $2 ~ /^flood_.*_held$/ { n++; if ($3 == 0) bad++ }
			END { printf "greetingd-fl, -fl-rb: the flood got no more replies than rate + burst allow in %d of %d runs%s\n", n - bad, n, bad ? ": NOT HELD" : "" }' "$T/results"
		echo
	fi
	mv "$T/results" "$T/results.flood"
	[ ! -e "$T/results.before-flood" ] || mv "$T/results.before-flood" "$T/results"
fi

# 1,000,000 distinct sources (--sources): RSS before and after, and the
# datagrams the kernel delivered to the server or dropped at its socket
# (this namespace's /proc/net/snmp: nothing else runs in it).
udp_snmp() { # InDatagrams RcvbufErrors
	awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) n[$i] = i; h = 1 } else { print $n["InDatagrams"], $n["RcvbufErrors"]; exit } }' /proc/net/snmp
}
sources_measure() {
	local s=$1 rss _ in0 err0 in1 err1 ok=0
	start "$s"
	read -r rss _ < <(memory_kib)
	record "$s" rss_before_kib "$rss"
	read -r in0 err0 < <(udp_snmp)
	"${on_load[@]}" "$TESTTOOL" udp-spoof-flood 127.0.0.1 "$udp" 1000000 >/dev/null
	read -r in1 err1 < <(udp_snmp)
	read -r rss _ < <(memory_kib)
	record "$s" rss_after_kib "$rss"
	record "$s" datagrams_delivered $((in1 - in0))
	record "$s" datagrams_dropped_at_socket $((err1 - err0))
	# Another source, and an old one (127.0.0.1 greeted at start), still answered.
	if "$top_builddir/greet" -w 2s -u --source 127.0.0.2 127.0.0.1 "$udp" 2>/dev/null | cmp -s - "$T/greeting" &&
		"$top_builddir/greet" -w 2s -u 127.0.0.1 "$udp" 2>/dev/null | cmp -s - "$T/greeting" &&
		"$top_builddir/greet" -w 2s 127.0.0.1 "$tcp" 2>/dev/null | cmp -s - "$T/greeting"; then
		ok=1
	fi
	record "$s" others_answered_after "$ok"
	stop
}
if [ "$sources" = 1 ]; then
	[ ! -e "$T/results" ] || mv "$T/results" "$T/results.before-sources"
	src_servers=(greetingd-src nginx-src)
	for r in $(seq 1 "$rounds"); do
		for i in 0 1; do
			sources_measure "${src_servers[$(((i + r - 1) % 2))]}"
		done
	done
	echo "1,000,000 distinct spoofed sources: $rounds rounds; testtool udp-spoof-flood (127.1.0.0 and up, port 40000, one byte each), in a network namespace"
	echo "greetingd-src: $(printf "$limits_sources" | paste -sd ';') (datagrams: rate 20, burst 40); nginx-src: nginx-1's config"
	table "$T/results" "${src_servers[*]}" ""
	echo
	mv "$T/results" "$T/results.sources"
	[ ! -e "$T/results.before-sources" ] || mv "$T/results.before-sources" "$T/results"
fi

if [ "$smoke" = 1 ]; then
	echo "bench smoke: every reply byte-exact"
	awk '$2 == "tcp_per_s" || $2 == "udp_per_s" { printf "  %-12s %-10s %s\n", $1, $2, $3 }' "$T/results"
	if [ "$flood" = 1 ]; then
		awk '$2 ~ /_flood_per_s$|^flood_.*_(sent_per_s|replies|replies_allowed|held)$/ { printf "  %-12s %-26s %s\n", $1, $2, $3 }' "$T/results.flood"
		awk '$2 ~ /^flood_.*_held$/ && $3 == 0 { bad = 1 } END { exit bad }' "$T/results.flood" ||
			{ echo "bench: the flood got more replies than rate + burst allow" >&2; exit 1; }
	fi
elif [ ${#saturated[@]} -gt 0 ]; then
	echo "saturated: every server process held to 10% of CPU 0 by a cgroup CPU quota; the load generator on CPU 1"
	table "$T/results" "${saturated[*]}" "$ratios"
fi
