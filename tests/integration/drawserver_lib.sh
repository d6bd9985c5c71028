# drawserver_lib.sh — drawserver playing noisy video in a 640x360 region of a 1024x768 desktop, watched by one
# rdppixels client (its mode in the array CLIENT, say (--gfx --avc)) during the video and after it stops; sourced
# after lib.sh by the tests of RDP's codecs for video.
DRAW=build/tests/tools/drawserver
RDPPIXELS=build/tests/tools/rdppixels
[ -x $DRAW ] || fail "$DRAW is not built"
[ -x $RDPPIXELS ] || fail "$RDPPIXELS is not built"

W=1024 H=768
# drawserver's layout: the video 40 pixels in from the bottom right corner.
VX=$((W - 680)) VY=$((H - 400)) VW=640 VH=360

# close NAME LIMIT A B [X Y W H]: the mean absolute difference of each
# channel under LIMIT.
close() {
	local mad
	mad=$(pngstat mad "$3" "$4" "${@:5}")
	echo "$1: mean differences $mad"
	awk -v l="$2" '{ exit !($1 < l && $2 < l && $3 < l) }' <<<"$mad"
}

# run NAME exact|lossy [ENV...]: a drawserver with the video on, one client
# during it and after it stops; its pictures against drawserver's, exact
# or close, and its counters.
run() {
	local name=$1 how=$2 port=$((27900 + ($$ + RANDOM) % 1000)) c
	shift 2
	rm -f "$WORK/cmd"
	mkfifo "$WORK/cmd"
	env "$@" $DRAW --rdp-port $port --data-dir "$WORK/data" --size ${W}x$H <"$WORK/cmd" \
		>"$WORK/$name-draw.out" 2>"$WORK/$name-draw.err" &
	local draw=$!
	exec 3>"$WORK/cmd"
	wait_for "$WORK/$name-draw.out" '^ready$' 20 || { cat "$WORK/$name-draw.err"; fail "$name: drawserver did not start"; }
	echo "video on" >&3
	timeout -k 5 120 $RDPPIXELS --port $port --user tester --size ${W}x$H "${CLIENT[@]}" \
		--ignore $VX,$VY,$VW,$VH --sleep 3 --wait-stable 1 --png "$WORK/$name-video.png" \
		--ignore none --sleep 1 --wait-stable 1 --png "$WORK/$name-still.png" --stats >"$WORK/$name.out" 2>&1 &
	c=$!
	wait_for "$WORK/$name.out" "^png $WORK/$name-video.png" 60 ||
		{ cat "$WORK/$name.out" "$WORK/$name-draw.err"; fail "$name: no picture during the video"; }
	echo "png $WORK/$name-ref-video.png" >&3
	wait_for "$WORK/$name-draw.out" "^png $WORK/$name-ref-video.png\$" 10 || fail "$name: drawserver wrote no picture"
	echo "video off" >&3
	wait $c || { cat "$WORK/$name.out" "$WORK/$name-draw.err"; fail "$name: rdppixels failed"; }
	echo "png $WORK/$name-ref-still.png" >&3
	wait_for "$WORK/$name-draw.out" "^png $WORK/$name-ref-still.png\$" 10 || fail "$name: drawserver wrote no picture"
	echo quit >&3
	exec 3>&-
	wait $draw || fail "$name: drawserver did not stop cleanly"
	grep '^stat' "$WORK/$name.out" | grep -v ' 0$' | tr '\n' ' '; echo
	! grep -q 'avc420_decompress failure' "$WORK/$name.out" || fail "$name: the client could not decode H.264"
	if [ "$how" = lossy ]; then
		close "$name, the rest during the video" 3 "$WORK/$name-video.png" "$WORK/$name-ref-video.png" 0 0 $W $VY ||
			fail "$name: the desktop above the video is not close during it"
		close "$name, the rest after the video" 3 "$WORK/$name-still.png" "$WORK/$name-ref-still.png" 0 0 $W $VY ||
			fail "$name: the desktop above the video is not close once it stopped"
		# The video's blue is mostly per-pixel chroma noise, which 4:2:0 averages away.
		close "$name, its last video frame" 32 "$WORK/$name-still.png" "$WORK/$name-ref-still.png" \
			$VX $VY $VW $VH || fail "$name: the video's last frame is not close"
		return
	fi
	local d=0 r
	for r in "0 0 $W $VY" "0 $VY $VX $((H - VY))" "$((VX + VW)) $VY $((W - VX - VW)) $((H - VY))" \
		"$VX $((VY + VH)) $VW $((H - VY - VH))"; do
		d=$((d + $(pngstat diff "$WORK/$name-video.png" "$WORK/$name-ref-video.png" $r)))
	done
	echo "$name: during the video, $d pixels differ outside it"
	[ "$d" = 0 ] || fail "$name: the rest of the desktop is not exact during the video"
	local colours
	colours=$(pngstat colours "$WORK/$name-video.png" $VX $VY $VW $VH)
	[ "$colours" -gt 1000 ] || fail "$name: the video region shows $colours colours, not video"
	d=$(pngstat diff "$WORK/$name-still.png" "$WORK/$name-ref-still.png")
	echo "$name: after the video stopped, $d pixels differ"
	[ "$d" = 0 ] || fail "$name: the picture is not exact once the video stopped"
}
stat() { sed -n "s/^stat $2 //p" "$WORK/$1.out"; }
