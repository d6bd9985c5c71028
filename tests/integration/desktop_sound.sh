#!/usr/bin/env bash
# Sound both ways through virtio-snd and the control socket: Ctrl+G in the
# desktop's Notes rings its bell, which `ctl audio-record` hears as 880 Hz
# for about 200 ms; a 1 kHz tone fed with `ctl audio-play` is what the
# guest's sound test (Ctrl+T) measures on its microphone.
source "$(dirname "$0")/lib.sh"
need_kvm
wavstat() { python3 tests/integration/wavstat.py "$@"; }
start_desktop d
expect_not "$WORK/d.out" 'no sound'

# The bell, recorded from the device's output stream.
ctl d audio-record "$WORK/bell.wav" 3 >"$WORK/rec.out" 2>&1 &
rec=$!
sleep 0.5
ctl d key ctrl+g >/dev/null || fail "key ctrl+g failed"
wait_for "$WORK/d.out" 'bell 880 Hz 200 ms' 20 || fail "the guest did not ring its bell"
wait $rec || { cat "$WORK/rec.out"; fail "audio-record failed"; }
stat=$(wavstat tone "$WORK/bell.wav")
echo "bell: $stat"
read -r _ hz _ ms _ peak <<<"$stat"
[ "$stat" != silence ] || fail "the recording is silent"
awk -v hz="$hz" 'BEGIN { exit !(hz >= 875 && hz <= 885) }' || fail "the bell is at $hz Hz, not 880"
awk -v ms="$ms" 'BEGIN { exit !(ms >= 180 && ms <= 220) }' || fail "the bell lasts $ms ms, not about 200"
# Typing Ctrl+G typed nothing into Notes.
expect_not "$WORK/d.out" 'text ".*g'

# The microphone: a 1 kHz tone in, the guest's sound test measures it.
wavstat make "$WORK/mic.wav" 1000 3 2
ctl d audio-play "$WORK/mic.wav" >"$WORK/play.out" 2>&1 &
play=$!
sleep 0.7
ctl d key ctrl+t >/dev/null || fail "key ctrl+t failed"
wait_for "$WORK/d.out" 'sound test: microphone' 20 || fail "the sound test did not report"
grep 'sound test' "$WORK/d.out"
line=$(grep -E 'sound test: microphone' "$WORK/d.out")
mhz=$(sed -E 's/.*microphone ([0-9]+) Hz.*/\1/' <<<"$line")
mpeak=$(sed -E 's/.*peak ([0-9]+).*/\1/' <<<"$line")
[ "$mhz" -ge 995 ] && [ "$mhz" -le 1005 ] || fail "the guest heard $mhz Hz, not 1000"
[ "$mpeak" -ge 8000 ] || fail "the guest heard peak $mpeak, quieter than what was played"
wait $play || { cat "$WORK/play.out"; fail "audio-play failed"; }

# Bad input is refused with a reason; the VMM goes on.
printf 'not a wav' >"$WORK/bad.wav"
ctl d audio-play "$WORK/bad.wav" 2>"$WORK/bad.err" && fail "a file that is not a WAV was played"
expect "$WORK/bad.err" 'not a RIFF WAVE'
ctl d audio-record "$WORK/x.wav" 0 2>/dev/null && fail "0 seconds was accepted"
ctl d status >/dev/null || fail "the VMM is not answering"
ctl d poweroff >/dev/null
wait $VMM_PID
expect_not "$WORK/d.err" 'broken'

# Without sound the stream is refused with the reason.
start_vmm n --mem 256 --guest desktop --no-sound
ctl n audio-record "$WORK/n.wav" 1 2>"$WORK/n.err" && fail "audio-record worked without a sound device"
expect "$WORK/n.err" 'no sound device'
ctl n poweroff >/dev/null
wait $VMM_PID
echo ok
