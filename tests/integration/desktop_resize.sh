#!/usr/bin/env bash
# Changing the display size at run time: the guest redraws at the new size
# and the consumer gets a new surface.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d --display 1024x768
ctl d events 10 >"$WORK/events" &
events=$!
sleep 0.5
ctl d display 1280x720 >/dev/null || fail "display failed"
wait_for "$WORK/d.out" 'display 1280x720' 20 || fail "the guest did not follow to 1280x720"
ctl d screenshot "$WORK/a.png" || fail "screenshot failed"
[ "$(pngstat size "$WORK/a.png")" = "1280 720" ] || fail "screenshot is $(pngstat size "$WORK/a.png")"
read -r tr tg tb < <(pngstat mean "$WORK/a.png" 0 704 1280 12)
read -r br bg bb < <(pngstat mean "$WORK/a.png" 0 0 1280 12)
dist=$(( (tr - br) * (tr - br) + (tg - bg) * (tg - bg) + (tb - bb) * (tb - bb) ))
[ "$dist" -gt 400 ] || fail "no taskbar at the new bottom"
ctl d display 800x600 >/dev/null || fail "display failed"
wait_for "$WORK/d.out" 'display 800x600' 20 || fail "the guest did not follow to 800x600"
ctl d display 0x600 && fail "a zero width was accepted"
ctl d display 9000x100 && fail "an oversized width was accepted"
wait $events
cat "$WORK/events"
expect "$WORK/events" '^surface 1280x720'
expect "$WORK/events" '^surface 800x600'
ctl d screenshot "$WORK/b.png" >/dev/null
[ "$(pngstat size "$WORK/b.png")" = "800 600" ] || fail "screenshot is $(pngstat size "$WORK/b.png")"
ctl d poweroff >/dev/null
wait $VMM_PID
