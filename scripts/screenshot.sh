#!/usr/bin/env bash
# Starts the real binary on the sample project under Xvfb, presses keys with xdotool and saves
# screenshots to target/screenshots/. Needs xvfb, xdotool and imagemagick (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/screenshots
mkdir -p "$out"
cargo build --release --quiet
./target/release/tuban demo --fresh --no-window >/dev/null
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
display=:${DISPLAY_NUM:-77}
Xvfb "$display" -screen 0 1600x960x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
export DISPLAY=$display
lang_args=()
if [ "${1:-}" = "en" ]; then lang_args=(--lang en); fi
TUBAN_USER=screenshot ./target/release/tuban target/sample/示范旗.gpkg >"$out/app.log" 2>&1 &
app=$!
sleep 4
win=$(xdotool search --name "tuban" | head -1)
# No window manager under Xvfb: give the window the input focus and click on the map once.
xdotool windowfocus "$win" 2>/dev/null || true
xdotool mousemove 700 700 click 1
shot() { sleep "${2:-1.5}"; import -window root "$out/$1.png"; echo "$out/$1.png"; }
shot 01_open 2
xdotool key Right; shot 02_next
xdotool key shift+2; shot 03_verdict_illegal_advance
xdotool key b; shot 04_before
xdotool key a; xdotool key Left; shot 05_back_after
xdotool key ctrl+z; shot 06_undo
xdotool key question; shot 07_help
xdotool key Escape
xdotool key Right Right v; shot 08_side_by_side 2.5
xdotool key v; shot 09_swipe 2
xdotool mousemove 815 500; sleep 0.3; xdotool mousedown 1; sleep 0.3; xdotool mousemove 790 500; sleep 0.3; xdotool mousemove 700 500; sleep 0.3; xdotool mouseup 1; shot 10_swipe_dragged
xdotool key v
