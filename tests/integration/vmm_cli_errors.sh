# vdi-vmm refuses bad flags with one clear line and exit status 1, and --help documents the CLI.
. "$(dirname "$0")/lib.sh"

"$VMM" --help >"$WORK/help" || fail "--help exited non-zero"
expect "$WORK/help" '^usage: vdi-vmm .*--mem MIB.*--cpus N'
expect "$WORK/help" 'Exit status'

check_refused() { # name regex args...
	local name=$1 re=$2; shift 2
	run_vmm "$name" "$@"
	expect_rc "$name" 1
	[ "$(wc -l <"$WORK/$name.err")" = 1 ] || fail "$name: expected exactly one error line"
	expect "$WORK/$name.err" "^vdi-vmm: .*$re"
}
check_refused nothing 'exactly one of --guest desktop or --kernel'
check_refused both 'exactly one of' --guest desktop --kernel /nonexistent
check_refused badguest "--guest 'windows'" --guest windows
check_refused badflag "unknown option '--frobnicate'" --guest desktop --frobnicate
check_refused novalue '--mem needs a value' --guest desktop --mem
check_refused badmem "--mem 'lots'" --guest desktop --mem lots
check_refused zerocpu "--cpus '0'" --guest desktop --cpus 0
check_refused manycpu "--cpus '65'" --guest desktop --cpus 65
check_refused badserial "--serial 'tty'" --guest desktop --serial tty
check_refused initrd '--initrd needs --kernel' --guest desktop --initrd /etc/hostname
check_refused nokernel '--kernel /nonexistent/bzImage: No such file or directory' --kernel /nonexistent/bzImage
check_refused extra "unexpected argument 'foo'" --guest desktop foo
check_refused ctlcmd "unknown command 'dance'" ctl /tmp/none.sock dance
check_refused nodisplay "--display 'big'" --guest desktop --display big
check_refused zerodisplay "--display '0x768'" --guest desktop --display 0x768
check_refused hugedisplay "--display '8193x100'" --guest desktop --display 8193x100
check_refused bigdisplay "--display '8192x8192'.*at most" --guest desktop --display 8192x8192
check_refused longlabel '--label: at most 255 bytes' --guest desktop --label "$(printf 'x%.0s' {1..256})"
check_refused ctlargs "wrong arguments for 'screenshot'" ctl /tmp/none.sock screenshot
check_refused ctlsock 'cannot connect to /nonexistent.sock' ctl /nonexistent.sock status
echo ok
