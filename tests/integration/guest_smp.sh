# Every vCPU reports in, each on its own thread.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm smp --mem 64 --cpus 4 --guest desktop --cmdline test=smp
expect_rc smp 0
for i in 0 1 2 3; do expect "$WORK/smp.out" "^vdi-guest: cpu $i up$"; done
expect "$WORK/smp.out" '^vdi-guest: smp ok 4/4 cpus$'
echo ok
