# The guest's virtio-gpu driver: finds the device, takes the display size
# the host asks for, makes a framebuffer the scanout, flushes it and sets
# the cursor, all from CPL3.
. "$(dirname "$0")/lib.sh"
need_kvm
run_vmm gpu --mem 64 --guest desktop --display 800x600 --cmdline test=gpu
expect_rc gpu 0
expect "$WORK/gpu.out" '^vdi-guest: gpu ok 800x600$'
expect_not "$WORK/gpu.err" 'virtio-gpu:'
echo ok
