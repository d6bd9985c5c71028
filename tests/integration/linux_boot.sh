# vdi-vmm boots Debian's stock kernel (linux-image-amd64, bzImage with an xz
# payload decompressed on the host) far enough to print "Linux version".
. "$(dirname "$0")/lib.sh"
need_kvm
cache=$PWD/build/linux
kernel=$(ls "$cache"/boot/vmlinuz-* 2>/dev/null | head -1)
if [ -z "$kernel" ]; then
	mkdir -p "$cache"
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$pkg" ] || { apt-get update -qq >/dev/null 2>&1; pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
	[ -n "$pkg" ] || fail "cannot resolve linux-image-amd64 to a kernel package"
	(cd "$WORK" && apt-get download "$pkg" >/dev/null 2>&1) || fail "apt-get download $pkg failed"
	dpkg-deb -x "$WORK"/linux-image-*.deb "$WORK/pkg" || fail "cannot unpack $pkg"
	mkdir -p "$cache/boot" && cp "$WORK"/pkg/boot/vmlinuz-* "$cache/boot/"
	kernel=$(ls "$cache"/boot/vmlinuz-* | head -1)
fi
echo "kernel: $kernel"
"$VMM" --mem 512 --cpus 1 --kernel "$kernel" --control "$WORK/vm.sock" >"$WORK/linux.out" 2>"$WORK/linux.err" &
pid=$!
found=0
wait_for "$WORK/linux.out" 'Linux version [0-9]' 120 && found=1
"$VMM" ctl "$WORK/vm.sock" poweroff >/dev/null 2>&1 || kill $pid
wait $pid
head -c 4000 "$WORK/linux.out"; cat "$WORK/linux.err"
[ $found = 1 ] || fail "no 'Linux version' on the serial console"
expect "$WORK/linux.out" 'Linux version 6\.'
echo ok
