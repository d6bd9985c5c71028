# The guest's user mode: the LAPIC timer interrupts CPL3 code and wakes a
# halted sys_wait; the label, the clock and page_alloc work from CPL3; the
# words after test=cpl3 still run.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm cpl3 --mem 64 --guest desktop --label 'ada lovelace' --cmdline 'test=cpl3 test=rtc'
expect_rc cpl3 0
expect "$WORK/cpl3.out" '^vdi-guest: cpl3 ok: cpl 3, lapic timer [0-9]+ Hz/16, .* 2 ticks through sys_wait'
expect "$WORK/cpl3.out" '^vdi-guest: cpl3 services: label "ada lovelace" generation [1-9][0-9]*, time [0-9]{2}:[0-9]{2}:[0-9]{2}, page_alloc ok$'
expect "$WORK/cpl3.out" '^vdi-guest: rtc [0-9]{4}-'
echo ok
