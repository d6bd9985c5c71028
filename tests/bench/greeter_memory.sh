#!/usr/bin/env bash
# greeter_memory.sh [--quiet] NVNC NRDP [--gfx]: vdi-server's memory for idle clients at its login
# screen. A fresh vdi-server (no pool, greeter 1024x768) is measured (RSS and Pss from
# /proc/PID/smaps_rollup) before, while NVNC VNC and NRDP RDP clients (greeter_crowd: whole
# handshakes, the picture received; RDP with the graphics pipeline with --gfx) are held, and after
# they closed. Prints the figures and the cost of one connection; --quiet prints one bench line.
# Not a test: nothing here passes or fails.
set -u
cd "$(dirname "$0")/../.."
quiet=false
[ "${1:-}" = --quiet ] && { quiet=true; shift; }
NVNC=${1:?NVNC} NRDP=${2:?NRDP} GFX=${3:-}
SERVER=build/bin/vdi-server
CROWD=build/tests/tools/greeter_crowd
for b in "$SERVER" "$CROWD"; do
	[ -x "$b" ] || { echo "greeter memory: $b is not built (make all)"; exit 0; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null
WORK=$(mktemp -d /tmp/vdi-bench.XXXXXX)
server=""
crowd=""
trap '[ -n "$crowd" ] && kill $crowd 2>/dev/null; [ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
RDP_PORT=$((33000 + ($$ % 1000) * 2))
VNC_PORT=$((RDP_PORT + 1))
cat >"$WORK/vdi.ini" <<EOF
[server]
data_dir = $WORK/data
bind = 127.0.0.1
rdp_port = $RDP_PORT
vnc_port = $VNC_PORT
vmm = $PWD/build/bin/vdi-vmm
greeter_size = 1024x768
max_connections = 20000
log_level = warn
[auth]
backend = file
[api]
listen = off
EOF
"$SERVER" --config "$WORK/vdi.ini" >"$WORK/server.out" 2>&1 &
server=$!
for ((i = 0; i < 300; i++)); do
	ss -Htln "sport = :$VNC_PORT" | grep -q . && ss -Htln "sport = :$RDP_PORT" | grep -q . && break
	sleep 0.1
done
# mem KEY: kB of RSS or Pss in vdi-server's smaps_rollup.
mem() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server/smaps_rollup"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
sleep 1
rss0=$(mem Rss) pss0=$(mem Pss)
mkfifo "$WORK/hold"
args=()
[ "$NVNC" -gt 0 ] && args+=(--vnc "$VNC_PORT" "$NVNC")
[ "$NRDP" -gt 0 ] && args+=(--rdp "$RDP_PORT" "$NRDP")
[ "$GFX" = --gfx ] && args+=(--gfx)
"$CROWD" "${args[@]}" <"$WORK/hold" >"$WORK/crowd.out" 2>&1 &
crowd=$!
exec 3>"$WORK/hold"
t0=$SECONDS
while kill -0 $crowd 2>/dev/null && ! grep -q '^holding' "$WORK/crowd.out"; do sleep 0.2; done
if ! grep -q '^holding' "$WORK/crowd.out"; then
	echo "greeter memory: the clients did not all get the login screen: $(cat "$WORK/crowd.out")"
	exit 0
fi
took=$((SECONDS - t0))
sleep 2
rss1=$(mem Rss) pss1=$(mem Pss)
exec 3>&-
wait $crowd
crowd=""
# The last connection's close trims the allocator's free memory back to the system.
sleep 3
rss2=$(mem Rss) pss2=$(mem Pss)
n=$((NVNC + NRDP))
per_rss=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n / 1024 }')
per_pss=$(awk -v a="$pss0" -v b="$pss1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n / 1024 }')
what="$NVNC VNC + $NRDP RDP${GFX:+ (GFX)}"
if $quiet; then
	printf '%-44s %s -> %s -> %s MiB RSS; %s MiB a connection | anchor: 9 MiB VNC, 16 MiB RDP before; issue 19: <= 1 MiB\n' \
		"vdi-server RSS, a flood of $n at the greeter" "$(mib "$rss0")" "$(mib "$rss1")" "$(mib "$rss2")" "$per_rss"
else
	echo "$what idle at the login screen (1024x768), connected in ${took}s:"
	echo "  before: RSS $(mib "$rss0") MiB, Pss $(mib "$pss0") MiB"
	echo "  held:   RSS $(mib "$rss1") MiB, Pss $(mib "$pss1") MiB"
	echo "  after:  RSS $(mib "$rss2") MiB, Pss $(mib "$pss2") MiB"
	echo "  a connection: RSS $per_rss MiB, Pss $per_pss MiB"
fi
