# PIO and MMIO to addresses nothing serves: the guest reads all-ones and goes
# on, the VMM survives and reports each access.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm unhandled --guest desktop --cmdline "test=pio test=mmio"
expect_rc unhandled 0
expect "$WORK/unhandled.out" '^vdi-guest: pio unassigned ok$'
expect "$WORK/unhandled.out" '^vdi-guest: mmio unassigned ok$'
expect "$WORK/unhandled.err" 'guest port read at 0x9f0 \(1 byte\): nothing there, reads all-ones'
expect "$WORK/unhandled.err" 'guest port write at 0x9f0 \(4 bytes, 0x[0-9a-f]+\): nothing there, dropped'
expect "$WORK/unhandled.err" 'guest MMIO read at 0xd0000000 \(4 bytes\): nothing there, reads all-ones'
expect "$WORK/unhandled.err" 'guest MMIO write at 0xd0000000 \(4 bytes, 0x[0-9a-f]+\): nothing there, dropped'
expect "$WORK/unhandled.out" '^vdi-guest: powering off$'
echo ok
