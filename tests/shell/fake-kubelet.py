#!/usr/bin/python3
"""fake-kubelet.py: the kubelet's side of the device plugin API (v1beta1),
over real gRPC (Debian's python3-grpcio) from the API's own proto
(src/k8s/deviceplugin.proto, compiled by the test with protoc), for
test-k8s.sh. No cluster: what the kubelet does with a device plugin, and no
more.

  fake-kubelet.py serve DIR STATE
      the kubelet: removes every socket in DIR (as the kubelet does when it
      starts), serves Registration on DIR/kubelet.sock; for each plugin that
      registers, calls GetDevicePluginOptions and follows ListAndWatch;
      writes STATE (JSON, replaced whole) on each change:
        {"registered": [{"resource", "endpoint", "version", "preferred"}],
         "devices": {resource: {id: health}}, "updates": {resource: n},
         "refused": [why, ...]}
  fake-kubelet.py allocate DIR STATE RESOURCE N OUT
      what the kubelet does for a container asking RESOURCE: N: the healthy
      devices it knows that no container holds yet (STATE.allocated lists
      those given), GetPreferredAllocation, then Allocate of those; writes
      the container's answer to OUT (JSON); prints the IDs. A gRPC error:
      its code and details on stderr, exit 1.
  fake-kubelet.py call DIR ENDPOINT METHOD JSON
      one call with a request written by hand (bad requests): prints "ok" and
      the answer, or the error's code and details
  fake-kubelet.py run OUT USER [K=V ...] -- CMD...
      starts the container's process as the runtime would: in a mount
      namespace of its own with the answer's mounts bound in (read-only
      where it says) and its device nodes checked to be there, as USER, with
      exactly the answer's environment plus the image's K=V (PATH, and the
      driver's LD_LIBRARY_PATH where the simulated GPU stands in for the one
      the NVIDIA runtime would mount). FAKE_KUBELET_NO_MOUNTNS=1: no mount
      namespace (a sandbox that has none), the mounts only checked to be the
      node's own paths, at the same place
"""
import json
import os
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc

import deviceplugin_pb2 as pb
import deviceplugin_pb2_grpc as pbg
from google.protobuf import json_format


class Kubelet(pbg.RegistrationServicer):
    def __init__(self, dir, state):
        self.dir, self.state = dir, state
        self.lock = threading.Lock()
        self.s = {"registered": [], "devices": {}, "updates": {}, "refused": []}
        self.write()

    def write(self):
        tmp = self.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.s, f)
        os.replace(tmp, self.state)

    def Register(self, req, ctx):
        with self.lock:
            if req.version != "v1beta1":
                self.s["refused"].append("version " + req.version)
                self.write()
                ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported version " + req.version)
            self.s["registered"].append({"resource": req.resource_name, "endpoint": req.endpoint,
                                         "version": req.version,
                                         "preferred": req.options.get_preferred_allocation_available})
            self.write()
        threading.Thread(target=self.watch, args=(req.resource_name, req.endpoint), daemon=True).start()
        return pb.Empty()

    def watch(self, resource, endpoint):
        ch = grpc.insecure_channel("unix://" + os.path.join(self.dir, endpoint))
        stub = pbg.DevicePluginStub(ch)
        try:
            stub.GetDevicePluginOptions(pb.Empty(), timeout=5)
            for r in stub.ListAndWatch(pb.Empty()):
                with self.lock:
                    self.s["devices"][resource] = {d.ID: d.health for d in r.devices}
                    self.s["updates"][resource] = self.s["updates"].get(resource, 0) + 1
                    self.write()
        except grpc.RpcError:
            pass
        with self.lock:  # the plugin went: its devices with it
            self.s["devices"].pop(resource, None)
            self.write()


def serve(dir, state):
    for n in os.listdir(dir):
        p = os.path.join(dir, n)
        if not os.path.islink(p) and os.path.exists(p) and os.stat(p).st_mode & 0o170000 == 0o140000:
            os.unlink(p)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pbg.add_RegistrationServicer_to_server(Kubelet(dir, state), server)
    server.add_insecure_port("unix://" + os.path.join(dir, "kubelet.sock"))
    server.start()
    server.wait_for_termination()


def plugin(dir, state, resource):
    with open(state) as f:
        s = json.load(f)
    ends = [r["endpoint"] for r in s["registered"] if r["resource"] == resource]
    if not ends:
        sys.exit("fake-kubelet: no plugin registered " + resource)
    ch = grpc.insecure_channel("unix://" + os.path.join(dir, ends[-1]))
    return pbg.DevicePluginStub(ch), s["devices"].get(resource, {})


def allocate(dir, state, resource, n, out):
    stub, devices = plugin(dir, state, resource)
    held = state + ".allocated"
    given = open(held).read().split() if os.path.exists(held) else []
    healthy = sorted(d for d, h in devices.items() if h == "Healthy" and d not in given)
    try:
        pref = stub.GetPreferredAllocation(pb.PreferredAllocationRequest(container_requests=[
            pb.ContainerPreferredAllocationRequest(available_deviceIDs=healthy, allocation_size=n)]), timeout=5)
        ids = list(pref.container_responses[0].deviceIDs) or healthy[:n]
        r = stub.Allocate(pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=ids)]),
                          timeout=5)
    except grpc.RpcError as e:
        print("%s: %s" % (e.code().name, e.details()), file=sys.stderr)
        sys.exit(1)
    with open(out, "w") as f:
        json.dump(json_format.MessageToDict(r.container_responses[0]), f)
    with open(held, "a") as f:
        f.write(" ".join(ids) + "\n")
    print(" ".join(ids))


def call(dir, endpoint, method, request):
    stub = pbg.DevicePluginStub(grpc.insecure_channel("unix://" + os.path.join(dir, endpoint)))
    types = {"Allocate": pb.AllocateRequest, "GetPreferredAllocation": pb.PreferredAllocationRequest}
    try:
        r = getattr(stub, method)(json_format.Parse(request, types[method]()), timeout=5)
        print("ok", json_format.MessageToJson(r, indent=None))
    except grpc.RpcError as e:
        print("%s: %s" % (e.code().name, e.details()))


def run(out, user, rest):
    cut = rest.index("--")
    image, cmd = rest[:cut], rest[cut + 1:]
    with open(out) as f:
        r = json.load(f)
    for d in r.get("devices", []):
        if not os.path.exists(d["hostPath"]):
            sys.exit("fake-kubelet: no device node " + d["hostPath"])
    env = dict(kv.split("=", 1) for kv in image)
    env.update(r.get("envs", {}))
    binds = []
    for m in r.get("mounts", []):
        binds.append("mount --bind '%s' '%s'" % (m["hostPath"], m["containerPath"]))
        if m.get("readOnly"):
            binds.append("mount -o remount,bind,ro '%s'" % m["containerPath"])
    setpriv = ["setpriv", "--reuid=" + user, "--regid=" + str(int(subprocess.check_output(["id", "-g", user]))),
               "--init-groups", "env", "-i"] + ["%s=%s" % kv for kv in env.items()] + cmd
    if os.environ.get("FAKE_KUBELET_NO_MOUNTNS") == "1":
        for m in r.get("mounts", []):
            if m["hostPath"] != m["containerPath"] or not os.path.exists(m["hostPath"]):
                sys.exit("fake-kubelet: cannot mount %s at %s without a mount namespace" % (m["hostPath"], m["containerPath"]))
        os.execvp(setpriv[0], setpriv)
    script = " && ".join(binds + ['exec "$@"'])
    os.execvp("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + setpriv)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["serve"]:
        serve(a[1], a[2])
    elif a[:1] == ["allocate"]:
        allocate(a[1], a[2], a[3], int(a[4]), a[5])
    elif a[:1] == ["call"]:
        call(a[1], a[2], a[3], a[4])
    elif a[:1] == ["run"]:
        run(a[1], a[2], a[3:])
    else:
        sys.exit(__doc__)
