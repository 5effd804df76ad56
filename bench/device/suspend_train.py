# suspend_train.py: a deterministic PyTorch run for bench/device/suspend.sh,
# which suspends and resumes it while it runs: the same run uninterrupted
# must end with bitwise the same weights.
#   train: an MLP trained with AdamW on fixed synthetic data, one step at a time
#   graph: the whole training step (forward, backward, SGD) captured once as a
#          CUDA graph and replayed
# Prints "ready pid=<pid> mode=<mode>", then "step <k> loss <loss>" after each
# step (each waits for the GPU: loss.item()), pausing PACE seconds between
# steps so that the script can act during the run, and at the end "sha256
# <hex of every state_dict tensor's bytes, in key order> steps=<n> loss=<last>".
# Usage: python3 suspend_train.py train|graph STEPS PACE
import hashlib
import os
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
import torch
import torch.nn.functional as F

mode, steps, pace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
if mode not in ("train", "graph"):
    sys.exit("usage: suspend_train.py train|graph STEPS PACE")
torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
torch.backends.cudnn.benchmark = False
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
model = torch.nn.Sequential(
    torch.nn.Linear(512, 2048), torch.nn.ReLU(),
    torch.nn.Linear(2048, 2048), torch.nn.ReLU(),
    torch.nn.Linear(2048, 64),
).to(dev)
X = torch.randn(16, 512, 512, device=dev)
Y = torch.randn(16, 512, 64, device=dev)
print("ready pid=%d mode=%s steps=%d" % (os.getpid(), mode, steps), flush=True)


def report(k, loss):
    print("step %d loss %.6f" % (k, loss), flush=True)
    time.sleep(pace)


if mode == "train":
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for k in range(steps):
        loss = F.mse_loss(model(X[k % 16]), Y[k % 16])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        report(k, loss.item())
else:
    # PyTorch's whole-network capture: warm up on a side stream, capture
    # one step, replay it with each step's data copied into the static input
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    static_x, static_y = X[0].clone(), Y[0].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            F.mse_loss(model(static_x), static_y).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = F.mse_loss(model(static_x), static_y)
        static_loss.backward()
        opt.step()
    for k in range(steps):
        static_x.copy_(X[k % 16])
        static_y.copy_(Y[k % 16])
        graph.replay()
        report(k, static_loss.item())

torch.cuda.synchronize()
h = hashlib.sha256()
for name, t in sorted(model.state_dict().items()):
    h.update(name.encode())
    h.update(t.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
last = static_loss.item() if mode == "graph" else loss.item()
print("sha256 %s steps=%d loss=%.6f" % (h.hexdigest(), steps, last), flush=True)
