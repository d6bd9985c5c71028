#!/usr/bin/env bash
# client_install.sh — vdi-client as a person installs and first runs it: `make install DESTDIR=...` puts the
# binary and a desktop entry (valid for desktop-file-validate, the handler of vdi:// links) under PREFIX; the
# installed binary runs as an ordinary user (nobody, with a home of its own) and keeps its files in that user's
# ~/.config/vdi. With no URL it shows its connect screen; typing a vdi:// server, user name and password into it
# logs in; the unknown certificate is shown with its SHA-256 fingerprint and asked about once (the API's and
# RDP's ports share it), accepting lands on the desktop, pixel for pixel; client.ini then holds the server and
# user, never the password. The desktop entry's command with a vdi:// link opens the connect screen filled in
# (no question this time); a changed certificate puts the message naming both fingerprints under the fields
# (only the message area differs from the plain screen) and closing the window then exits 8.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"
command -v desktop-file-validate >/dev/null || skip "desktop-file-validate is not installed (desktop-file-utils)"
command -v runuser >/dev/null || skip "runuser is not installed"
id nobody >/dev/null 2>&1 || skip "there is no user nobody"
[ "$(id -u)" = 0 ] || skip "runuser needs root"

ROOT=$WORK/root
make -s install DESTDIR="$ROOT" >"$WORK/install.out" 2>&1 || { cat "$WORK/install.out"; fail "make install failed"; }
BINI=$ROOT/usr/local/bin/vdi-client
DESK=$ROOT/usr/local/share/applications/vdi-client.desktop
[ -x "$BINI" ] || fail "make install did not install $BINI"
[ -f "$DESK" ] || fail "make install did not install $DESK"
desktop-file-validate "$DESK" || fail "the desktop entry is not valid"
for line in 'Exec=vdi-client %u' 'Terminal=false' 'Categories=Network;RemoteAccess;' 'StartupWMClass=vdi-client' \
	'MimeType=x-scheme-handler/vdi;'; do
	grep -qxF "$line" "$DESK" || fail "the desktop entry lacks $line"
done
"$BINI" --help | grep -q 'vdi://' || fail "the installed vdi-client --help does not run or names no vdi:// URL"
echo "installed: $(cd "$ROOT" && find . -type f | sort | tr '\n' ' ')"

client_server
# nobody reaches the installed binary and a home of its own, and nothing else of ours.
chmod 755 "$WORK"
NHOME=$WORK/nobody
mkdir -p "$NHOME"
chown nobody "$NHOME"
read -ra EXEC <<<"$(sed -n 's/^Exec=//p' "$DESK")"
# link_command URL: the desktop entry's command for a vdi:// link (%u replaced, as a launcher does).
link_command() {
	local w
	for w in "${EXEC[@]}"; do [ "$w" = %u ] && echo "$1" || echo "$w"; done
}
# as_nobody NAME COMMAND...: COMMAND as nobody in Xvfb, its output in $WORK/NAME.out, its pid in $client_pid.
as_nobody() {
	local name=$1
	shift
	runuser -u nobody -- env -i DISPLAY=$XDISPLAY HOME="$NHOME" PATH="$ROOT/usr/local/bin:/usr/bin:/bin" \
		timeout -k 5 150 "$@" >"$WORK/$name.out" 2>&1 &
	client_pid=$!
}
# client_proc: the pid of the vdi-client that as_nobody started (below runuser, env and timeout).
client_proc() {
	local p=$client_pid
	while p=$(pgrep -P "$p" | head -1) && [ -n "$p" ]; do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = vdi-client ] && { echo "$p"; return 0; }
	done
	return 1
}
# quit: vdi-client quits as on closing its window; its exit status in $rc.
quit() {
	kill -TERM "$(client_proc)"
	wait $client_pid
	rc=$?
}
key() { DISPLAY=$XDISPLAY xdotool key --delay 60 "$@"; }
type_text() { DISPLAY=$XDISPLAY xdotool type --delay 60 "$1"; }

# First run: the connect screen, filled in by typing.
as_nobody first vdi-client
win=$(client_window) || { cat "$WORK/first.out"; fail "no vdi-client window"; }
wait_screen "$win" "$WORK/connect.png" || fail "no connect screen"
[ "$(ps -o user= -p "$(client_proc)")" = nobody ] || fail "vdi-client does not run as nobody"
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
SERVER="vdi://127.0.0.1:$API_PORT?rdp=$RDP_PORT"
type_text "$SERVER"
key Tab
type_text alice
key Tab
type_text pw-alice
key Return
# The certificate nobody vouches for: its fingerprint on the screen and in the log, asked once.
wait_for "$WORK/first.out" "asking whether to trust the certificate of 127.0.0.1:$API_PORT" 20 ||
	{ cat "$WORK/first.out"; fail "vdi-client did not ask about the unknown certificate"; }
sleep 0.5 # the question is drawn right after the line
wait_screen "$win" "$WORK/question.png" || fail "no question screen"
fp=$(openssl x509 -in "$DATA/tls.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
grep -q "(SHA-256 $fp)" "$WORK/first.out" || fail "the question does not name the certificate's SHA-256 $fp"
q=$(pixdiff "$WORK/question.png" "$WORK/connect.png")
echo "the question screen differs from the connect screen in $q pixels"
[ "$q" -gt 2000 ] || fail "the question is not on the screen"
key y
wait_audit "event = 'connect' AND user = 'alice' AND detail = 'rdp'" 30
d=$(desktop_of alice)
wait_shows "$win" "$d" "nobody's vdi-client, logged in from its connect screen" || { cat "$WORK/first.out"; fail "not on the desktop"; }
[ "$(grep -c 'asking whether' "$WORK/first.out")" = 1 ] || { cat "$WORK/first.out"; fail "asked more than once"; }
quit
echo "first run: exit $rc"
[ $rc = 0 ] || { cat "$WORK/first.out"; fail "quitting gave exit $rc"; }

CONF=$NHOME/.config/vdi
printf '%s\n' "# vdi-client: the last server and user (never the password)" "[client]" "server = $SERVER" \
	"user = alice" >"$WORK/expected.ini"
diff "$WORK/expected.ini" "$CONF/client.ini" || fail "client.ini is not the server and user"
! grep -rq pw-alice "$NHOME" || fail "the password was written down"
grep -q "^127.0.0.1:$API_PORT $fp$" "$CONF/known_hosts" && grep -q "^127.0.0.1:$RDP_PORT $fp$" "$CONF/known_hosts" ||
	{ cat "$CONF/known_hosts"; fail "known_hosts does not keep the certificate for the API and RDP"; }
[ "$(stat -c %U "$CONF/client.ini") $(stat -c %U "$CONF/known_hosts")" = "nobody nobody" ] ||
	fail "nobody's files are not nobody's"

# The desktop entry's command with a vdi:// link: the connect screen filled in, the password asked, no question.
LINK="vdi://alice@127.0.0.1:$API_PORT/office?rdp=$RDP_PORT"
mapfile -t cmd < <(link_command "$LINK")
as_nobody link "${cmd[@]}"
win=$(client_window) || { cat "$WORK/link.out"; fail "no vdi-client window for the link"; }
wait_screen "$win" "$WORK/link.png" || fail "no connect screen for the link"
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
type_text pw-alice
key Return
wait_audit "event = 'reconnect' AND user = 'alice' AND detail = 'rdp'" 30
wait_shows "$win" "$d" "through the vdi:// link" || { cat "$WORK/link.out"; fail "the link did not lead to the desktop"; }
! grep -q 'asking whether' "$WORK/link.out" || fail "the known certificate was asked about again"
quit

# A changed certificate: the message under the fields, nothing else on the screen changed.
sed -i "s/^127.0.0.1:$API_PORT .*/127.0.0.1:$API_PORT 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF/" \
	"$CONF/known_hosts"
as_nobody changed "${cmd[@]}"
win=$(client_window) || { cat "$WORK/changed.out"; fail "no vdi-client window"; }
wait_screen "$win" "$WORK/plain.png" || fail "no connect screen"
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
type_text pw-alice
key Return
wait_for "$WORK/changed.out" "CHANGED: it was SHA-256 00:11:22.*, now $fp" 20 ||
	{ cat "$WORK/changed.out"; fail "the changed certificate's message does not name both fingerprints"; }
for ((i = 0; i < 20; i++)); do
	sleep 0.25
	grab "$win" "$WORK/refused.png" && [ "$(pixdiff "$WORK/refused.png" "$WORK/plain.png" 0 490 1024 278)" -gt 500 ] && break
done
above=$(pixdiff "$WORK/refused.png" "$WORK/plain.png" 0 0 1024 490)
below=$(pixdiff "$WORK/refused.png" "$WORK/plain.png" 0 490 1024 278)
echo "the refusal on the connect screen: $below pixels of the message area changed, $above above it"
[ "$above" = 0 ] && [ "$below" -gt 500 ] || fail "the connect screen does not show the refusal in its message area"
[ "$(pixcount "$WORK/refused.png" 255 112 112)" -gt 100 ] || fail "the message is not in red"
quit
echo "closing after the refusal: exit $rc"
[ $rc = 8 ] || { cat "$WORK/changed.out"; fail "closing after a refused certificate gave exit $rc"; }
echo "client_install: all checks passed"
