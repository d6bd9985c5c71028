#!/usr/bin/env bash
# broker_pam.sh — logins through the real PAM stack (libpam under pam_wrapper, pam_matrix as the user
# database, a custom service name): the right password sent by an RDP client lands on a desktop
# (audit login_ok detail pam), typed into a VNC greeter as well; a wrong one is refused on the greeter
# with no desktop; no password reaches vdi-server's log.
source "$(dirname "$0")/lib.sh"
PW_LIB=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so
PW_MODS=/usr/lib/x86_64-linux-gnu/pam_wrapper
[ -f "$PW_LIB" ] && [ -f "$PW_MODS/pam_matrix.so" ] || skip "pam_wrapper is not installed (libpam-wrapper)"
source "$(dirname "$0")/broker_lib.sh"

mkdir -p "$WORK/pam.d"
cat >"$WORK/passdb" <<EOF2
alice:secret-alice:vdi-desk
bob:secret-bob:vdi-desk
EOF2
cat >"$WORK/pam.d/vdi-desk" <<EOF2
auth required $PW_MODS/pam_matrix.so passdb=$WORK/passdb
account required $PW_MODS/pam_matrix.so passdb=$WORK/passdb
EOF2
config "backend = pam
pam_service = vdi-desk"
cat >>"$WORK/vdi.ini" <<EOF2
[pool:office]
serial = file
memory = 64M
size = 2
disconnect_timeout = 60s
EOF2
ENV_PREFIX=(LD_PRELOAD=$PW_LIB PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$WORK/pam.d)
start_broker
wait_running 2

rdp greeter --wait-stable 1 --png "$WORK/greeter.png"

# A wrong password: refused, nothing assigned.
rdp wrong --user alice --pass secret-bob --sleep 2 --wait-stable 1 --png "$WORK/wrong.png"
# alice is known to pam_matrix only, not to the system's user database (getpwnam), so her name is kept
# hashed like any name that may be a mistyped password.
wait_audit "event = 'login_failed' AND user LIKE 'unknown:%'"
[ "$(audit_count "user = 'alice'")" = 0 ] || fail "a name getpwnam does not know is stored in clear"
[ "$(error_pixels "$WORK/wrong.png")" -gt 50 ] || fail "no red message after a wrong password"
[ "$(pngbox "$WORK/greeter.png" "$WORK/wrong.png")" != none ] || fail "the wrong password left the plain greeter"
[ -z "$(desktop_of alice)" ] || fail "alice got a desktop with a wrong password"
[ "$(audit_count "event IN ('login_ok', 'assign', 'connect')")" = 0 ] || { dump_audit; fail "a wrong password got in"; }

# The right one, sent by the RDP client.
rdp alice --user alice --pass secret-alice --sleep 2 --wait-stable 1 --png "$WORK/alice.png"
[ "$(audit_count "event = 'login_ok' AND user = 'alice' AND detail = 'pam'")" = 1 ] ||
	{ dump_audit; fail "alice's PAM login is not audited"; }
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop"; }
wait_serial "$da" '^vdi-guest: label "alice"$'
shows "$WORK/alice.png" "$da" "alice through PAM"

# Typed into the greeter of a VNC client.
vnc bob -s 1 -t 'bob\nsecret-bob\n' -s 3 -p "$WORK/bob.png"
db=$(desktop_of bob)
[ -n "$db" ] && [ "$db" != "$da" ] || { dump_audit; fail "bob got '$db' through PAM over VNC"; }
[ "$(audit_count "event = 'login_ok' AND user = 'bob' AND detail = 'pam'")" = 1 ] || fail "bob's PAM login is not audited"
shows "$WORK/bob.png" "$db" "bob through PAM over VNC"

grep -v '^PWRAP' "$WORK/server.out" | grep -q 'secret-' && fail "a password appeared in vdi-server's log"
echo "broker_pam: all checks passed"
