# The in-tree guest boots on 2 vCPUs, runs every self-test and powers off: exit 0.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm selftest --mem 128 --cpus 2 --guest desktop --cmdline selftest
expect_rc selftest 0
expect "$WORK/selftest.out" '^vdi-guest: booting on 2 vCPUs, 128 MiB RAM, cmdline "selftest"'
expect "$WORK/selftest.out" '^vdi-guest: selftest ok$'
expect_not "$WORK/selftest.out" 'FAILED'
echo ok
