# A guest that triple-faults ends the VM with a report (exit reason, RIP), exit 2.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm tf --cpus 2 --guest desktop --cmdline test=triplefault
expect_rc tf 2
expect "$WORK/tf.out" '^vdi-guest: triple fault now$'
expect "$WORK/tf.err" '^vdi-vmm: guest crashed: guest triple fault \(KVM_EXIT_SHUTDOWN\) on vCPU 0 at RIP 0x[0-9a-f]+'
echo ok
