#!/usr/bin/env bash
# The desktop guest draws a desktop: a screenshot through the control socket
# is the display's size, not one colour, with a taskbar along the bottom
# that differs from the background, and the host-set label on it.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d --display 1024x768 --label alice
expect "$WORK/d.out" 'desktop ready 1024x768'
ctl d screenshot "$WORK/a.png" || fail "screenshot failed"
[ "$(pngstat size "$WORK/a.png")" = "1024 768" ] || fail "screenshot is $(pngstat size "$WORK/a.png")"
colours=$(pngstat colours "$WORK/a.png")
echo "colours: $colours"
[ "$colours" -gt 100 ] || fail "only $colours colours: nothing drawn"
# The taskbar: the bottom rows against the background at the top.
read -r tr tg tb < <(pngstat mean "$WORK/a.png" 0 752 1024 12)
read -r br bg bb < <(pngstat mean "$WORK/a.png" 0 0 1024 12)
echo "taskbar $tr $tg $tb, background $br $bg $bb"
dist=$(( (tr - br) * (tr - br) + (tg - bg) * (tg - bg) + (tb - bb) * (tb - bb) ))
[ "$dist" -gt 400 ] || fail "no taskbar: bottom rows look like the background"
[ "$(pngstat colours "$WORK/a.png" 0 740 1024 28)" -gt 2 ] || fail "taskbar has no text"

# A new label: the guest picks it up at once, and only the taskbar is repainted.
ctl d events 4 >"$WORK/events" &
events=$!
sleep 0.5
ctl d label "bob the builder" >/dev/null || fail "label failed"
wait_for "$WORK/d.out" 'label "bob the builder"' 10 || fail "the guest did not show the new label"
# At once, through the label device's interrupt, not at the next clock tick.
grep -B1 'label "bob the builder"' "$WORK/d.out" | grep -q 'label interrupt$' ||
	fail "the guest took the new label at a clock tick, not at once"
wait $events
cat "$WORK/events"
ctl d screenshot "$WORK/b.png" >/dev/null || fail "screenshot failed"
[ "$(pngstat diff "$WORK/a.png" "$WORK/b.png" 0 0 1024 720)" = 0 ] || fail "pixels above the taskbar changed"
[ "$(pngstat diff "$WORK/a.png" "$WORK/b.png" 0 720 1024 48)" -gt 0 ] || fail "the taskbar did not change"
grep -q '^damage' "$WORK/events" || fail "no damage events"
# Every rectangle the guest flushed while idle and relabelled is in the taskbar.
awk '/^damage/ { split($2, p, ","); split($3, s, "x"); if (p[2] < 700) bad = 1 } END { exit bad }' \
	"$WORK/events" || fail "the guest flushed outside the taskbar while idle"
ctl d poweroff >/dev/null
wait $VMM_PID
