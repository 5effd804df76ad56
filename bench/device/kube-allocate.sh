#!/usr/bin/env bash
# kube-allocate.sh: on the GPU machine, two jobs started exactly as
# gpushare-device-plugin's Allocate answers them, on the real GPU:
# gpushare apply makes two 64-SM slices, gpushare-control runs them under
# NVIDIA's MPS, the plugin registers them with a kubelet (the test suite's
# fake-kubelet.py, speaking v1beta1 over gRPC with the machine's grpcio);
# for each of two containers the kubelet's GetPreferredAllocation and
# Allocate, then the container's program started with that answer's
# environment alone (plus PATH and the driver's library path, which the
# NVIDIA runtime gives a real container), alone and side by side.
# Needs build-k8s/ (the plugin built on Debian 12 with the gRPC++ libraries
# it links, the proto's Python stubs) and gpushare built with libyaml.
. bench/device/control-env.sh
k8s=$PWD/build-k8s
dp=/tmp/gs-dp
rm -rf "$dp"; mkdir -m 0750 "$dp"
cat > /tmp/gs-k8s.yaml <<'YAML'
version: v1
mig-configs:
  two-for-pods:
    - devices: all
      mig-enabled: true
      mig-devices: {}
      gpushare-slices:
        - size: 64sm.64gb
        - size: 64sm.64gb
YAML
echo "== gpushare apply"; gpushare apply -f /tmp/gs-k8s.yaml -c two-for-pods; echo "exit $?"
gpushare-control -d
export PYTHONPATH=$k8s/py FAKE_KUBELET_NO_MOUNTNS=1
kubelet="${PY:-python3} tests/shell/fake-kubelet.py"
state=$dp/../gs-kubelet.json
rm -f "$state" "$state.allocated"
$kubelet serve "$dp" "$state" & kpid=$!
sleep 2
LD_LIBRARY_PATH=$k8s/lib "$k8s/bin/gpushare-device-plugin" --dir "$dp" --library "$PWD/build/lib/libgpushare.so" \
	--pipe "$GPUSHARE_PIPE_DIRECTORY" --state "$GPUSHARE_STATE_DIR" & ppid=$!
for i in $(seq 50); do grep -q 64sm.64gb "$state" 2> /dev/null && break; sleep 0.2; done
echo "== the kubelet's view"; cat "$state"; echo
a=$($kubelet allocate "$dp" "$state" gpushare.io/64sm.64gb 1 /tmp/gs-a1.json)
b=$($kubelet allocate "$dp" "$state" gpushare.io/64sm.64gb 1 /tmp/gs-a2.json)
echo "== Allocate: container 1 gets $a, container 2 gets $b"; cat /tmp/gs-a1.json; echo
image="PATH=$PATH LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} NCCL_NVLS_ENABLE=0"
run() { $kubelet run "$1" root $image -- "${@:2}"; }
rate() { awk '{ for (i = 1; i < NF; i++) if ($i == "kernels_per_s") print $(i + 1) }'; }
echo "== alone (three runs each)"
for k in 1 2 3; do
	run /tmp/gs-a1.json $d/smid_shared 3 > /tmp/gs-c1.$k; cat /tmp/gs-c1.$k
	run /tmp/gs-a2.json $d/smid_shared 3 > /tmp/gs-c2.$k; cat /tmp/gs-c2.$k
done
echo "== side by side (three runs)"
for k in 1 2 3; do
	run /tmp/gs-a1.json $d/smid_shared 3 > /tmp/gs-s1.$k & p1=$!
	run /tmp/gs-a2.json $d/smid_shared 3 > /tmp/gs-s2.$k & p2=$!
	wait $p1 $p2
	echo "1: $(cat /tmp/gs-s1.$k)"; echo "2: $(cat /tmp/gs-s2.$k)"
done
median() { sort -n | sed -n 2p; }
for c in 1 2; do
	alone=$(cat /tmp/gs-c$c.* | rate | median) side=$(cat /tmp/gs-s$c.* | rate | median)
	echo "container $c: alone $alone, side by side $side kernels/s: $(awk -v a="$alone" -v s="$side" 'BEGIN { printf "%.3f", s / a }') of alone"
done
echo "== torch in container 1's answer"; run /tmp/gs-a1.json python3 bench/device/torch_slice.py
echo "== list_clients while both run"
run /tmp/gs-a1.json $d/smid_shared 3 > /dev/null & p1=$!
run /tmp/gs-a2.json $d/smid_shared 3 > /dev/null & p2=$!
sleep 1.5; q list_clients; wait $p1 $p2
kill "$ppid" "$kpid"; wait "$ppid" "$kpid" 2> /dev/null
rm -rf "$dp" "$state" "$state.allocated"
