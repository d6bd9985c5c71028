# The guest enumerates PCI through configuration mechanism #1 and finds the host bridge.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm pci --guest desktop --cmdline test=pci
expect_rc pci 0
expect "$WORK/pci.out" '^vdi-guest: pci 00:00\.0 1b36:0008 class 060000$'
expect "$WORK/pci.out" '^vdi-guest: pci ok 1 functions$'
echo ok
