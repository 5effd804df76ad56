#!/usr/bin/env bash
# test-timeline-browser.sh BUILD: gpushare timeline's figures as a real
# browser draws them: Debian's headless Chromium (scripts/svg-png.sh) renders
# the SVG of a trace of three programs in three slices of the simulated GPU,
# by SM and by slice, and the PNG, decoded with python3's zlib (tests/shell/png-facts.py),
# is the figure's size, not blank, and shows every program's colour where
# its kernels are.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
repo=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v chromium > /dev/null; then
	echo "skip: chromium is not installed (Debian's chromium package; scripts/deps.sh installs it)"
	finish
fi
need_preload
sim_env
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sim" "$work/bin"
cd "$work"
# the programs by name (the trace's program is the executable's)
for x in A B C; do ln -s "$build/tests/cuda-app" "bin/$x"; done
# each in a slice of its own, so that each has rows of its own by slice too
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 2g.10gb,2g.10gb,2g.10gb -C > /dev/null
read -r s1 s2 s3 <<< "$(gpushare-smi -L | grep -o 'MIG-[0-9a-f-]*' | tr '\n' ' ')"
gpushare run --trace t.json -- sh -c "GPUSHARE_SLICE=$s1 bin/A seed 100 4000 2000 12 > /dev/null & GPUSHARE_SLICE=$s2 bin/B seed 100 4000 2000 12 > /dev/null & GPUSHARE_SLICE=$s3 bin/C seed 100 4000 2000 12 > /dev/null; wait" 2> /dev/null
gpushare timeline t.json -o sm.svg && gpushare timeline t.json --by slice -o slice.svg
check "a trace of three programs drawn by SM and by slice" '[ -s sm.svg ] && [ -s slice.svg ]'
legend=$(grep -o '<rect class="legend"[^>]*fill="#[0-9a-f]*"' sm.svg | grep -o '#[0-9a-f]*' | tr '\n' ' ')
check "three colours in the legend: $legend" '[ "$(echo $legend | wc -w)" = 3 ]'
for by in sm slice; do
	"$repo/scripts/svg-png.sh" "$by.svg" "$by.png" 2> "$by.err"
	check "by $by: chromium renders the SVG to a PNG" '[ -s "$by.png" ]' || cat "$by.err"
	read -r w h <<< "$(sed -nE 's/.*<svg [^>]*width="([0-9]+)" height="([0-9]+)".*/\1 \2/p' "$by.svg")"
	# shellcheck disable=SC2086
	valid=0
	eval "$("$py" "$repo/tests/shell/png-facts.py" "$by.png" $legend)"
	check "by $by: a PNG of the figure's size (${width:-?}x${height:-?} for ${w}x$h)" '[ "$valid" = 1 ] && [ "$width" = "$w" ] && [ "$height" = "$h" ]'
	check "by $by: not blank: ${colours:-0} colours, ${ink:-0}% ink" '[ "$valid" = 1 ] && [ "$colours" -ge 4 ] && [ "$ink" -ge 3 ]'
	seen=$(set | grep -o '^seen_[0-9a-f]*=[0-9]*' | tr '\n' ' ')
	check "by $by: every program's colour is drawn ($seen)" '[ "$valid" = 1 ] && ! set | grep -q "^seen_[0-9a-f]*=[0-9]\{0,2\}$"'
	unset $(set | grep -o '^seen_[0-9a-f]*')
done
finish
