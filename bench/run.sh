#!/bin/bash
# bench/run.sh [--smoke] [--rounds N] [--seconds S]
#
# greetingd (1 worker; 2 workers) side by side with nginx's stream "return"
# (1 worker; 2 workers with reuseport) and refserver (epoll + accept4 + send + close: the limit),
# all on 127.0.0.1 with the same greeting, in interleaved rounds with the
# order rotated. Prints each figure's median (min-max over rounds) and its
# ratio to nginx with 1 worker and to refserver.
# --smoke: one short round that only checks every reply is byte-exact.
# Installs nginx-light and libnginx-mod-stream when missing (as root).
set -euo pipefail

rounds=3 seconds=5 smoke=0
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 rounds=1 seconds=1 ;;
	--rounds) rounds=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	*) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
	shift
done
top_builddir=${top_builddir:-$(pwd)}
GREETINGD=$top_builddir/greetingd
LOAD=$top_builddir/bench/greetload
REF=$top_builddir/bench/refserver
for p in "$GREETINGD" "$LOAD" "$REF"; do
	[ -x "$p" ] || { echo "bench: $p is missing: make bench builds it" >&2; exit 1; }
done
if [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light libnginx-mod-stream >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

T=$(mktemp -d /tmp/greetingd-bench.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
printf 'Thank you for connecting\n' >"$T/greeting"
tcp=$((30000 + RANDOM % 20000)) udp=$((tcp + 1))

config_greetingd() { # WORKERS
	printf '[greetingd]\nworkers = %s\ngreeting = Thank you for connecting\\n\n[tcp]\nhost = 127.0.0.1\nport = %s\n[udp]\ntype = dgram\nhost = 127.0.0.1\nport = %s\n' \
		"$1" "$tcp" "$udp" >"$T/greetingd.conf"
}
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
	greetingd) config_greetingd 1; "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	greetingd-2) config_greetingd 2; "$GREETINGD" -c "$T/greetingd.conf" --log-level warning & ;;
	nginx-1) config_nginx 1; "$NGINX" -c "$T/nginx.conf" & ;;
	nginx-2r) config_nginx 2 reuseport; "$NGINX" -c "$T/nginx.conf" & ;;
	refserver) "$REF" "$tcp" "$udp" "$T/greeting" >/dev/null & ;;
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

measure() {
	local s=$1 out before after rss pss
	start "$s"
	read -r rss pss < <(memory_kib)
	record "$s" "rss_idle_kib" "$rss"
	record "$s" "pss_idle_kib" "$pss"

	before=$(cpu_ticks)
	out=$("$LOAD" tcp 127.0.0.1 "$tcp" "$T/greeting" -c 64 -d "$seconds") || { echo "bench: $s: $out" >&2; exit 1; }
	after=$(cpu_ticks)
	record "$s" tcp_per_s "$(echo "$out" | field rate)"
	record "$s" tcp_p50_us "$(echo "$out" | field p50_us)"
	record "$s" tcp_p99_us "$(echo "$out" | field p99_us)"
	record "$s" tcp_per_cpu_s "$(echo "$out" | awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		'{ sub(/.*ok=/, ""); sub(/ .*/, ""); print (t > 0 ? int($1 / (t / hz)) : 0) }')"

	out=$("$LOAD" udp 127.0.0.1 "$udp" "$T/greeting" -c 64 -d "$seconds") || { echo "bench: $s: $out" >&2; exit 1; }
	record "$s" udp_per_s "$(echo "$out" | field rate)"
	record "$s" udp_lost "$(echo "$out" | field lost)"

	if [ "$smoke" = 0 ]; then
		hold 10000 "$tcp"
		read -r rss pss < <(memory_kib)
		record "$s" rss_10k_held_kib "$rss"
		release
	fi
	stop
}

# hold N: N clients that connect and never read, until release.
hold() {
	mkfifo "$T/hold.in"
	"$LOAD" hold 127.0.0.1 "$2" "$1" <"$T/hold.in" >"$T/hold.out" &
	HOLD=$!
	exec 7>"$T/hold.in"
	until grep -q held "$T/hold.out" 2>/dev/null; do
		kill -0 "$HOLD" 2>/dev/null || { echo "bench: hold failed" >&2; exit 1; }
		read -r -t 0.05 <>"$T/hold.in" || true # a short wait, not a sleep
	done
}
# until_fds N: until the server has N fds open (it holds its clients), or 60 s.
until_fds() {
	local deadline=$((SECONDS + 60))
	while [ "$(ls "/proc/$SPID/fd" | wc -l)" -lt "$1" ] && [ $SECONDS -lt $deadline ]; do
		read -r -t 0.05 <>"$T/hold.in" || true
	done
}
release() {
	exec 7>&-
	wait "$HOLD" || true
	rm -f "$T/hold.in"
}

# greetingd alone, with a 16 KiB greeting that no client takes at once: the
# cost of clients it must hold, and whether they slow the others down.
held_clients() {
	local before after rss
	head -c 16384 <(yes 'a greeting larger than the clients take') >"$T/big"
	printf '[greetingd]\ntimeout = 60s\n[small]\nhost = 127.0.0.1\nport = %s\n[big]\nhost = 127.0.0.1\nport = %s\ngreeting-file = %s\n' \
		"$tcp" "$udp" "$T/big" >"$T/held.conf"
	"$GREETINGD" -c "$T/held.conf" --log-level warning &
	SPID=$!
	until "$top_builddir/greet" -w 200ms 127.0.0.1 "$tcp" >/dev/null 2>&1; do :; done
	before=$("$LOAD" tcp 127.0.0.1 "$tcp" "$T/greeting" -c 64 -d "$seconds" | field rate)
	read -r rss _ < <(memory_kib)
	hold 10000 "$udp"
	until_fds 10000
	read -r after _ < <(memory_kib)
	release
	echo "greetingd, 16 KiB greeting: RSS ${rss} KiB idle, ${after} KiB holding 10000 clients that never read ($(((after - rss) * 1024 / 10000)) bytes each)"
	hold 1000 "$udp"
	until_fds 1000
	after=$("$LOAD" tcp 127.0.0.1 "$tcp" "$T/greeting" -c 64 -d "$seconds" | field rate)
	release
	echo "greetingd: $before greetings/s alone, $after while holding 1000 clients that never read ($(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a / b }') x)"
	stop
}

# The ratio columns take the 1st, 2nd and 4th: keep greetingd, nginx-1, _, refserver first.
servers=(greetingd nginx-1 nginx-2r refserver greetingd-2)
for r in $(seq 1 "$rounds"); do
	n=${#servers[@]}
	for i in $(seq 0 $((n - 1))); do
		measure "${servers[$(((i + r - 1) % n))]}"
	done
done

if [ "$smoke" = 1 ]; then
	echo "bench smoke: every reply byte-exact"
	awk '$2 == "tcp_per_s" || $2 == "udp_per_s" { printf "  %-10s %-10s %s\n", $1, $2, $3 }' "$T/results"
	exit 0
fi
echo "greetingd bench: $rounds rounds of ${seconds}s, 64 clients in flight; $(nproc) cores, $(uname -r)"
awk -v servers="${servers[*]}" '
	{ v[$1, $2] = v[$1, $2] " " $3; metrics[$2] = 1 }
	function median(list, a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		lo = a[1]; hi = a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		ns = split(servers, s, " ")
		order = "tcp_per_s tcp_per_cpu_s tcp_p50_us tcp_p99_us udp_per_s udp_lost rss_idle_kib pss_idle_kib rss_10k_held_kib"
		nm = split(order, m, " ")
		printf "%-18s", "figure"
		for (i = 1; i <= ns; i++) printf " %24s", s[i]
		printf " %10s %10s\n", "gd/nginx1", "gd/ref"
		for (k = 1; k <= nm; k++) {
			printf "%-18s", m[k]
			for (i = 1; i <= ns; i++) {
				med[i] = median(v[s[i], m[k]])
				printf " %24s", sprintf("%g (%g-%g)", med[i], lo, hi)
			}
			printf " %10s %10s\n", med[2] ? sprintf("%.2f", med[1] / med[2]) : "-", med[4] ? sprintf("%.2f", med[1] / med[4]) : "-"
		}
	}' "$T/results"
held_clients
