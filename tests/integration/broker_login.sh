#!/usr/bin/env bash
# broker_login.sh — logging in through vdi-server with real clients: two users whose RDP clients send
# their credentials (autologon) land at once on two different desktops, each client showing exactly its
# own desktop's screen with its user's name on the taskbar; a wrong password leaves the client on the
# greeter with a red error and assigns nothing; a VNC client types user name and password into the
# greeter and lands on a desktop; a VNC client logging in through VeNCrypt X509Plain (TLS checked against
# the server's certificate, then the user name and password) lands on its desktop without the greeter,
# and with a wrong password gets the greeter's red error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice bob:pw-bob carol:pw-carol
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
serial = file
memory = 64M
size = 3
disconnect_timeout = 30m
EOF
start_broker
wait_running 3

# The plain greeter, as a client without credentials sees it.
rdp greeter --wait-stable 1 --png "$WORK/greeter.png"
[ "$(error_pixels "$WORK/greeter.png")" = 0 ] || fail "the plain greeter shows an error"
[ "$(pngstat colours "$WORK/greeter.png")" -gt 20 ] || fail "the greeter is blank"

# Alice and Bob at the same time, each with credentials in the client.
rdp alice --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/alice.png" --sleep 3 &
a=$!
rdp bob --user bob --pass pw-bob --sleep 2 --wait-stable 1 --png "$WORK/bob.png" --sleep 3 &
b=$!
wait $a || fail "alice's client failed"
wait $b || fail "bob's client failed"
da=$(desktop_of alice) db=$(desktop_of bob)
echo "alice got '$da', bob got '$db'"
[ -n "$da" ] && [ -n "$db" ] || { dump_audit; fail "a user got no desktop"; }
[ "$da" != "$db" ] || fail "alice and bob share desktop $da"
[ "$(audit_count "event = 'login_ok' AND user = 'alice'")" = 1 ] || fail "alice's login is not audited once"
[ "$(audit_count "event = 'connect' AND user = 'alice' AND desktop = '$da' AND detail = 'rdp'")" = 1 ] ||
	{ dump_audit; fail "no audited RDP connect of alice to $da"; }
[ "$(audit_count "event = 'connect' AND user = 'bob' AND desktop = '$db' AND detail = 'rdp'")" = 1 ] ||
	{ dump_audit; fail "no audited RDP connect of bob to $db"; }
# Each taskbar names its user; each client shows its own desktop, not the other's.
wait_serial "$da" '^vdi-guest: label "alice"$'
wait_serial "$db" '^vdi-guest: label "bob"$'
expect_not "$(serial "$da")" 'label "bob"'
shows "$WORK/alice.png" "$da" "alice's client"
shows "$WORK/bob.png" "$db" "bob's client"
[ "$(screen_diff "$WORK/alice.png" "$db")" -gt 0 ] || fail "alice's picture equals bob's desktop"
[ "$(screen_diff "$WORK/bob.png" "$da")" -gt 0 ] || fail "bob's picture equals alice's desktop"
[ "$(pngstat diff "$WORK/alice.png" "$WORK/greeter.png")" -gt 100000 ] || fail "alice still sees the greeter"

# A wrong password: the greeter stays, with a red message; nothing is assigned.
rdp wrong --user carol --pass not-her-password --sleep 2 --wait-stable 1 --png "$WORK/wrong.png"
wait_audit "event = 'login_failed' AND user = 'carol' AND address = '127.0.0.1'"
[ "$(error_pixels "$WORK/wrong.png")" -gt 50 ] || fail "the greeter shows no error after a wrong password"
box=$(pngbox "$WORK/greeter.png" "$WORK/wrong.png")
echo "wrong password: the greeter changed in the box $box"
[ "$box" != none ] || fail "the picture after a wrong password is the plain greeter"
read -r _ _ _ bh <<<"$box"
[ "$bh" -lt 120 ] || fail "more than the message line changed after a wrong password ($box)"
[ -z "$(desktop_of carol)" ] || fail "carol got a desktop with a wrong password"
[ "$(audit_count "user = 'carol' AND event IN ('assign', 'connect', 'login_ok')")" = 0 ] ||
	{ dump_audit; fail "a wrong password led to a login or an assignment"; }

# VNC always sees the greeter: carol types her name, Enter, her password, Enter.
# Then what she types reaches her desktop's guest.
vnc carol -s 1 -p "$WORK/carol-greeter.png" -t 'carol\npw-carol\n' -s 4 -t 'hello from vnc' -s 2 \
	-p "$WORK/carol.png"
[ "$(pngstat diff "$WORK/carol-greeter.png" "$WORK/greeter.png")" = 0 ] ||
	fail "the VNC client's greeter is not the one the RDP client saw"
dc=$(desktop_of carol)
[ -n "$dc" ] && [ "$dc" != "$da" ] && [ "$dc" != "$db" ] || { dump_audit; fail "carol got '$dc' over VNC"; }
[ "$(audit_count "event = 'connect' AND user = 'carol' AND desktop = '$dc' AND detail = 'vnc'")" = 1 ] ||
	{ dump_audit; fail "no audited VNC connect of carol"; }
wait_serial "$dc" '^vdi-guest: label "carol"$'
wait_serial "$dc" 'text "hello from vnc"'
shows "$WORK/carol.png" "$dc" "carol's VNC client"

# VeNCrypt: Bob's credentials inside TLS take him straight to his desktop, his first picture its screen.
vnc bob-tls -u bob -w pw-bob -a "$DATA/tls.crt" -s 2 -p "$WORK/bob-tls.png"
grep -q 'vnc: 127.0.0.1: RFB 3.8, VeNCrypt X509Plain with a user name' "$WORK/server.out" ||
	fail "bob's VNC client did not log in through VeNCrypt"
[ "$(audit_count "event = 'reconnect' AND user = 'bob' AND desktop = '$db' AND detail = 'vnc'")" = 1 ] ||
	{ dump_audit; fail "no audited VNC connect of bob to $db"; }
shows "$WORK/bob-tls.png" "$db" "bob's VeNCrypt client"
ppm2png "$WORK/bob-tls.ppm" "$WORK/bob-tls-first.png"
[ "$(pngstat diff "$WORK/bob-tls-first.png" "$WORK/greeter.png")" -gt 100000 ] ||
	fail "bob's VeNCrypt client was shown the greeter"
# A wrong password inside TLS: the greeter, with the red message.
vnc wrong-tls -u carol -w nope -a "$DATA/tls.crt" -s 2 -p "$WORK/wrong-tls.png"
[ "$(error_pixels "$WORK/wrong-tls.png")" -gt 50 ] || fail "no error on the greeter after a wrong VeNCrypt password"
# A client that does not trust the certificate stops at TLS and logs nothing in.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/other.key" -out "$WORK/other.crt" -days 1 \
	-subj /CN=other >/dev/null 2>&1 || fail "openssl could not make a certificate"
! timeout -k 5 30 "$VNCPIXELS" -e raw -u bob -w pw-bob -a "$WORK/other.crt" 127.0.0.1 $VNC_PORT \
	"$WORK/untrusted.ppm" >"$WORK/untrusted.out" 2>&1 || fail "a client that distrusts the certificate connected"
[ "$(audit_count "event = 'login_ok' AND user = 'bob'")" = 2 ] || { dump_audit; fail "bob logged in a third time"; }
echo "broker_login: all checks passed"
