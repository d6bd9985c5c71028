# The guest's virtio-input driver sets up the keyboard and the tablet.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm input --mem 64 --guest desktop --cmdline test=input
expect_rc input 0
expect "$WORK/input.out" '^vdi-guest: input ok'
expect_not "$WORK/input.err" 'virtio-input'
echo ok
