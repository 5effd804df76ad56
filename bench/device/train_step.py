# train_step.py: a PyTorch training step (MLP, bf16 autocast, AdamW); prints
# the median step time in ms over 300 steps.
import statistics, time
import torch

torch.manual_seed(0)
model = torch.nn.Sequential(*[m for _ in range(6) for m in (torch.nn.Linear(4096, 4096), torch.nn.GELU())]).cuda()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
x = torch.randn(1024, 4096, device="cuda")
times = []
for step in range(350):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x).float().pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    if step >= 50:
        times.append(time.perf_counter() - t0)
print("step_ms %.3f" % (statistics.median(times) * 1e3))
