#!/bin/bash
# log-clients = yes: one access line per client when it ends, in the form
# greetingd.conf(5) promises (ACCESS LINES), for every way a client ends;
# none for a listener without it; not rate-limited like the other
# per-client lines. Each 127.0.0.x is a source of its own (source-prefix4 =
# 32, limit-exempt emptied).
. "$top_srcdir/tests/lib.sh"

head -c 1048576 <(yes 'A greeting far larger than any socket buffer.') >"$T/big.txt"
printf 'Thank you for connecting\n' >"$T/want"
cat >"$T/a.conf" <<CONF
[greetingd]
log-clients = yes
limit-exempt =
source-prefix4 = 32

[seed]
host = 127.0.0.1
port = 0
deny = 127.0.0.2
rate = 1
rate-burst = 1

[six]
host = ::1
port = 0

[big]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 300ms
max-clients-per-source = 1

[slowpoke]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
deadline = 600ms

[hold]
host = 127.0.0.1
port = 0
greeting-file = $T/big.txt
timeout = 60s

[udp]
type = dgram
host = 127.0.0.1
port = 0
max-amplification = 1

[local]
path = $T/local.sock

[ud]
type = dgram
path = $T/ud.sock

[quiet]
host = 127.0.0.1
port = 0
log-clients = no
CONF
start_daemon "$T/a.conf"
seed=$(port_of seed) big=$(port_of big) udp=$(port_of udp)

# line TEXT REGEX [N]: waits for N lines (default 1) holding TEXT; the last
# of them must match REGEX (an extended regex, the whole line). Prints it.
line() {
	local l
	l=$("$TESTTOOL" wait-file "$DAEMON_LOG" "$1" 10 "${3:-1}") || fail "no access line with '$1'"
	l=${l%$'\n'}
	grep -Exq "$2" <<<"$l" || fail "'$l' is not like '$2'"
	printf '%s\n' "$l"
}
# ms LINE: its milliseconds.
ms() { sed -n 's/.* in \([0-9]*\) ms$/\1/p' <<<"$1"; }

expect_greeting "$T/want" --source 127.0.0.3 127.0.0.1 "$seed"
line '[seed] client 127.0.0.3 ' '\[seed\] client 127\.0\.0\.3 port [0-9]+: greeted, 25 bytes in 0 ms' >/dev/null
"$GREET" -w 5s --source 127.0.0.3 127.0.0.1 "$seed" >"$T/got" || fail "greet failed"
[ ! -s "$T/got" ] || fail "a client over its rate was greeted"
line ': rate-limited,' '\[seed\] client 127\.0\.0\.3 port [0-9]+: rate-limited, 0 bytes in 0 ms' >/dev/null
"$GREET" -w 5s --source 127.0.0.2 127.0.0.1 "$seed" >/dev/null || fail "greet failed"
line '[seed] client 127.0.0.2 ' '\[seed\] client 127\.0\.0\.2 port [0-9]+: denied, 0 bytes in 0 ms' >/dev/null
expect_greeting "$T/want" ::1 "$(port_of six)"
line '[six] client ' '\[six\] client ::1 port [0-9]+: greeted, 25 bytes in 0 ms' >/dev/null
expect_greeting "$T/want" --unix "$T/local.sock"
line '[local] client ' '\[local\] client - port -: greeted, 25 bytes in 0 ms' >/dev/null
pass "greeted, denied and rate-limited clients: address, port, bytes, milliseconds"

# Datagrams: one line for each answered or refused.
"$TESTTOOL" udp 127.0.0.1 "$udp" 30 "$T/want" >/dev/null || fail "a 30-byte datagram was not answered"
line '[udp] datagram from ' '\[udp\] datagram from 127\.0\.0\.1 port [0-9]+: greeted, 25 bytes in 0 ms' >/dev/null
"$GREET" -w 1s -u 127.0.0.1 "$udp" >/dev/null 2>&1 && fail "an empty datagram was answered over max-amplification"
line ': too-small,' '\[udp\] datagram from 127\.0\.0\.1 port [0-9]+: too-small, 0 bytes in 0 ms' >/dev/null
"$TESTTOOL" udp-from 127.0.0.1 53 127.0.0.1 "$udp" send >/dev/null || fail "udp-from failed"
line ': bad-source,' '\[udp\] datagram from 127\.0\.0\.1 port 53: bad-source, 0 bytes in 0 ms' >/dev/null
"$TESTTOOL" send-from "$T/peer.sock" "$T/ud.sock" || fail "send-from failed"
line '[ud] datagram from ' "\[ud\] datagram from ${T//./\\.}/peer\.sock port -: failed, 0 bytes in 0 ms" >/dev/null
# A space in a peer's path is escaped too: the path stays one word.
"$TESTTOOL" send-from "$T/a peer.sock" "$T/ud.sock" || fail "send-from failed"
line 'a\x20peer' "\[ud\] datagram from ${T//./\\.}/a\\\\x20peer\.sock port -: failed, 0 bytes in 0 ms" >/dev/null
pass "datagrams: greeted, too-small, bad-source, failed"

# A client that stops reading, one that reads too slowly for its deadline,
# one over max-clients-per-source.
"$TESTTOOL" stall 127.0.0.1 "$big" 1 10 >/dev/null || fail "the stalled client was not dropped"
l=$(line ': timed-out,' '\[big\] client 127\.0\.0\.1 port [0-9]+: timed-out, [0-9]+ bytes in [0-9]+ ms')
[ "$(ms "$l")" -ge 290 ] && [ "$(ms "$l")" -lt 5000 ] || fail "timed out after 300ms, yet: $l"
"$TESTTOOL" slow 127.0.0.1 "$(port_of slowpoke)" "$T/big.txt" >/dev/null 2>&1 && fail "a slow reader got 1 MiB within a 600ms deadline"
l=$(line ': deadline,' '\[slowpoke\] client 127\.0\.0\.1 port [0-9]+: deadline, [0-9]+ bytes in [0-9]+ ms')
[ "$(ms "$l")" -ge 590 ] && [ "$(ms "$l")" -lt 5000 ] || fail "dropped at its 600ms deadline, yet: $l"
TESTTOOL_SOURCE=127.0.0.5 "$TESTTOOL" stall 127.0.0.1 "$big" 2 10 >/dev/null || fail "stalled clients were not dropped"
line ': limited,' '\[big\] client 127\.0\.0\.5 port [0-9]+: limited, 0 bytes in 0 ms' >/dev/null
line ': timed-out,' '\[big\] client 127\.0\.0\.5 port [0-9]+: timed-out, [0-9]+ bytes in [0-9]+ ms' 2 >/dev/null
pass "timed-out, deadline and limited clients, with the time they took"

# Not rate-limited: 30 refusals make 30 access lines, while the refusal
# lines stop at 10 in 5 s.
for i in $(seq 30); do
	"$GREET" -w 5s --source 127.0.0.2 127.0.0.1 "$seed" >/dev/null || fail "greet failed"
done
"$TESTTOOL" wait-file "$DAEMON_LOG" '[seed] client 127.0.0.2 port' 10 31 >/dev/null || fail "fewer than 31 denied access lines"
[ "$(grep -c '^\[seed\] client 127\.0\.0\.2:[0-9]* denied$' "$DAEMON_LOG")" -le 10 ] || fail "the refusal lines were not limited"
pass "access lines are not rate-limited"

# But a refused datagram's are: its source may be forged, and a flood of
# them must not flood the log. 30 from a port below 1024 are all counted,
# and logged within the per-client limit.
for i in $(seq 30); do
	"$TESTTOOL" udp-from 127.0.0.1 53 127.0.0.1 "$udp" send >/dev/null || fail "udp-from failed"
done
kill -USR1 "$DAEMON_PID"
"$TESTTOOL" wait-file "$DAEMON_LOG" '[udp] accepted 33, ' 10 >/dev/null || fail "the 30 datagrams were not all counted"
n=$(grep -c '^\[udp\] datagram from 127\.0\.0\.1 port 53: bad-source' "$DAEMON_LOG")
[ "$n" -le 11 ] || fail "$n access lines for 31 refused datagrams: not limited"
pass "a refused datagram's access lines are rate-limited ($n of 31)"

# A client still in flight at the stop: cut at the 5 s stop deadline.
expect_greeting "$T/want" 127.0.0.1 "$(port_of quiet)"
"$TESTTOOL" stall 127.0.0.1 "$(port_of hold)" 1 30 >"$T/hold.out" &
hold=$!
PIDS+=("$hold")
for i in $(seq 20); do # until the server has accepted it: each SIGUSR1 logs the count
	kill -USR1 "$DAEMON_PID"
	"$TESTTOOL" wait-file "$DAEMON_LOG" '[hold] accepted 1,' 1 >/dev/null 2>&1 && break
done
grep -q '^\[hold\] accepted 1,' "$DAEMON_LOG" || fail "the held client was not accepted"
stop_daemon
kill "$hold"
line ': stopped,' '\[hold\] client 127\.0\.0\.1 port [0-9]+: stopped, [0-9]+ bytes in [0-9]+ ms' >/dev/null
grep '^\[quiet\] client' "$DAEMON_LOG" && fail "an access line with log-clients = no"
pass "a client still in flight at the stop; no line with log-clients = no"
