#!/usr/bin/env bash
# Instant clones: one snapshot of a booted desktop, ten vdi-vmm --restore
# --clone of it at once. Each answers STATUS, shows its own --label on the
# taskbar at once (the label device interrupts the guest, which logs it), and together they take far less memory than
# ten guests' RAM: they share the snapshot's pages copy-on-write.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop t
ctl t snapshot "$WORK/tmpl" || fail "snapshot failed"
ctl t status | grep -q '^state running$' || fail "the template does not run on after a snapshot"
ctl t poweroff >/dev/null
wait $VMM_PID

n=10
pids=()
for i in $(seq $n); do
	start_vmm c$i --restore "$WORK/tmpl" --clone --label "user $i"
	pids+=($VMM_PID)
done
for i in $(seq $n); do
	ctl c$i status >"$WORK/c$i.status" || { cat "$WORK/c$i.err"; fail "clone $i does not answer"; }
	grep -q '^state running$' "$WORK/c$i.status" || fail "clone $i is not running"
	wait_for "$WORK/c$i.out" "label \"user $i\"\$" 20 || { cat "$WORK/c$i.out" "$WORK/c$i.err"; fail "clone $i does not show its label"; }
	# At once: the label device's interrupt, not the guest's next clock tick.
	grep -B1 "label \"user $i\"\$" "$WORK/c$i.out" | grep -q 'label interrupt$' ||
		{ cat "$WORK/c$i.out"; fail "clone $i took its label at a clock tick, not at once"; }
done
# Each clone is a vdi-vmm under `timeout`: measure the vdi-vmm itself.
rss=0 pss=0
for p in "${pids[@]}"; do
	pid=$(pgrep -P "$p" -x vdi-vmm || echo "$p")
	r=$(awk '/^Rss:/{print $2}' /proc/$pid/smaps_rollup)
	s=$(awk '/^Pss:/{print $2}' /proc/$pid/smaps_rollup)
	rss=$((rss + r)) pss=$((pss + s))
done
guest_kib=$((256 << 10))
echo "$n clones of a 256 MiB desktop: Pss $((pss >> 10)) MiB, Rss $((rss >> 10)) MiB in all" \
	"($((pss / n)) KiB Pss each); $n guests' RAM would be $((n * guest_kib >> 10)) MiB"
# Generous: all ten together below the RAM of one guest.
[ "$pss" -lt "$guest_kib" ] || fail "the clones use $((pss >> 10)) MiB, not far below $n guests' RAM"
# A clone's own count of guest RAM is what it touched, within its RSS (not
# the snapshot file's page cache, which every clone maps).
ctl c1 stats >"$WORK/c1.stats" || fail "stats of clone 1 failed"
touched=$(awk '$1=="guest_ram_touched_bytes"{print $2}' "$WORK/c1.stats")
vmm_rss=$(awk '$1=="vmm_rss_bytes"{print $2}' "$WORK/c1.stats")
# The kernel's own count: the resident pages of its mapping of the snapshot's memory.
pid=$(pgrep -P "${pids[0]}" -x vdi-vmm || echo "${pids[0]}")
mapped=$(awk -v f="$WORK/tmpl/memory" '$6 == f { on = 1; next } /^[0-9a-f]+-/ { on = 0 } on && /^Rss:/ { s += $2 }
	END { print s + 0 }' /proc/$pid/smaps)
echo "clone 1: guest RAM touched $((touched >> 10)) KiB by its own count, $mapped KiB resident in its" \
	"mapping, RSS $((vmm_rss >> 10)) KiB"
[ "${touched:-0}" -gt 0 ] && [ "$touched" -lt "${vmm_rss:-0}" ] ||
	fail "clone 1 counts $touched bytes of guest RAM touched against an RSS of $vmm_rss"
# A page or two may be touched between the two looks.
[ $(((touched >> 10) - mapped)) -le 64 ] && [ $((mapped - (touched >> 10))) -le 64 ] ||
	fail "clone 1 counts $((touched >> 10)) KiB of guest RAM, its mapping holds $mapped KiB"
# Typing in one clone leaves the others alone.
ctl c3 type "only three" >/dev/null
wait_for "$WORK/c3.out" 'text "only three"' 20 || fail "clone 3 did not take input"
grep -q 'only three' "$WORK/c4.out" && fail "clone 4 saw clone 3's typing"
for i in $(seq $n); do ctl c$i poweroff >/dev/null; done
wait
for i in $(seq $n); do expect_not "$WORK/c$i.err" 'broken|refused'; done
