# The guest enumerates PCI through configuration mechanism #1 and finds the host bridge.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm pci --guest desktop --cmdline test=pci
expect_rc pci 0
expect "$WORK/pci.out" '^vdi-guest: pci 00:00\.0 1b36:0008 class 060000$'
# The virtio devices, in the slots vdi-vmm gives them.
expect "$WORK/pci.out" '^vdi-guest: pci 00:01\.0 1af4:1050 class 038000$'
expect "$WORK/pci.out" '^vdi-guest: pci 00:02\.0 1af4:1052 class 098000$'
expect "$WORK/pci.out" '^vdi-guest: pci 00:03\.0 1af4:1052 class 098000$'
expect "$WORK/pci.out" '^vdi-guest: pci 00:04\.0 1af4:1044 class 00ff00$'
expect "$WORK/pci.out" '^vdi-guest: pci 00:05\.0 1af4:1059 class 040100$'
expect "$WORK/pci.out" '^vdi-guest: pci ok 6 functions$'
echo ok
