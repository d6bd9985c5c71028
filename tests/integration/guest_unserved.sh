# A guest that runs into something the VMM cannot serve (executing from an
# address with nothing behind it) ends the VM with a report naming the KVM
# exit and RIP, exit 2: no hang, no VMM crash.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm exec --cpus 2 --guest desktop --cmdline test=mmioexec
expect_rc exec 2
expect "$WORK/exec.out" '^vdi-guest: executing from unassigned memory now$'
expect_not "$WORK/exec.out" 'FAILED'
expect "$WORK/exec.err" '^vdi-vmm: guest crashed: .* on vCPU 0 at RIP 0xd0000000'
echo ok
