# A hostile guest: bad descriptor chains on the gpu's control queue and a
# device-readable buffer on virtio-rng. vdi-vmm must survive each, mark the
# device broken (NEEDS_RESET) with one log line, and the device must work
# again after the guest resets it.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm hostile --mem 64 --guest desktop --cmdline test=hostile
expect_rc hostile 0
for c in descriptor-loop address-outside-ram huge-length short-command small-response rng-readable-buffer; do
	expect "$WORK/hostile.out" "^vdi-guest: hostile $c ok: device marked broken$"
	expect "$WORK/hostile.out" "^vdi-guest: hostile $c: recovered after reset$"
done
expect "$WORK/hostile.out" '^vdi-guest: hostile ok 6 cases$'
expect "$WORK/hostile.err" 'virtio-gpu: .*(loop|longer)'
expect "$WORK/hostile.err" 'virtio-gpu: .*not guest RAM'
expect "$WORK/hostile.err" 'virtio-rng: '
echo ok
