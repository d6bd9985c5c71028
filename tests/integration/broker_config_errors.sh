#!/usr/bin/env bash
# broker_config_errors.sh — vdi-server refuses malformed configuration files before starting anything:
# exit status 1 and one line "FILE:LINE: [section] key: why" naming the key (unknown key, bad values,
# unknown section, duplicate key, a line that is no setting, a bad pool name); no data directory or VMM
# is made. --print-config prints the embedded default, which loads back the same.
source "$(dirname "$0")/lib.sh"
SERVER=$PWD/build/bin/vdi-server
[ -x "$SERVER" ] || fail "$SERVER is not built (make all)"

# refused NAME REGEX LINES...: a file NAME.ini of LINES; vdi-server must refuse it with exactly one
# line on stderr matching "vdi-server: NAME.ini:REGEX".
refused() {
	local name=$1 re=$2 rc; shift 2
	printf '%s\n' "# $name" "$@" >"$WORK/$name.ini"
	(cd "$WORK" && timeout 10 "$SERVER" --config "$name.ini" --data-dir "$WORK/data-$name") \
		>"$WORK/$name.out" 2>"$WORK/$name.err"
	rc=$?
	echo "$name: exit $rc: $(cat "$WORK/$name.err")"
	[ $rc = 1 ] || fail "$name: vdi-server exited $rc, not 1"
	[ "$(wc -l <"$WORK/$name.err")" = 1 ] || fail "$name: not one line of error"
	grep -Eq "^vdi-server: $name\.ini:$re" "$WORK/$name.err" || fail "$name: the error does not match /$name.ini:$re/"
	[ ! -s "$WORK/$name.out" ] || fail "$name: vdi-server printed on stdout"
	[ ! -e "$WORK/data-$name" ] || fail "$name: vdi-server made its data directory before refusing"
}

refused unknown_key '3: \[server\] foo: unknown key \(known here: data_dir, ' '[server]' 'foo = 1'
refused unknown_pool_key '4: \[pool:lab\] colour: unknown key' '[pool:lab]' 'size = 1' 'colour = blue'
refused memory '4: \[pool:lab\] memory: expected a size .* got '"'"'8M'"'" \
	'[pool:lab]' '# too small' 'memory = 8M'
refused port '3: \[server\] rdp_port: expected a whole number from 0 to 65535, got '"'"'70000'"'" '[server]' 'rdp_port = 70000'
refused duration '3: \[auth\] lockout_window: expected a duration .* got '"'"'5 minutes'"'" '[auth]' 'lockout_window = 5 minutes'
refused assignment '3: \[pool:lab\] assignment: .*got '"'"'shared'"'" '[pool:lab]' 'assignment = shared'
refused backend '3: \[auth\] backend: .*got '"'"'ldap'"'" '[auth]' 'backend = ldap'
refused display '3: \[pool:lab\] display: .*got '"'"'1024'"'" '[pool:lab]' 'display = 1024'
refused section '2: \[nonsense\]: unknown section' '[nonsense]' 'x = 1'
refused duplicate '4: \[server\] vnc_port: duplicate key \(first set on line 3\)' '[server]' 'vnc_port = 1' 'vnc_port = 2'
refused junk '3: expected \[section\], key = value, or a # comment; got '"'"'junk line'"'" '[server]' 'junk line'
refused pool_name '2: \[pool:a\.b\]: a pool'"'"'s name is 1 to 32 ' '[pool:a.b]'
refused key_before_section '2: .*' 'size = 1'

# The embedded default, as documented: pool demo of 2 desktops, the file backend, the ports.
(cd "$WORK" && timeout 10 "$SERVER" --print-config) >"$WORK/default.ini" 2>"$WORK/default.err" ||
	{ cat "$WORK/default.err"; fail "--print-config failed"; }
for re in '^\[server\]$' '^data_dir = \./vdi-data$' '^rdp_port = 3389$' '^vnc_port = 5900$' '^\[auth\]$' \
	'^backend = file$' '^lockout_attempts = 5$' '^\[api\]$' '^listen = 0\.0\.0\.0:8443$' '^\[pool:demo\]$' \
	'^template = desktop$' '^size = 2$' '^assignment = floating$' '^on_logoff = keep$' '^entitlement = \*$'; do
	expect "$WORK/default.ini" "$re"
done
[ "$(grep -c '^\[pool:' "$WORK/default.ini")" = 1 ] || fail "the embedded default has more than one pool"
[ ! -e "$WORK/vdi-data" ] || fail "--print-config made the data directory"
# It loads back the same (paths compared with repeated ./ folded: they name the same place).
(cd "$WORK" && timeout 10 "$SERVER" --config default.ini --print-config) >"$WORK/again.ini" 2>"$WORK/again.err" ||
	{ cat "$WORK/again.err"; fail "the printed default does not load"; }
fold() { grep -v '^#' "$1" | sed -E 's#(\./)+#./#g'; }
diff <(fold "$WORK/default.ini") <(fold "$WORK/again.ini") || fail "the printed default loads back differently"
# --data-dir moves the data directory and the paths derived from it.
(cd "$WORK" && timeout 10 "$SERVER" --data-dir "$WORK/dd" --print-config) >"$WORK/dd.ini" ||
	fail "--data-dir with --print-config failed"
expect "$WORK/dd.ini" "^data_dir = $WORK/dd\$"
expect "$WORK/dd.ini" "^users_file = $WORK/dd/users\$"
expect "$WORK/dd.ini" "^tls_cert = $WORK/dd/tls\\.crt\$"
[ ! -e "$WORK/dd" ] || fail "--print-config made the data directory"
echo "broker_config_errors: all checks passed"
