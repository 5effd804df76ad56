#!/usr/bin/env bash
# apply.sh: on the GPU machine, gpushare apply on the real GPU (soft slices
# on the H200, whose hardware MIG mode stays off): a mig-parted file with
# gpushare-slices, assert, a second apply that changes nothing, export; then
# a program in each of the two slices, alone and side by side, under
# gpushare-control with NVIDIA's MPS.
. bench/device/control-env.sh
cat > /tmp/gs-apply.yaml <<'YAML'
version: v1
mig-configs:
  two-halves:
    - device-filter: ["0x233510DE", "0x233B10DE"]
      devices: all
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 64sm.64gb
          name: left
        - size: 64sm.64gb
          name: right
YAML
nvidia-smi --query-gpu=pci.device_id,mig.mode.current --format=csv,noheader
echo "== apply";  gpushare apply -f /tmp/gs-apply.yaml -c two-halves; echo "exit $?"
echo "== assert"; gpushare assert -f /tmp/gs-apply.yaml -c two-halves; echo "exit $?"
echo "== again";  gpushare apply -f /tmp/gs-apply.yaml -c two-halves; echo "exit $?"
echo "== export"; gpushare export
gpushare-control -d
echo "== alone";  for s in left right; do echo "$s: $(gpushare run --slice $s -- $d/smid_shared 3)"; done
echo "== side by side"
gpushare run --slice left -- $d/smid_shared 3 > /tmp/a.out & gpushare run --slice right -- $d/smid_shared 3 > /tmp/b.out &
wait; echo "left: $(cat /tmp/a.out)"; echo "right: $(cat /tmp/b.out)"
echo quit | gpushare-control; echo "quit: exit $?"
nvidia-smi --query-gpu=mig.mode.current --format=csv,noheader
