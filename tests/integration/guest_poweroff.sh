# The guest powers the VM off through the power-off port: vdi-vmm exits 0.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm off --cpus 3 --guest desktop --cmdline test=poweroff
expect_rc off 0
expect "$WORK/off.out" '^vdi-guest: powering off$'
expect "$WORK/off.err" '^vdi-vmm: guest powered off$'
echo ok
