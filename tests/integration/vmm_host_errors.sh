# Without /dev/kvm, without permission, with an invalid kernel or too much
# memory, vdi-vmm says what is wrong in one line and exits 1, never hangs.
. "$(dirname "$0")/lib.sh"
need_kvm

# No /dev/kvm: an empty /dev in a private mount namespace.
if unshare -m true 2>/dev/null; then
	unshare -m bash -c "mount -t tmpfs none /dev && exec $VMM --guest desktop" >"$WORK/nokvm.out" 2>"$WORK/nokvm.err"
	echo $? >"$WORK/nokvm.rc"
	cat "$WORK/nokvm.err"
	expect_rc nokvm 1
	expect "$WORK/nokvm.err" '^vdi-vmm: /dev/kvm not found: enable virtualization \(Intel VT-x or AMD-V\)'
else
	echo "note: cannot unshare a mount namespace here; absent /dev/kvm not checked"
fi

# No permission: an unprivileged user against root's 0600 /dev/kvm.
if [ "$(id -u)" = 0 ] && [ "$(stat -c %a /dev/kvm)" = 600 ] && command -v setpriv >/dev/null; then
	cp "$VMM" "$WORK/vdi-vmm" && chmod 755 "$WORK" "$WORK/vdi-vmm"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/vdi-vmm" --guest desktop >"$WORK/perm.out" 2>"$WORK/perm.err"
	echo $? >"$WORK/perm.rc"
	cat "$WORK/perm.err"
	expect_rc perm 1
	expect "$WORK/perm.err" "^vdi-vmm: no permission to open /dev/kvm: add this user to the 'kvm' group"
else
	echo "note: not root or /dev/kvm not 0600; permission error not checked"
fi

# Not a kernel.
head -c 65536 /dev/urandom >"$WORK/garbage"
run_vmm garbage --kernel "$WORK/garbage"
expect_rc garbage 1
expect "$WORK/garbage.err" "^vdi-vmm: .*garbage: not a Linux kernel"

# A truncated bzImage header.
printf 'MZ' >"$WORK/short"
run_vmm short --kernel "$WORK/short"
expect_rc short 1
expect "$WORK/short.err" "short: "

# More memory than the host has.
run_vmm hugemem --guest desktop --mem 100000000
expect_rc hugemem 1
expect "$WORK/hugemem.err" '^vdi-vmm: --mem 100000000 MiB is more than this host can give'
echo ok
