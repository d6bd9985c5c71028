# broker_lib.sh — helpers for the broker's end-to-end tests (sourced after lib.sh): a vdi-server on a
# configuration of the test's own with its data in $WORK/data, real clients (rdppixels, vncpixels), the
# state store read with sqlite3, the desktops' screens and serial consoles, and a clean-up that kills
# vdi-server and every vdi-vmm it started (they outlive vdi-server by design).
need_kvm
command -v sqlite3 >/dev/null || skip "the sqlite3 command is not installed"
SERVER=$PWD/build/bin/vdi-server
RDPPIXELS=$PWD/build/tests/tools/rdppixels
VNCPIXELS=$PWD/build/tests/tools/vncpixels
AUTHCHECK=$PWD/build/tests/tools/authcheck
for _b in "$SERVER" "$VMM" "$RDPPIXELS" "$VNCPIXELS" "$AUTHCHECK"; do
	[ -x "$_b" ] || fail "$_b is not built (make all)"
done
DATA=$WORK/data
RUN=$DATA/run
RDP_PORT=$((31000 + ($$ % 1000) * 2))
VNC_PORT=$((RDP_PORT + 1))
W=1024 H=768
server=""

# The VMMs of this test: every vdi-vmm whose command line names this run directory (the store's
# pids may be stale after a crash), and those the store lists.
broker_vmm_pids() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "--control $RUN/" && echo "${p#/proc/}"
	done
	[ -f "$DATA/vdi.db" ] && sqlite3 "$DATA/vdi.db" 'SELECT vmm_pid FROM desktops WHERE vmm_pid > 0' 2>/dev/null |
		while read -r p; do
			tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q -- "--control $RUN/" && echo "$p"
		done
}
broker_cleanup() {
	[ -n "$server" ] && { kill -9 "$server"; wait "$server"; } 2>/dev/null
	local pids
	pids=$(broker_vmm_pids | sort -u)
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
	kill $(jobs -p) 2>/dev/null
	# For a look at the pictures and logs after a run: KEEP_WORK=DIR.
	[ -n "${KEEP_WORK:-}" ] && cp -r "$WORK" "$KEEP_WORK"
	rm -rf "$WORK"
}
trap broker_cleanup EXIT

# users USER:PASS[:GROUPS]...: adds users to the file backend's $WORK/users.
users() {
	local args=() u
	for u in "$@"; do args+=(--add "$u"); done
	"$AUTHCHECK" --backend file --users "$WORK/users" "${args[@]}" </dev/null >/dev/null ||
		fail "authcheck could not add $*"
}

# config [AUTH-LINES]: writes $WORK/vdi.ini's [server], [auth] (the users file, then AUTH-LINES) and
# [api] sections; the test appends its [pool:NAME] sections.
config() {
	cat >"$WORK/vdi.ini" <<EOF
# written by $(basename "$0")
[server]
data_dir = $DATA
bind = 127.0.0.1
rdp_port = $RDP_PORT
vnc_port = $VNC_PORT
greeter_size = ${W}x$H

[auth]
users_file = $WORK/users
${1:-}

[api]
listen = off

EOF
}

# start_broker [LOG]: vdi-server on $WORK/vdi.ini, output in $WORK/LOG.out (default server), pid in
# $server; returns once both ports listen. ENV_PREFIX (an array) goes before the command (LD_PRELOAD...).
start_broker() {
	local log=$WORK/${1:-server}.out i
	env "${ENV_PREFIX[@]}" "$SERVER" --config "$WORK/vdi.ini" >"$log" 2>&1 &
	server=$!
	for ((i = 0; i < 200; i++)); do
		if grep -q 'vdi-server ready' "$log" && ss -Htln "sport = :$RDP_PORT" | grep -q . &&
			ss -Htln "sport = :$VNC_PORT" | grep -q .; then
			return 0
		fi
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log"
	fail "vdi-server did not start"
}
ENV_PREFIX=()

# sql QUERY: the state store's answer (columns separated by |).
sql() { sqlite3 -cmd '.timeout 5000' "$DATA/vdi.db" "$1"; }
# wait_sql QUERY EXPECTED SECONDS: until QUERY answers EXPECTED.
wait_sql() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(sql "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# wait_running N: until N desktops are running.
wait_running() {
	wait_sql "SELECT count(*) FROM desktops WHERE state = 'running'" "$1" 30 ||
		{ sql 'SELECT name, state, vmm_pid FROM desktops'; fail "not $1 desktops running"; }
}
# audit_count WHERE: audit records matching the SQL condition.
audit_count() { sql "SELECT count(*) FROM audit WHERE $1"; }
# wait_audit WHERE [SECONDS]: until an audit record matches.
wait_audit() {
	local i
	for ((i = 0; i < ${2:-20} * 10; i++)); do
		[ "$(audit_count "$1" 2>/dev/null)" -gt 0 ] 2>/dev/null && return 0
		sleep 0.1
	done
	dump_audit
	fail "no audit record where $1"
}
dump_audit() { sql "SELECT id, event, user, address, pool, desktop, detail FROM audit ORDER BY id"; }
# desktop_of USER: the desktop assigned to USER (one line per desktop).
desktop_of() { sql "SELECT name FROM desktops WHERE assigned_user = '$1' ORDER BY name"; }
vmm_pid_of() { sql "SELECT vmm_pid FROM desktops WHERE name = '$1'"; }

# rdp NAME [--user U --pass P] ACTIONS...: rdppixels at W x H, its output in $WORK/NAME.out; fails the
# test when the client fails. The clock at the taskbar's right end is ignored by its waits.
rdp() {
	local name=$1; shift
	timeout -k 5 60 "$RDPPIXELS" --host 127.0.0.1 --port $RDP_PORT --size ${W}x$H \
		--ignore $((W - 130)),$((H - 48)),130,48 "$@" >"$WORK/$name.out" 2>&1 ||
		{ tail -20 "$WORK/$name.out"; tail -30 "$WORK/server.out"; fail "rdppixels ($name) failed"; }
}
# vnc NAME ACTIONS...: vncpixels (Raw, lossless), its output in $WORK/NAME.out and its latest frame in
# $WORK/NAME.ppm.
vnc() {
	local name=$1; shift
	timeout -k 5 60 "$VNCPIXELS" -e raw "$@" 127.0.0.1 $VNC_PORT "$WORK/$name.ppm" >"$WORK/$name.out" 2>&1 ||
		{ cat "$WORK/$name.out"; tail -30 "$WORK/server.out"; fail "vncpixels ($name) failed"; }
}

# dctl DESKTOP ARGS...: vdi-vmm ctl on the desktop's control socket.
dctl() { local d=$1; shift; "$VMM" ctl "$RUN/$d.sock" "$@"; }
# serial DESKTOP: its serial console file.
serial() { echo "$RUN/$1.serial"; }
# wait_serial DESKTOP REGEX [SECONDS]
wait_serial() {
	wait_for "$(serial "$1")" "$2" "${3:-20}" || { tail -5 "$(serial "$1")"; fail "$1's console lacks /$2/"; }
}

# screen_diff PNG DESKTOP: pixels of the client's picture that differ from the desktop's screen now,
# everywhere but the ticking clock at the taskbar's right end; the screenshot in $WORK/DESKTOP-now.png.
screen_diff() {
	dctl "$2" screenshot "$WORK/$2-now.png" >/dev/null || fail "screenshot of $2 failed"
	[ "$(pngstat size "$1")" = "$(pngstat size "$WORK/$2-now.png")" ] || { echo 999999; return; }
	echo $(($(pngstat diff "$1" "$WORK/$2-now.png" 0 0 $W $((H - 48))) + \
		$(pngstat diff "$1" "$WORK/$2-now.png" 0 $((H - 48)) $((W - 130)) 48)))
}
# shows PNG DESKTOP WHAT: the client's picture is the desktop's screen, pixel for pixel.
shows() {
	local d
	d=$(screen_diff "$1" "$2")
	echo "$3: $d pixels differ from $2's screen"
	[ "$d" = 0 ] || fail "$3: the client's picture is not $2's screen"
}
# pixels of the greeter's error colour (COL_ERROR in broker/greeter.c): a red message is shown.
error_pixels() { pngcount "$1" 198 40 40; }
# pngcount PNG R G B: pixels of exactly that colour.
pngcount() {
	python3 - "$@" <<'EOF'
import sys
src = open("tests/integration/pngstat.py").read().replace("\nmain()\n", "\n")
exec(compile(src, "pngstat.py", "exec"))
w, h, rows = read_png(sys.argv[1])
want = bytes(int(v) for v in sys.argv[2:5])
print(sum(row[i:i + 3] == want for row in rows for i in range(0, w * 3, 3)))
EOF
}
# pngbox A B: the bounding box "X Y W H" of the pixels that differ, or "none".
pngbox() {
	python3 - "$@" <<'EOF'
import sys
src = open("tests/integration/pngstat.py").read().replace("\nmain()\n", "\n")
exec(compile(src, "pngstat.py", "exec"))
wa, ha, ra = read_png(sys.argv[1])
wb, hb, rb = read_png(sys.argv[2])
if (wa, ha) != (wb, hb):
    sys.exit("sizes differ")
xs, ys = [], []
for y in range(ha):
    if ra[y] != rb[y]:
        cols = [x for x in range(wa) if ra[y][x * 3:x * 3 + 3] != rb[y][x * 3:x * 3 + 3]]
        xs += [cols[0], cols[-1]]
        ys.append(y)
print(f"{min(xs)} {min(ys)} {max(xs) - min(xs) + 1} {max(ys) - min(ys) + 1}" if ys else "none")
EOF
}
# ppm2png PPM PNG
ppm2png() { convert "$1" "PNG24:$2" || fail "convert $1 failed"; }
command -v convert >/dev/null || skip "ImageMagick (convert) is not installed"

# login NAME USER [TEXT]: an RDP session of USER (password pw-USER, sent by the client) that types TEXT
# on the desktop it lands on and closes; its last picture in $WORK/NAME.png.
login() {
	local name=$1 user=$2 text=${3:-} typing=()
	[ -n "$text" ] && typing=(--type "$text" --sleep 1)
	rdp "$name" --user "$user" --pass "pw-$user" --sleep 2 "${typing[@]}" --wait-stable 1 --png "$WORK/$name.png"
}
# logged_off USER: until USER's session has ended (its disconnect timeout passed) and been logged off.
logged_off() {
	wait_audit "event = 'session_end' AND user = '$1'" 20
	wait_audit "event = 'logoff' AND user = '$1'" 5
}
# error_width PNG: how wide the greeter's red message is, in pixels (0: none). A message cut to fit ends
# in "..." at the full width of the greeter's fields.
error_width() {
	python3 - "$1" <<'PY'
import sys
src = open("tests/integration/pngstat.py").read().replace("\nmain()\n", "\n")
exec(compile(src, "pngstat.py", "exec"))
w, h, rows = read_png(sys.argv[1])
red = bytes((198, 40, 40))
xs = [x for row in rows for x in range(w) if row[x * 3:x * 3 + 3] == red]
print(max(xs) - min(xs) + 1 if xs else 0)
PY
}
