#!/usr/bin/env bash
# test-apply.sh BUILD: gpushare apply / assert / export on two simulated
# A100-40GB: mig-parted's own configurations give the layout nvidia-smi's
# -cgi gives, compute instance profiles ("1c.3g.20gb": 3) the GPU instances
# of -cgi and the compute instances of -cci, gpushare-slices the README's
# multi-user slices, a second apply changes nothing, a bad file says
# file:line:column and changes nothing, a busy slice in the way is refused
# (and --force stops its program), what export prints applies back to
# the same, and SM sharing (isolated, best-effort with a floor, a weight
# and a time slice) is made, exported and set in place on a slice that
# stays, a bad weight or time slice refused at its line changing nothing;
# so is oom-wait (how long an allocation past the limit waits), 86401, -1
# and soon refused.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_env
export GPUSHARE_SIMULATE=a100-sxm4-40gb,a100-sxm4-40gb
trap 'echo quit | "$ctl" > /dev/null 2>&1; rm -rf "$work"' EXIT
app="$build/tests/cuda-app"
conf=$work/config.yaml
# the configurations of NVIDIA mig-parted's examples for the A100-40GB
cat > "$conf" <<'YAML'
version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false

  all-enabled:
    - devices: all
      mig-enabled: true
      mig-devices: {}

  all-1g.5gb:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1g.5gb": 7

  all-balanced:
    - device-filter: ["0x20B010DE", "0x20B110DE", "0x20F110DE"]
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.5gb": 2
        "2g.10gb": 1
        "3g.20gb": 1

  custom-config:
    - devices: [0]
      mig-enabled: false
    - devices: [1]
      mig-enabled: true
      mig-devices:
        "3g.20gb": 2

  h100-only:
    - device-filter: "0x233010DE"
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 7

  custom-ci:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1c.3g.20gb": 3     # three 1-slice compute instances in one 3g.20gb GPU instance
        "3g.20gb": 1

  ci-four:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1c.3g.20gb": 4     # three in one 3g.20gb, the fourth in a second
        "2c.4g.20gb": 0

  multi-user:
    - devices: [0]
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 64sm.24gb
          name: train-a
          users: [root, nobody]
        - size: 32sm.8gb
          overcommit: true
          guarantee: 4G
          default-for: [nobody]

  sharing:
    - devices: [0]
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 48sm.16gb
          name: infer
          sharing: isolated
          priority: critical
        - size: 32sm.8gb
          name: batch
          sharing: best-effort
          floor: 16
YAML
store() { cat "$work/state/slices" 2> /dev/null; }
lgi() { gpushare-smi mig -lgi 2>&1; }
lci() { gpushare-smi mig -lci 2>&1; }
# by_hand CMDS: what CMDS make on GPUs with nothing applied (their -lgi and
# -lci in by-hand and by-hand-ci), the applied state put back after
by_hand() {
	mv "$work/state" "$work/state.applied"
	eval "$1"
	lgi > "$work/by-hand"; lci > "$work/by-hand-ci"
	rm -rf "$work/state"; mv "$work/state.applied" "$work/state"
}

check "apply -c all-balanced: every GPU laid out" 'gpushare apply -f "$conf" -c all-balanced > "$work/out" && grep -q "^GPU 0: create MIG 3g.20gb" "$work/out" && grep -q "^GPU 1: create MIG 1g.5gb" "$work/out"'
lgi > "$work/applied"
# the same layout made by hand, as nvidia-smi makes it
by_hand 'gpushare-smi -i 0 -mig 1 > /dev/null && gpushare-smi -i 1 -mig 1 > /dev/null && gpushare-smi mig -cgi 3g.20gb,2g.10gb,1g.5gb,1g.5gb -C > /dev/null'
check "... the layout -cgi 3g.20gb,2g.10gb,1g.5gb,1g.5gb -C gives (profiles, IDs, placements: the largest first, as mig-parted)" 'diff "$work/by-hand" "$work/applied"'
check "... each with its compute instance (mig -lci)" '[ "$(gpushare-smi mig -lci | grep -c "MIG ")" = 8 ]'
before=$(store)
check "a second apply changes nothing and says so" 'gpushare apply -f "$conf" -c all-balanced | grep -q "^GPU 0: matches" && [ "$(store)" = "$before" ]'
check "assert: the GPUs match" 'gpushare assert -f "$conf" -c all-balanced | grep -q "match config \"all-balanced\""'
check "assert of another config: exit 1, saying what differs" '! gpushare assert -f "$conf" -c all-1g.5gb > "$work/out" && grep -q "do not match" "$work/out" && [ "$(store)" = "$before" ]'
check "--dry-run says what it would do and changes nothing" 'gpushare apply -f "$conf" -c all-1g.5gb --dry-run > "$work/out" && grep -q "remove MIG 3g.20gb" "$work/out" && grep -q "dry run" "$work/out" && [ "$(store)" = "$before" ]'
check "apply -c all-1g.5gb: seven 1g.5gb on each GPU" 'gpushare apply -f "$conf" -c all-1g.5gb > /dev/null && [ "$(gpushare-smi mig -lgi | grep -c "MIG 1g.5gb")" = 14 ]'
check "custom-config: GPU 0 off, GPU 1 two 3g.20gb" 'gpushare apply -f "$conf" -c custom-config > /dev/null && gpushare-smi -i 0 -q | grep -A1 "MIG Mode" | grep -q Disabled && [ "$(gpushare-smi mig -i 1 -lgi | grep -c "MIG 3g.20gb")" = 2 ]'
check "a device-filter of another GPU leaves these as they are" 'before=$(store); gpushare apply -f "$conf" -c h100-only | grep -q "GPU 0: not in config" && [ "$(store)" = "$before" ]'
check "all-disabled: soft MIG off everywhere, no slice left" 'gpushare apply -f "$conf" -c all-disabled > /dev/null && ! gpushare-smi mig -lgi | grep -q "MIG "'

# mig-parted's compute instance profiles: GPU instances filled with CIs
check "apply -c custom-ci --dry-run: the GPU instances and their compute instances, nothing changed" 'before=$(store); gpushare apply -f "$conf" -c custom-ci --dry-run > "$work/out" && grep -q "^GPU 1: create MIG 3g.20gb (GI 2) with 3 compute instances" "$work/out" && [ "$(grep -c "^GPU 0: create MIG 1c.3g.20gb (GI 2, CI [012]) MIG-" "$work/out")" = 3 ] && [ "$(store)" = "$before" ]'
check "apply -c custom-ci" 'gpushare apply -f "$conf" -c custom-ci > /dev/null'
lgi > "$work/applied"; lci > "$work/applied-ci"
by_hand 'gpushare-smi -i 0 -mig 1 > /dev/null && gpushare-smi -i 1 -mig 1 > /dev/null && gpushare-smi mig -cgi 9 -C > /dev/null && gpushare-smi mig -cgi 9 > /dev/null && gpushare-smi mig -gi 2 -cci 1c.3g.20gb,1c.3g.20gb,1c.3g.20gb > /dev/null'
check "... the GPU instances -cgi 9 -C, then -cgi 9 give" 'diff "$work/by-hand" "$work/applied"'
check "... and the compute instances -gi 2 -cci 1c.3g.20gb,1c.3g.20gb,1c.3g.20gb gives beside the first GI's whole one (mig -lci)" 'diff "$work/by-hand-ci" "$work/applied-ci" && [ "$(grep -c "MIG 1c.3g.20gb" "$work/applied-ci")" = 6 ]'
before=$(store)
check "a second apply changes nothing and says so" '[ "$(gpushare apply -f "$conf" -c custom-ci | grep -c ": matches$")" = 2 ] && [ "$(store)" = "$before" ]'
check "assert: the GPUs match custom-ci" 'gpushare assert -f "$conf" -c custom-ci | grep -q "match config \"custom-ci\""'
check "export writes the compute instances as \"1c.3g.20gb\": 3 beside \"3g.20gb\": 1" 'gpushare export -c ci-again > "$work/export-ci.yaml" && [ "$(grep -c "^        \"1c.3g.20gb\": 3$" "$work/export-ci.yaml")" = 2 ] && [ "$(grep -c "^        \"3g.20gb\": 1$" "$work/export-ci.yaml")" = 2 ]'
check "... which assert matches and apply leaves as it is" 'gpushare assert -f "$work/export-ci.yaml" -c ci-again | grep -q "match" && gpushare apply -f "$work/export-ci.yaml" -c ci-again > /dev/null && [ "$(store)" = "$before" ]'
check "ci-four: the GI holding three 1c stays, the other gets the fourth" 'gpushare apply -f "$conf" -c ci-four > "$work/out" && grep -q "^GPU 0: remove MIG 3g.20gb (GI 1)" "$work/out" && ! grep -q "remove MIG 3g.20gb (GI 2)" "$work/out" && [ "$(lci | grep -c "MIG 1c.3g.20gb")" = 8 ] && [ "$(lgi | grep -c "MIG 3g.20gb")" = 4 ] && gpushare assert -f "$conf" -c ci-four > /dev/null'
check "assert of custom-ci now: exit 1, saying what differs" '! gpushare assert -f "$conf" -c custom-ci > "$work/out" && grep -q "create MIG 3g.20gb" "$work/out"'
gpushare apply -f "$conf" -c all-disabled > /dev/null

# gpushare's own: the README's multi-user slices, through the daemon
chmod -R a+rwX "$work/sim" # the simulated GPU's state, shared by every user's programs
"$ctl" -d
check "gpushare-slices: names, users, over-commit with a guarantee, a default user" 'gpushare apply -f "$conf" -c multi-user > /dev/null && echo list_slices | "$ctl" > "$work/slices" && grep -qE " train-a +[0-9]+ +0 +64 +24576MiB +24576MiB .* root,nobody +queue " "$work/slices" && grep -qE " +32 +8192MiB +4096MiB " "$work/slices"'
if sanitized; then
	echo "skip programs in slices: a sanitized interposer cannot be preloaded (test-interposer covers it)"
else
check "... the default user's programs land in the default slice" 'out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" info 2>&1); echo "$out" | grep -qx "sms 32"'
fi
check "export prints what apply makes again" 'gpushare export -c again > "$work/export.yaml" && gpushare assert -f "$work/export.yaml" -c again | grep -q "match"'

# a busy slice in the way
if sanitized; then
	echo "skip a busy slice in the way: a sanitized interposer cannot be preloaded (test-interposer covers it)"
	gpushare apply -f "$conf" -c all-1g.5gb > /dev/null
else
GPUSHARE_SLICE=train-a LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" hold 512 > "$work/hold" 2>&1 &
holder=$!
wait_for 'grep -q held "$work/hold"'
before=$(store)
check "a slice a program holds memory in is not taken away: refused, naming it, nothing changed" '! gpushare apply -f "$conf" -c all-1g.5gb 2> "$work/err" && grep -q "programs hold memory in slices that must go: $holder;" "$work/err" && [ "$(store)" = "$before" ] && kill -0 $holder'
check "--force stops it and applies" 'gpushare apply -f "$conf" -c all-1g.5gb --force > /dev/null && ! kill -0 $holder 2> /dev/null && [ "$(gpushare-smi mig -lgi | grep -c "MIG 1g.5gb")" = 14 ]'
wait "$holder" 2> /dev/null
fi

# SM sharing: the policies of create_slice, in the file
check "sharing: an isolated critical slice and a best-effort one with a floor" 'gpushare apply -f "$conf" -c sharing > /dev/null && echo list_slices | "$ctl" > "$work/slices" && grep -qE " infer .* isolated,critical +no " "$work/slices" && grep -qE " batch .* best-effort,floor=16 +no " "$work/slices"'
check "export writes the policies, only the keys that are not the default" 'gpushare export -c sharing-again > "$work/export-sharing.yaml" && grep -qx "          sharing: isolated" "$work/export-sharing.yaml" && grep -qx "          priority: critical" "$work/export-sharing.yaml" && grep -qx "          sharing: best-effort" "$work/export-sharing.yaml" && grep -qx "          floor: 16" "$work/export-sharing.yaml" && ! grep -qE "lend:|borrow:" "$work/export-sharing.yaml"'
before=$(store)
check "... which applies back changing nothing, and assert matches" 'gpushare apply -f "$work/export-sharing.yaml" -c sharing-again | grep -q "^GPU 0: matches" && [ "$(store)" = "$before" ] && gpushare assert -f "$work/export-sharing.yaml" -c sharing-again | grep -q "match config"'
batch=$(awk '$3 == "batch" { print $1 }' "$work/slices")
echo "set_slice_sm_policy batch -floor 8" | "$ctl" > /dev/null
check "a slice whose policy differs: assert says so" '! gpushare assert -f "$conf" -c sharing > "$work/out" && grep -q "^GPU 0: SM sharing of $batch named batch from best-effort,floor=8 to best-effort,floor=16" "$work/out"'
check "... and apply sets it in place: the same slice, the file's policy" 'gpushare apply -f "$conf" -c sharing > "$work/out" && grep -q "SM sharing of $batch named batch" "$work/out" && ! grep -q "remove MIG" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$batch .* batch .* best-effort,floor=16 +no " && [ "$(store)" = "$before" ]'

# weight and timeslice: create_slice's -weight and -timeslice, in the file
cat > "$work/weights.yaml" <<'YAML'
version: v1
mig-configs:
  weights:
    - devices: [0]
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 48sm.16gb
          name: infer
          weight: 3
          timeslice: 20
        - size: 32sm.8gb
          name: batch
YAML
check "weights: a slice with weight 3 and turns of 20 ms beside a default one" 'gpushare apply -f "$work/weights.yaml" -c weights > /dev/null && echo list_slices | "$ctl" > "$work/slices" && grep -qE " infer .* shared,weight=3,timeslice=20ms +no " "$work/slices" && grep -qE " batch .* shared +no " "$work/slices"'
infer=$(awk '$3 == "infer" { print $1 }' "$work/slices")
check "export writes weight and timeslice, for that slice alone" 'gpushare export -c weights-again > "$work/export-weights.yaml" && grep -qx "          weight: 3" "$work/export-weights.yaml" && grep -qx "          timeslice: 20" "$work/export-weights.yaml" && [ "$(grep -c "weight:" "$work/export-weights.yaml")" = 1 ] && [ "$(grep -c "timeslice:" "$work/export-weights.yaml")" = 1 ]'
before=$(store)
check "... which applies back changing nothing, and assert matches" 'gpushare apply -f "$work/export-weights.yaml" -c weights-again | grep -q "^GPU 0: matches" && [ "$(store)" = "$before" ] && gpushare assert -f "$work/export-weights.yaml" -c weights-again | grep -q "match config"'
sed 's/weight: 3/weight: 5/' "$work/weights.yaml" > "$work/weight5.yaml"
check "a config that changes only the weight: assert says so" '! gpushare assert -f "$work/weight5.yaml" -c weights > "$work/out" && grep -q "^GPU 0: SM sharing of $infer named infer from shared,weight=3,timeslice=20ms to shared,weight=5,timeslice=20ms" "$work/out" && [ "$(store)" = "$before" ]'
check "... and apply sets it in place: the same slice, its time slice kept" 'gpushare apply -f "$work/weight5.yaml" -c weights > "$work/out" && grep -q "SM sharing of $infer named infer" "$work/out" && ! grep -qE "remove MIG|create MIG" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$infer .* infer .* shared,weight=5,timeslice=20ms +no "'
sed 's/weight: 3/weight: 1/; s/timeslice: 20/timeslice: off/' "$work/weights.yaml" > "$work/weight1.yaml"
check "weight: 1 and timeslice: off are the defaults: set in place, then a second apply matches" 'gpushare apply -f "$work/weight1.yaml" -c weights > "$work/out" && grep -q "SM sharing of $infer named infer from shared,weight=5,timeslice=20ms to shared$" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$infer .* infer .* shared +no " && gpushare apply -f "$work/weight1.yaml" -c weights | grep -q "^GPU 0: matches" && ! gpushare export | grep -qE "weight:|timeslice:"'
gpushare apply -f "$work/weights.yaml" -c weights > /dev/null
before=$(store)
# bad_value SED MESSAGE: weights.yaml edited by SED is refused with MESSAGE, nothing changed
bad_value() {
	sed "$1" "$work/weights.yaml" > "$work/weights-bad.yaml"
	! gpushare apply -f "$work/weights-bad.yaml" -c weights > "$work/out" 2>&1 && grep -qF "gpushare apply: $work/weights-bad.yaml:$2" "$work/out" && [ "$(store)" = "$before" ]
}
check "weight: 0 is refused: 1 to 100" 'bad_value "s/weight: 3/weight: 0/" "10:19: \"weight\" must be 1 to 100 (its part of the SMs it runs on beside other busy slices; 1: as every slice), not 0"'
check "weight: 101 is refused: at most 100" 'bad_value "s/weight: 3/weight: 101/" "10:19: \"weight\" must be at most 100, not 101"'
check "timeslice: 5000 is refused: at most 1000" 'bad_value "s/timeslice: 20/timeslice: 5000/" "11:22: \"timeslice\" must be at most 1000, not 5000"'
check "timeslice: fast is refused: milliseconds or off" 'bad_value "s/timeslice: 20/timeslice: fast/" "11:22: \"timeslice\" must be a whole number 1 to 1000 (ms, the turn its programs take) or off (they run at once), not \"fast\""'
check "timeslice: 0 is refused: off, or no timeslice" 'bad_value "s/timeslice: 20/timeslice: 0/" "11:22: \"timeslice\" must be 1 to 1000 (ms, the turn its programs take) or off (they run at once), not 0: for programs that run at once write off, or leave timeslice out"'
check "... the slice keeps its weight and time slice" 'echo list_slices | "$ctl" | grep -qE "^$infer .* infer .* shared,weight=3,timeslice=20ms +no "'
check "back to sharing: the same slices, their policies set in place" 'gpushare apply -f "$conf" -c sharing > "$work/out" && ! grep -q "remove MIG" "$work/out" && echo list_slices | "$ctl" > "$work/slices" && grep -qE "^$infer .* infer .* isolated,critical +no " "$work/slices"'

# oom-wait: create_slice's -oom-wait, in the file, on a custom size and on a profile
cat > "$work/oomwait.yaml" <<'YAML'
version: v1
mig-configs:
  oomwait:
    - devices: [0]
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 1g.5gb
          name: small
          oom-wait: 5
        - size: 48sm.16gb
          name: train
          oom-wait: 60
        - size: 32sm.8gb
          name: notebooks
YAML
check "oom-wait: 60 makes a slice whose POLICY is queue,oom-wait=60s, beside one that waits not at all" 'gpushare apply -f "$work/oomwait.yaml" -c oomwait > "$work/out" && grep -q "create MIG 48sm.16gb (GI [0-9]*) named train" "$work/out" && echo list_slices | "$ctl" > "$work/slices" && grep -qE " train .* queue,oom-wait=60s +shared +no " "$work/slices" && grep -qE " notebooks .* queue +shared +no " "$work/slices" && grep -qE " small .* queue,oom-wait=5s +shared +no " "$work/slices"'
train=$(awk '$3 == "train" { print $1 }' "$work/slices")
check "export writes oom-wait where it is not 0, a profile's slice among gpushare-slices" 'gpushare export -c oomwait-again > "$work/export-oomwait.yaml" && grep -qx "          oom-wait: 60" "$work/export-oomwait.yaml" && grep -qx "          oom-wait: 5" "$work/export-oomwait.yaml" && [ "$(grep -c "oom-wait:" "$work/export-oomwait.yaml")" = 2 ] && grep -qx "        - size: \"1g.5gb\"" "$work/export-oomwait.yaml"'
before=$(store)
check "... which applies back changing nothing, and assert matches" 'gpushare apply -f "$work/export-oomwait.yaml" -c oomwait-again | grep -q "^GPU 0: matches" && [ "$(store)" = "$before" ] && gpushare assert -f "$work/export-oomwait.yaml" -c oomwait-again | grep -q "match config"'
sed 's/oom-wait: 60/oom-wait: 600/' "$work/oomwait.yaml" > "$work/oomwait600.yaml"
check "a config that changes only the oom-wait: assert says so, changing nothing" '! gpushare assert -f "$work/oomwait600.yaml" -c oomwait > "$work/out" && grep -qx "GPU 0: oom-wait of $train named train from 60s to 600s" "$work/out" && [ "$(grep -c "^GPU 0: " "$work/out")" = 1 ] && [ "$(store)" = "$before" ]'
check "... and apply sets it in place: the same slice, nothing made or removed" 'gpushare apply -f "$work/oomwait600.yaml" -c oomwait > "$work/out" && grep -qx "GPU 0: oom-wait of $train named train from 60s to 600s" "$work/out" && ! grep -qE "remove MIG|create MIG|SM sharing" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$train .* train .* queue,oom-wait=600s +shared +no " && gpushare apply -f "$work/oomwait600.yaml" -c oomwait | grep -q "^GPU 0: matches"'
echo "set_slice_oom_wait train 30" | "$ctl" > /dev/null
check "an oom-wait set by hand: assert says so, apply sets the file's back in place" '! gpushare assert -f "$work/oomwait.yaml" -c oomwait > "$work/out" && grep -qx "GPU 0: oom-wait of $train named train from 30s to 60s" "$work/out" && gpushare apply -f "$work/oomwait.yaml" -c oomwait > "$work/out" && ! grep -qE "remove MIG|create MIG" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$train .* train .* queue,oom-wait=60s +shared +no "'
sed 's/oom-wait: 60/oom-wait: 0/' "$work/oomwait.yaml" > "$work/oomwait0.yaml"
check "oom-wait: 0 is the default: set in place, not exported, then a second apply matches" 'gpushare apply -f "$work/oomwait0.yaml" -c oomwait > "$work/out" && grep -qx "GPU 0: oom-wait of $train named train from 60s to 0s" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$train .* train .* queue +shared +no " && gpushare apply -f "$work/oomwait0.yaml" -c oomwait | grep -q "^GPU 0: matches" && [ "$(gpushare export | grep -c "oom-wait:")" = 1 ]'
gpushare apply -f "$work/oomwait.yaml" -c oomwait > /dev/null
before=$(store)
# bad_wait SED MESSAGE: oomwait.yaml edited by SED is refused with MESSAGE, nothing changed
bad_wait() {
	sed "$1" "$work/oomwait.yaml" > "$work/oomwait-bad.yaml"
	! gpushare apply -f "$work/oomwait-bad.yaml" -c oomwait > "$work/out" 2>&1 && grep -qF "gpushare apply: $work/oomwait-bad.yaml:$2" "$work/out" && [ "$(store)" = "$before" ]
}
range="0 to 86400 (the seconds an allocation past the slice's memory limit waits for memory its programs free; 0: refused at once)"
check "oom-wait: 86401 is refused: at most 86400" 'bad_wait "s/oom-wait: 60/oom-wait: 86401/" "13:21: \"oom-wait\" must be at most 86400, not 86401"'
check "oom-wait: -1 is refused: 0 to 86400" 'bad_wait "s/oom-wait: 60/oom-wait: -1/" "13:21: \"oom-wait\" must be $range, not -1"'
check "oom-wait: soon is refused: a whole number of seconds" 'bad_wait "s/oom-wait: 60/oom-wait: soon/" "13:21: \"oom-wait\" must be a whole number $range, not \"soon\""'
check "... the slice keeps its oom-wait" 'echo list_slices | "$ctl" | grep -qE "^$train .* train .* queue,oom-wait=60s +shared +no "'
check "back to sharing: its slices made again, oom-wait's gone" 'gpushare apply -f "$conf" -c sharing > /dev/null && echo list_slices | "$ctl" > "$work/slices" && grep -qE " infer .* queue +isolated,critical +no " "$work/slices" && ! grep -q "oom-wait" "$work/slices"'

# borrow-memory: create_slice's -borrow-memory on, in the file, with overcommit
cat > "$work/borrow.yaml" <<'YAML'
version: v1
mig-configs:
  borrow:
    - devices: [0]
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 48sm.24gb
          name: owner
        - size: 32sm.32gb
          name: batch
          overcommit: true
          borrow-memory: true
YAML
check "borrow-memory: true makes a borrowing slice (POLICY queue,borrow-memory)" 'gpushare apply -f "$work/borrow.yaml" -c borrow > "$work/out" && echo list_slices | "$ctl" > "$work/slices" && grep -qE " batch .* queue,borrow-memory +shared +no " "$work/slices" && grep -qE " owner .* queue +shared +no " "$work/slices"'
batch=$(awk '$3 == "batch" { print $1 }' "$work/slices")
check "export writes it, and it applies back changing nothing" 'gpushare export -c borrow-again > "$work/export-borrow.yaml" && [ "$(grep -c "^          borrow-memory: true$" "$work/export-borrow.yaml")" = 1 ] && before=$(store) && gpushare apply -f "$work/export-borrow.yaml" -c borrow-again | grep -q "^GPU 0: matches" && [ "$(store)" = "$before" ]'
sed '/borrow-memory: true/d' "$work/borrow.yaml" > "$work/borrow-off.yaml"
check "a config without it sets it off in place, the same slice" 'gpushare apply -f "$work/borrow-off.yaml" -c borrow > "$work/out" && grep -qx "GPU 0: borrow-memory of $batch named batch from true to false" "$work/out" && ! grep -qE "remove MIG|create MIG" "$work/out" && echo list_slices | "$ctl" | grep -qE "^$batch .* batch .* queue +shared +no "'
before=$(store)
check "borrow-memory without overcommit is refused at its line, nothing changed" 'sed "/overcommit: true/d" "$work/borrow.yaml" > "$work/borrow-bad.yaml" && ! gpushare apply -f "$work/borrow-bad.yaml" -c borrow > "$work/out" 2>&1 && grep -qF "borrow-bad.yaml:12:11: \"borrow-memory\" needs \"overcommit: true\"" "$work/out" && [ "$(store)" = "$before" ]'
check "and with priority: critical" 'sed "s/borrow-memory: true/borrow-memory: true\n          priority: critical/" "$work/borrow.yaml" > "$work/borrow-bad.yaml" && ! gpushare apply -f "$work/borrow-bad.yaml" -c borrow > "$work/out" 2>&1 && grep -qF "\"borrow-memory\" goes with no \"priority: critical\"" "$work/out" && [ "$(store)" = "$before" ]'
gpushare apply -f "$conf" -c sharing > /dev/null

# bad files: file:line:column, nothing changed
before=$(store)
bad() { printf '%s\n' "$@" > "$work/bad.yaml"; gpushare apply -f "$work/bad.yaml" -c c 2>&1; }
check "a profile the GPU does not have" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: all" "      mig-enabled: true" "      mig-devices:" "        \"3g.40gb\": 1" | grep -q "bad.yaml:7:9: GPU 0 (NVIDIA A100-SXM4-40GB) has no MIG profile \"3g.40gb\" (its profiles: 1g.5gb"'
check "more than fits: refused, nothing changed" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: all" "      mig-enabled: true" "      mig-devices:" "        \"4g.20gb\": 2" | grep -q "no room for another 4g.20gb on GPU 0" && [ "$(store)" = "$before" ]'
check "a compute instance size the GI profile does not have: the CI profiles it has" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: all" "      mig-enabled: true" "      mig-devices:" "        \"3c.4g.20gb\": 1" | grep -q "bad.yaml:7:9: GPU 0 (NVIDIA A100-SXM4-40GB) has no compute instance profile \"3c.4g.20gb\" in a 4g.20gb (its compute instance profiles: 4g.20gb, 2c.4g.20gb, 1c.4g.20gb)" && [ "$(store)" = "$before" ]'
check "a compute instance profile of a GI profile the GPU does not have" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: all" "      mig-enabled: true" "      mig-devices:" "        \"1c.3g.40gb\": 1" | grep -q "bad.yaml:7:9: GPU 0 (NVIDIA A100-SXM4-40GB) has no MIG profile \"3g.40gb\" for compute instances \"1c.3g.40gb\" (its profiles: 1g.5gb"'
check "a profile name of the wrong shape" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: all" "      mig-enabled: true" "      mig-devices: {1c.3g.20gb: 1, 1c.3g: 2}" | grep -q "bad.yaml:6:36: a profile name must be a GPU instance profile <g>g.<N>gb like \"3g.20gb\" or a compute instance profile <c>c.<g>g.<N>gb like \"1c.3g.20gb\""'
check "an unknown user" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: [0]" "      mig-enabled: true" "      mig-devices: {}" "      gpushare-slices:" "        - size: 8sm.1gb" "          users: [no-such-user]" | grep -q "bad.yaml:9:18: no user \"no-such-user\""'
check "a size that is none" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: [0]" "      mig-enabled: true" "      mig-devices: {}" "      gpushare-slices:" "        - size: lots" | grep -q "bad.yaml:8:17: \"lots\" is no size for GPU 0"'
check "a floor above the slice's SMs: the slice layer's refusal at its line" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: [0]" "      mig-enabled: true" "      mig-devices: {}" "      gpushare-slices:" "        - size: 32sm.8gb" "          sharing: best-effort" "          floor: 40" | grep -q "bad.yaml:10:18: GPU 0: A floor of 40 SMs is more than the slice'"'"'s 32 SMs: give at most 32"'
check "lend: false with sharing: best-effort" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: [0]" "      mig-enabled: true" "      mig-devices: {}" "      gpushare-slices:" "        - size: 32sm.8gb" "          sharing: best-effort" "          lend: false" | grep -q "bad.yaml:10:11: a best-effort slice always lends and borrows SMs: \"lend: false\" goes with \"sharing: shared\""'
check "an unknown sharing mode" 'bad "version: v1" "mig-configs:" "  c:" "    - devices: [0]" "      mig-enabled: true" "      mig-devices: {}" "      gpushare-slices:" "        - size: 32sm.8gb" "          sharing: exclusive" | grep -q "bad.yaml:9:20: \"sharing\" must be shared, isolated or best-effort, not \"exclusive\""'
check "the slices keep their policies" 'echo list_slices | "$ctl" > "$work/slices" && grep -qE " infer .* isolated,critical +no " "$work/slices" && grep -qE " batch .* best-effort,floor=16 +no " "$work/slices"'
check "a config the file does not have" '! gpushare apply -f "$conf" -c nope 2> "$work/err" && grep -q "all-balanced" "$work/err"'
check "... and none of them changed anything" '[ "$(store)" = "$before" ]'
check "apply without -f or -c: usage, exit 2" 'gpushare apply -c x > /dev/null 2>&1; [ $? = 2 ]'
finish
