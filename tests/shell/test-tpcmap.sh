#!/usr/bin/env bash
# test-tpcmap.sh BUILD: gpushare-control's TPC map calibration (calibrate.c)
# on the simulated driver: the map it measures is the simulated GPU's
# (gs_tpcmap_fill) for the H200 and the A100, found by UUID; it is kept in the
# state directory and used again while the driver is the same; a file that
# is not the daemon's own or does not parse is refused and measured again;
# a driver that hangs is killed within the timeout and one that crashes is
# survived, the reason left for gpushare-smi -q.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_env
trap 'rm -rf "$work"' EXIT
state=$GPUSHARE_STATE_DIR
mkdir -p "$state"
cal="$build/tests/tpcmap-calibrate"
fake="$build/tests/fake/libcuda.so.1"
uuid_of() { gpushare-smi --query-gpu=uuid --format=csv,noheader | sed -n "$(($1 + 1))p"; }
bits() { grep -E '^(sms|bit) '; }
confinement() { gpushare-smi -q | sed -n 's/^    SM Confinement *: //p'; }
file_id() { stat -c '%i %y %U %a' "$state/tpcmap-$1"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

for model in h200-sxm-141gb a100-sxm4-40gb; do
	export GPUSHARE_SIMULATE=$model
	u=$(uuid_of 0)
	check "$model: the measured map is the GPU's" \
		'"$cal" map "$state" 0 "$u" > "$work/out" && diff <(bits < "$work/out") <("$cal" model $model)'
	check "$model: kept in the state directory, 0644, as measured" \
		'cmp "$work/out" "$state/tpcmap-$u" && [ "$(stat -c %a "$state/tpcmap-$u")" = 644 ]'
	check "$model: the task descriptor and driver are named" \
		'grep -qx "tmd 0x40" "$work/out" && grep -qx "driver sim-13000" "$work/out"'
done
check "gpushare-smi -q: the A100's 54 TPCs" '[ "$(confinement)" = "TPC mask (54 TPCs calibrated, driver sim-13000)" ]'

# two GPUs: the one asked for by UUID, whatever the ordinal hint
export GPUSHARE_SIMULATE=a100-sxm4-40gb,h200-sxm-141gb
u1=$(uuid_of 1)
check "the GPU is found by its UUID, not by the ordinal given" \
	'"$cal" measure 0 "$u1" > "$work/two" && diff <(bits < "$work/two") <("$cal" model h200-sxm-141gb)'

export GPUSHARE_SIMULATE=h200-sxm-141gb
u=$(uuid_of 0)
good="$work/good"
"$cal" map "$state" 0 "$u" > "$good"
check "gpushare-smi -q: the H200's 66 TPCs" '[ "$(confinement)" = "TPC mask (66 TPCs calibrated, driver sim-13000)" ]'
before=$(file_id "$u")
check "a kept map of the same driver is used, not measured again (file untouched)" \
	'"$cal" map "$state" 0 "$u" | cmp -s - "$good" && [ "$(file_id "$u")" = "$before" ]'
check "another driver: measured again" \
	'GPUSHARE_SIM_DRIVER_VERSION=12080 "$cal" map "$state" 0 "$u" > /dev/null && grep -qx "driver sim-12080" "$state/tpcmap-$u"'
"$cal" map "$state" 0 "$u" > /dev/null

check "a driver without the launch-descriptor callback: green contexts, and why" \
	'rm -f "$state/tpcmap-$u" && ! GPUSHARE_SIM_NO_LAUNCH_CALLBACK=1 "$cal" map "$state" 0 "$u" > /dev/null 2> "$work/nocb" && confinement | grep -q "^green context" && cat "$work/nocb" "$state/tpcmap-$u" | grep -qi "callback"'
"$cal" map "$state" 0 "$u" > /dev/null

# refused files: measured again, replaced by the daemon's own
remade() { "$cal" map "$state" 0 "$u" | cmp -s - "$good" && cmp -s "$state/tpcmap-$u" "$good" &&
	[ "$(stat -c '%F %U %a' "$state/tpcmap-$u")" = "regular file root 644" ]; }
sed 's/^bit 0 0 1$/bit 0 0 1 2/' "$good" > "$state/tpcmap-$u"
check "a tampered map (an SM brought by two bits) is refused" \
	'[ "$(confinement)" = "green context (TPC map refused: the map cannot be used: SM 2 is brought by both bit 0 and bit 9)" ] && remade'
echo garbage > "$state/tpcmap-$u"
check "garbage is refused and measured again" 'confinement | grep -q "refused: line 1: expected" && remade'
head -n 5 "$good" > "$state/tpcmap-$u"
check "a cut map is refused and measured again" remade
chmod 666 "$state/tpcmap-$u"
check "a map writable by others is refused and measured again" \
	'confinement | grep -q "writable by its group or others" && remade'
cp "$good" "$work/elsewhere"; echo "bit 127 0" >> "$work/elsewhere"; cp "$work/elsewhere" "$work/elsewhere.orig"
ln -sf "$work/elsewhere" "$state/tpcmap-$u"
check "a symbolic link is not followed: replaced, its target untouched" \
	'confinement | grep -q "is a symbolic link" && remade && cmp -s "$work/elsewhere" "$work/elsewhere.orig"'
if [ "$(id -u)" = 0 ]; then
	chown 65534 "$state/tpcmap-$u"
	check "a map owned by another user is refused and measured again" \
		'confinement | grep -q "owned by uid 65534" && remade'
else
	echo "skip: a file of another owner needs root"
fi

# a driver that hangs, one that crashes: the caller lives on, the reason is kept
calib_dirs() { ls -d /tmp/gpushare-calib-* 2> /dev/null | wc -l; }
dirs=$(calib_dirs)
t0=$(now_ms)
"$cal" --libcuda "$fake" --timeout-ms 1500 map "$state" 0 "$u" > /dev/null 2> "$work/hang"; rc=$?
t1=$(now_ms)
check "a hung calibration is killed at the timeout ($((t1 - t0)) ms)" \
	'[ $rc = 1 ] && [ $((t1 - t0)) -ge 1400 ] && [ $((t1 - t0)) -lt 5000 ] && grep -q "did not finish within 2 s (killed)" "$work/hang"'
check "... the reason is in the state directory for gpushare-smi -q" \
	'grep -qx "gpushare-tpcmap-failed the calibration did not finish within 2 s (killed)" "$state/tpcmap-$u" &&
	 [ "$(confinement)" = "green context (TPC mask calibration failed: the calibration did not finish within 2 s (killed))" ]'
check "... its private MPS pipe directory is gone" '[ "$(calib_dirs)" = "$dirs" ]'
GS_FAKE_CUDA=crash "$cal" --libcuda "$fake" map "$state" 0 "$u" > /dev/null 2> "$work/crash"; rc=$?
check "a calibration that crashes is survived and said" \
	'[ $rc = 1 ] && grep -q "died of signal 6" "$work/crash" && grep -q "^gpushare-tpcmap-failed the calibration died of signal 6" "$state/tpcmap-$u"'
check "no driver library: said" \
	'"$cal" --libcuda "$work/none/libcuda.so.1" measure 0 "$u" 2>&1 | grep -q "^error cannot load $work/none/libcuda.so.1"'
check "no GPU of that UUID: said" \
	'"$cal" measure 0 GPU-00000000-0000-0000-0000-000000000000 2>&1 | grep -q "none of the driver.s 1 devices is GPU-00000000"'
check "not a GPU UUID: refused before anything runs" \
	'"$cal" map "$state" 0 "../../etc/passwd" 2>&1 | grep -q "is not a GPU UUID" && [ ! -e "$state/tpcmap-../../etc/passwd" ]'
check "after a failure the next start measures again" 'remade && [ "$(confinement)" = "TPC mask (66 TPCs calibrated, driver sim-13000)" ]'
finish
