#!/usr/bin/env bash
# replay.sh BUILD TRANSCRIPT: runs every "$ command" of a transcript against
# the simulated GPU and diffs the whole output with the transcript's.
# "@ K=V ..." lines set environment for the commands after them; "@reset"
# starts from empty state; "@nvidia" marks a transcript of NVIDIA's own
# output, where the lines gpushare-smi adds on stderr ("gpushare-smi: ...",
# hints after nvidia-smi's messages) are left out of the comparison. The clock line and the version header of the
# status table, and MIG UUIDs (random on NVIDIA's side), are normalised.
set -u
build=$(cd "$1" && pwd); transcript=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export PATH="$build/bin:$build/tests:$PATH" GPUSHARE_SIM_LIB_DIR="$build/lib/gpushare-sim"
reset_state() {
	rm -rf "$work/state" "$work/sim"
	export GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim"
}
reset_state
export GPUSHARE_SIMULATE=a100-sxm4-40gb
actual="$work/actual"; : > "$actual"; nvidia=0
while IFS= read -r line; do
	case "$line" in
	'@reset') reset_state; echo "$line" >> "$actual" ;;
	'@nvidia') nvidia=1; echo "$line" >> "$actual" ;;
	'@ '*) echo "$line" >> "$actual"; for kv in ${line#@ }; do export "$kv"; done ;;
	'$ '*) echo "$line" >> "$actual"
	      if [ "$nvidia" = 1 ]; then
		      (eval "${line#\$ }") 2>&1 | grep -v '^gpushare-smi: ' >> "$actual"
	      else
		      (eval "${line#\$ }") >> "$actual" 2>&1
	      fi ;;
	esac
done < "$transcript"
normalise() {
	sed -E -e 's/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}$/<clock>/' \
	       -e 's/^\| (NVIDIA|GPUSHARE)-SMI .*\|$/<version header>/' \
	       -e 's/MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/MIG-<uuid>/g' "$1"
}
if ! diff -u <(normalise "$transcript") <(normalise "$actual") > "$work/diff"; then
	echo "FAIL $(basename "$transcript")"; cat "$work/diff"; exit 1
fi
# MIG UUIDs are normalised above; they must still be well formed and distinct
dups=$(grep -oE 'MIG-[0-9a-f-]{36}' "$actual" | sort | uniq -d | wc -l)
listed=$(grep -cE 'Device +[0-9]+: \(UUID: MIG-' "$actual")
if [ "$listed" -gt 0 ] && [ "$dups" -ne 0 ]; then
	echo "FAIL $(basename "$transcript"): repeated MIG UUIDs"; exit 1
fi
echo "ok   $(basename "$transcript") ($(grep -c '^\$ ' "$transcript") commands)"
