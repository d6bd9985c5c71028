# The guest reads the host's time (UTC) from the CMOS RTC.
. "$(dirname "$0")/lib.sh"
need_kvm
before=$(date -u +%s)
run_vmm rtc --guest desktop --cmdline test=rtc
after=$(date -u +%s)
expect_rc rtc 0
line=$(grep -E '^vdi-guest: rtc [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' "$WORK/rtc.out") ||
	fail "no rtc line"
guest=$(date -u -d "${line#vdi-guest: rtc }" +%s) || fail "unparseable time: $line"
# The guest's reading lies between our two readings (a second of slack for rounding).
[ "$guest" -ge $((before - 1)) ] && [ "$guest" -le $((after + 1)) ] ||
	fail "guest time $guest outside host window $before..$after"
echo ok
