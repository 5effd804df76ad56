#!/usr/bin/env bash
# svg-png.sh SVG PNG: the figure as a browser draws it: Debian's headless
# Chromium (scripts/deps.sh installs it) takes a screenshot of SVG at the
# figure's own size (its width and height attributes) into PNG.
# --no-sandbox only as root (Chromium's sandbox refuses to start there);
# --disable-gpu and --disable-dev-shm-usage: no GPU and a small /dev/shm in
# containers; a fresh profile each time, removed after.
set -u
svg=$1 png=$2
command -v chromium > /dev/null || { echo "svg-png.sh: no chromium (scripts/deps.sh installs it)" >&2; exit 2; }
read -r w h <<< "$(head -c 4096 "$svg" | tr -d '\n' | sed -nE 's/.*<svg [^>]*width="([0-9]+)" height="([0-9]+)".*/\1 \2/p')"
[ -n "${w:-}" ] || { echo "svg-png.sh: $svg has no <svg width=... height=...>" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
sandbox=()
[ "$(id -u)" = 0 ] && sandbox=(--no-sandbox)
rm -f "$png"
timeout 60 chromium --headless "${sandbox[@]}" --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
	--user-data-dir="$profile" --window-size="$w,$h" --screenshot="$(realpath -m "$png")" \
	"file://$(realpath "$svg")" > "$profile/log" 2>&1
[ -s "$png" ] || { echo "svg-png.sh: chromium made no $png:" >&2; tail -5 "$profile/log" >&2; exit 1; }
