# torch_pair.py: the PyTorch programs of the elastic-SM table.
#   train SECONDS   an MLP training step (bf16 autocast, AdamW) in a loop for
#                   that long: "train_steps_per_s <rate>"
#   infer SECONDS   a latency-sensitive inference loop: a batch-8 forward of a
#                   smaller MLP every 5 ms for that long: "infer_p50_ms <p50>
#                   infer_p99_ms <p99>" (launch to result on the host)
#   step            the training step's median time over 300 steps and one
#                   CUDA-graph replay's (the same model's forward captured):
#                   "step_ms <ms> graph_replay_ms <ms>"
# Each prints "ready" first, once its model is built and warm.
import statistics, sys, time
import torch

torch.manual_seed(0)
mode, secs = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0


def mlp(width, depth):
    return torch.nn.Sequential(*[m for _ in range(depth) for m in (torch.nn.Linear(width, width), torch.nn.GELU())]).cuda()


def train_step(model, opt, x):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x).float().pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


if mode in ("train", "step"):
    model = mlp(4096, 6)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(1024, 4096, device="cuda")
    for _ in range(20):
        train_step(model, opt, x)
    torch.cuda.synchronize()
    print("ready", flush=True)
    if mode == "train":
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < secs:
            train_step(model, opt, x)
            n += 1
            if n % 10 == 0:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        print("train_steps_per_s %.1f" % (n / (time.perf_counter() - t0)))
    else:
        times = []
        for _ in range(300):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            train_step(model, opt, x)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s), torch.no_grad():
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g), torch.no_grad():
            y = model(x)
        replays = []
        for _ in range(300):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            g.replay()
            torch.cuda.synchronize()
            replays.append(time.perf_counter() - t0)
        with torch.no_grad():
            ok = torch.allclose(y, model(x))
        print("step_ms %.3f graph_replay_ms %.3f graph_matches_eager %s" %
              (statistics.median(times) * 1e3, statistics.median(replays) * 1e3, ok))
elif mode == "infer":
    model = mlp(2048, 4).to(torch.bfloat16).eval()
    x = torch.randn(8, 2048, device="cuda", dtype=torch.bfloat16)
    with torch.no_grad():
        for _ in range(50):
            model(x)
        torch.cuda.synchronize()
        print("ready", flush=True)
        lat, t0 = [], time.perf_counter()
        next_at = t0
        while time.perf_counter() - t0 < secs:
            next_at += 0.005
            t = time.perf_counter()
            model(x).sum().item()
            lat.append(time.perf_counter() - t)
            time.sleep(max(0, next_at - time.perf_counter()))
    lat.sort()
    print("infer_p50_ms %.3f infer_p99_ms %.3f" % (lat[len(lat) // 2] * 1e3, lat[len(lat) * 99 // 100] * 1e3))
else:
    sys.exit("usage: torch_pair.py train|infer SECONDS | step")
