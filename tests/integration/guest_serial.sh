# Serial console output goes to stdout, to a file, or nowhere.
. "$(dirname "$0")/lib.sh"
need_kvm
ascii=$(python3 -c 'print("".join(chr(c) for c in range(0x20, 0x7f)))')
run_vmm stdout --guest desktop --cmdline test=serial
expect_rc stdout 0
expect "$WORK/stdout.out" '^vdi-guest: serial ok$'
grep -qF -- "vdi-guest: ascii $ascii" "$WORK/stdout.out" || fail "printable ASCII did not arrive intact"

run_vmm file --guest desktop --cmdline test=serial --serial "file:$WORK/console.txt"
expect_rc file 0
[ ! -s "$WORK/file.out" ] || fail "serial went to stdout despite --serial file:"
expect "$WORK/console.txt" '^vdi-guest: serial ok$'

run_vmm none --guest desktop --cmdline test=serial --serial none
expect_rc none 0
[ ! -s "$WORK/none.out" ] || fail "serial went to stdout despite --serial none"
echo ok
