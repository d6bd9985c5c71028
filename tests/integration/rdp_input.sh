#!/usr/bin/env bash
# Input from a libfreerdp client (rdppixels) to the test drawing server
# (tests/tools/drawserver.c), which prints what reaches its surface as
# Linux evdev codes: scancodes with extended keys and a chord, pointer
# moves and buttons, vertical and horizontal wheel, and unicode events
# mapped to US keys with shift where the character needs it.
source "$(dirname "$0")/lib.sh"
DRAW=build/tests/tools/drawserver
RDPPIXELS=build/tests/tools/rdppixels
[ -x $DRAW ] || fail "$DRAW is not built"
[ -x $RDPPIXELS ] || fail "$RDPPIXELS is not built"

port=$((28900 + $$ % 1000))
mkfifo "$WORK/cmd"
$DRAW --rdp-port $port --data-dir "$WORK/data" --size 800x600 <"$WORK/cmd" >"$WORK/draw.out" 2>"$WORK/draw.err" &
DRAW_PID=$!
exec 3>"$WORK/cmd"
wait_for "$WORK/draw.out" '^ready$' 20 || { cat "$WORK/draw.err"; fail "drawserver did not start"; }

# One client per kind of input, so that a kind the server refuses does not hide the others.
# send NAME ARGS...: a connected client sends ARGS, then lingers so they arrive.
send() {
	local name=$1; shift
	from=$(($(wc -l <"$WORK/draw.out") + 1))
	timeout -k 5 60 $RDPPIXELS --port $port --size 800x600 --no-gfx --wait-stable 0.2 "$@" --sleep 0.5 \
		>"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out" "$WORK/draw.err"; fail "rdppixels ($name) failed"; }
}
# expect_lines NAME PREFIX EXPECTED: the lines drawserver printed for the last client starting with PREFIX,
# joined with commas.
expect_lines() {
	local got
	got=$(tail -n +$from "$WORK/draw.out" | grep -E "^($2) " | paste -sd, -)
	[ "$got" = "$3" ] || {
		grep -i 'not supported\|warn' "$WORK/$1.out"
		fail "$1: expected '$3', got '${got:-nothing}'"
	}
	echo "$1: $got"
}

send keys --key ctrl+alt+delete --type "aZ" --key f5 --key right
expect_lines keys key "key 29 down,key 56 down,key 111 down,key 111 up,key 56 up,key 29 up,\
key 30 down,key 30 up,key 42 down,key 44 down,key 44 up,key 42 up,key 63 down,key 63 up,key 106 down,key 106 up"

send pointer --pointer 100,200 --click 300,400,right --pointer 10,20,left --pointer 30,40,left --pointer 30,40
expect_lines pointer pointer "pointer 100 200 0,pointer 300 400 0,pointer 300 400 2,pointer 300 400 0,\
pointer 10 20 0,pointer 10 20 1,pointer 30 40 1,pointer 30 40 0"

send wheel --pointer 50,50 --wheel 2 --wheel -1
expect_lines wheel wheel "wheel 1 0,wheel 1 0,wheel -1 0"

send hwheel --pointer 50,50 --hwheel 1 --hwheel -1
expect_lines hwheel wheel "wheel 0 1,wheel 0 -1"

send unicode --unicode "A!é1"
expect_lines unicode key "key 42 down,key 30 down,key 30 up,key 42 up,key 42 down,key 2 down,key 2 up,key 42 up,\
key 2 down,key 2 up"

cmd() { echo "$*" >&3; }
cmd quit
wait $DRAW_PID || fail "drawserver did not stop cleanly"
