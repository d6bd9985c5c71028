#!/usr/bin/env bash
# auth_pam.sh — auth/ against the real PAM stack (libpam under pam_wrapper, pam_matrix as the user
# database): right/wrong password, unknown user, lockout without reaching PAM and its release, a custom
# service name, module messages logged but never a password; then the users-file backend once.
source "$(dirname "$0")/lib.sh"

PW_LIB=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so
PW_MODS=/usr/lib/x86_64-linux-gnu/pam_wrapper
[ -f "$PW_LIB" ] && [ -f "$PW_MODS/pam_matrix.so" ] || skip "pam_wrapper is not installed (libpam-wrapper)"
AUTHCHECK=$PWD/build/tests/tools/authcheck
[ -x "$AUTHCHECK" ] || fail "$AUTHCHECK is not built (make all)"

svc=$WORK/pam.d
mkdir -p "$svc"
cat >"$WORK/passdb" <<EOF
alice:secret-a:vdi
carol:secret-c:vdi-desk
EOF
# pam_chatty sends an info and an error message through the conversation before pam_matrix decides.
cat >"$svc/vdi" <<EOF
auth optional $PW_MODS/pam_chatty.so info
auth optional $PW_MODS/pam_chatty.so error
auth required $PW_MODS/pam_matrix.so passdb=$WORK/passdb
account required $PW_MODS/pam_matrix.so passdb=$WORK/passdb
EOF
cat >"$svc/vdi-desk" <<EOF
auth required $PW_MODS/pam_matrix.so passdb=$WORK/passdb
account required $PW_MODS/pam_matrix.so passdb=$WORK/passdb
EOF

# pam NAME ARGS... < script: authcheck on the PAM backend; results in NAME.out, log in NAME.err.
# pam_wrapper's trace (level 3) has one "pwrap_pam_authenticate" line per call that reached PAM.
pam() {
	local name=$1; shift
	LD_PRELOAD=$PW_LIB PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$svc PAM_WRAPPER_DEBUGLEVEL=3 VDI_LOG=debug \
		timeout 60 "$AUTHCHECK" --backend pam "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
	local rc=$?
	echo "--- $name (exit $rc)"; cat "$WORK/$name.out"
	[ $rc = 0 ] || { cat "$WORK/$name.err"; fail "authcheck $name exited $rc"; }
}
pam_calls() { grep -c 'pwrap_pam_authenticate' "$WORK/$1.err"; }
# line FILE N: the Nth line of FILE
line() { sed -n "$2p" "$WORK/$1.out"; }
expect_line() { [ "$(line "$1" "$2")" = "$3" ] || fail "$1 line $2 is '$(line "$1" "$2")', expected '$3'"; }

# Right, wrong, unknown, and a user whose account is for another service.
pam basic <<EOF
alice secret-a 192.0.2.1
alice secret-b 192.0.2.1
mallory secret-a 192.0.2.1
carol secret-c 192.0.2.2
EOF
expect_line basic 1 "OK alice"
expect_line basic 2 "DENIED alice"
expect_line basic 3 "DENIED mallory"
expect_line basic 4 "DENIED carol"
[ "$(pam_calls basic)" = 4 ] || fail "expected 4 PAM conversations, saw $(pam_calls basic)"
# PAM_RHOST is the client's address.
expect "$WORK/basic.err" 'PAM_RHOST=192\.0\.2\.2'
# Module messages reach our log; passwords never do (pam_wrapper's own PWRAP trace aside).
expect "$WORK/basic.err" '^authcheck: pam: Authentication succeeded'
expect "$WORK/basic.err" '^authcheck: pam: Authentication generated an error'
grep -v '^PWRAP' "$WORK/basic.err" | grep -q 'secret' && fail "a password appeared in the log"

# Lockout: five failures lock alice from that address; the sixth attempt there, with the right password,
# never reaches PAM, while alice from another address logs in; after the duration (the script moves
# authcheck's clock) she logs in from the first one too.
pam lockout --stats <<EOF
alice guess1 198.51.100.5
alice guess2 198.51.100.5
alice guess3 198.51.100.5
alice guess4 198.51.100.5
alice guess5 198.51.100.5
alice secret-a 198.51.100.5
alice secret-a 203.0.113.9
!sleep 299
alice secret-a 198.51.100.5
!sleep 1
alice secret-a 198.51.100.5
EOF
expect_line lockout 4 "DENIED alice backend_calls=4 lockouts=0"
expect_line lockout 5 "DENIED alice locked_for=300 backend_calls=5 lockouts=1"
expect_line lockout 6 "LOCKED alice locked_for=300 backend_calls=5 lockouts=1"
expect_line lockout 7 "OK alice backend_calls=6 lockouts=1"
expect_line lockout 8 "LOCKED alice locked_for=1 backend_calls=6 lockouts=1"
expect_line lockout 9 "OK alice backend_calls=7 lockouts=1"
[ "$(pam_calls lockout)" = 7 ] || fail "expected 7 PAM conversations (none while locked), saw $(pam_calls lockout)"

# Lockout by address (3 attempts here): three names from one address lock it, whoever comes next.
pam address --address-attempts 3 --duration 60 <<EOF
root x 192.0.2.50
admin x 192.0.2.50
guest x 192.0.2.50
alice secret-a 192.0.2.50
alice secret-a 192.0.2.51
EOF
expect_line address 3 "DENIED guest locked_for=60"
expect_line address 4 "LOCKED alice locked_for=60"
expect_line address 5 "OK alice"
[ "$(pam_calls address)" = 4 ] || fail "expected 4 PAM conversations, saw $(pam_calls address)"

# A custom service name: carol's account is for vdi-desk; alice's is not.
pam custom --service vdi-desk <<EOF
carol secret-c 192.0.2.3
alice secret-a 192.0.2.3
EOF
expect_line custom 1 "OK carol"
expect_line custom 2 "DENIED alice"
expect "$WORK/custom.err" 'pam_start.*service=vdi-desk'

# A service PAM does not know is an error, not a denial.
pam missing --service no-such-service <<EOF
alice secret-a 192.0.2.4
EOF
expect_line missing 1 "ERROR alice"

# The users-file backend through the same tool: a user added with groups, checked, in lists.
timeout 60 "$AUTHCHECK" --users "$WORK/users" --add 'dave:pass-d:staff,ops' --admins '@ops' \
	>"$WORK/file.out" 2>"$WORK/file.err" <<EOF
dave pass-d 192.0.2.9
dave pass-x 192.0.2.9
!in dave root @staff
!in dave @nothing
!admin dave
EOF
cat "$WORK/file.out"
expect_line file 1 "OK dave"
expect_line file 2 "DENIED dave"
expect_line file 3 "yes"
expect_line file 4 "no"
expect_line file 5 "admin dave"
expect "$WORK/users" '^dave:\$y\$[^:]+:staff,ops$'
[ "$(stat -c %a "$WORK/users")" = 600 ] || fail "the users file has mode $(stat -c %a "$WORK/users")"
echo "auth_pam: all checks passed"
