#!/usr/bin/env bash
# noVNC (Debian's novnc) in headless Chromium, connected over WebSocket to
# vdi-server's VNC port: the page's screenshot shows the desktop, matching
# the VM's scanout within Tight/JPEG's tolerance; and a WebSocket client
# through TLS (wss://, the server's certificate, as noVNC's encrypt=1)
# gets exactly the desktop.
source "$(dirname "$0")/lib.sh"
need_kvm
[ -f /usr/share/novnc/vnc.html ] || skip "noVNC is not installed (/usr/share/novnc/vnc.html)"
command -v chromium >/dev/null || skip "chromium is not installed"
command -v convert >/dev/null || skip "ImageMagick (convert) is not installed"
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"

start_desktop d --display 1024x768
port=$((21900 + $$ % 1000))
http=$((port + 1000))
VDI_LOG=debug build/bin/vdi-server --desktop "$WORK/d.sock" --vnc-port $port --rdp-port 0 --data-dir "$WORK/data" \
	>"$WORK/server.out" 2>&1 &
server=$!
# noVNC from a file:// page would be an opaque origin; served over HTTP the
# browser sends a real Origin, which libvncserver's WebSocket requires.
python3 -m http.server -b 127.0.0.1 -d /usr/share/novnc $http >"$WORK/http.out" 2>&1 &
for ((i = 0; i < 100; i++)); do
	ss -Htln "sport = :$port" | grep -q . && ss -Htln "sport = :$http" | grep -q . && break
	sleep 0.05
done
ss -Htln "sport = :$port" | grep -q . || { cat "$WORK/server.out"; fail "vdi-server is not listening on $port"; }
ss -Htln "sport = :$http" | grep -q . || { cat "$WORK/http.out"; fail "the HTTP server is not listening on $http"; }

# novnc NAME ENCRYPT: noVNC connects (encrypt=1: wss://) and its canvas shows the VM's screen.
# The page centres the 1024x768 canvas in the 1100x900 window (resize=off:
# no scaling), so the desktop sits at (38,66). Virtual time lets the page
# connect and draw before the shot; a retry covers a slow first connect.
novnc() {
	local name=$1 encrypt=$2 ok= budget dr dg db
	local url="http://127.0.0.1:$http/vnc.html?autoconnect=1&host=127.0.0.1&port=$port&resize=off&encrypt=$encrypt"
	for budget in 5000 10000 20000; do
		# Chromium's own profile and crash dumps stay in $WORK; the certificate is self-signed.
		HOME=$WORK timeout 60 chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors \
			--user-data-dir="$WORK/chromium" --window-size=1100,900 --virtual-time-budget=$budget \
			--screenshot="$WORK/$name-page.png" "$url" >"$WORK/chromium.out" 2>&1 ||
			{ cat "$WORK/chromium.out"; fail "$name: chromium failed"; }
		convert "$WORK/$name-page.png" -crop 1024x768+38+66 +repage "PNG24:$WORK/$name.png" || fail "convert failed"
		ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
		[ "$(pngstat size "$WORK/$name.png")" = "1024 768" ] || fail "$name: the page is $(pngstat size "$WORK/$name-page.png")"
		# Above the taskbar: its clock ticks between the two pictures.
		read -r dr dg db < <(pngstat mad "$WORK/$name.png" "$WORK/ref.png" 0 0 1024 720)
		echo "$name, virtual time $budget ms: mean difference noVNC / VM: $dr $dg $db"
		awk -v r="$dr" -v g="$dg" -v b="$db" 'BEGIN { exit !(r < 4 && g < 4 && b < 4) }' && ok=1 && break
	done
	[ -n "$ok" ] || { cat "$WORK/server.out"; fail "$name: noVNC does not show the VM's screen"; }
	# The taskbar: a dark band along the bottom, unlike the top of the desktop.
	local tr tg tb br bg bb
	read -r tr tg tb < <(pngstat mean "$WORK/$name.png" 0 752 1024 12)
	read -r br bg bb < <(pngstat mean "$WORK/$name.png" 0 0 1024 12)
	[ $(((tr - br) * (tr - br) + (tg - bg) * (tg - bg) + (tb - bb) * (tb - bb))) -gt 400 ] ||
		fail "$name: no taskbar at the bottom of noVNC's canvas"
}

novnc ws 0
grep -q 'vnc: client 127.0.0.1 connected' "$WORK/server.out" || fail "the server saw no client"
[ "$(pngstat colours "$WORK/ref.png")" -gt 100 ] || fail "the VM's screen is blank"
# Through TLS, as noVNC speaks it with encrypt=1 (headless Chromium's
# virtual time does not wait for a TLS handshake, so it cannot show it
# reliably): rfb_wss.py, a WebSocket client over TLS checking the
# server's certificate, gets the desktop in Raw pixels, exactly.
ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
timeout 60 python3 tests/integration/rfb_wss.py "$port" "$WORK/data/tls.crt" "$WORK/wss.ppm" ||
	fail "a wss:// client did not get the desktop"
convert "$WORK/wss.ppm" "PNG24:$WORK/wss.png" || fail "convert failed"
d=$(pngstat diff "$WORK/wss.png" "$WORK/ref.png" 0 0 1024 720)
echo "wss: $d pixels differ from the VM's screen above the taskbar"
[ "$d" = 0 ] || fail "the wss:// client's picture is not the VM's screen"
grep -q "Got 'wss' WebSockets handshake" "$WORK/server.out" || fail "the client did not come in through wss://"

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
