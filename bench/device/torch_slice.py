# torch_slice.py: PyTorch in a slice: what it sees of memory and SMs, bf16
# matmul TFLOP/s, and allocation up to the limit then past it.
import json, sys, time
import torch

free, total = torch.cuda.mem_get_info()
props = torch.cuda.get_device_properties(0)
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
for _ in range(5):
    a @ b
torch.cuda.synchronize()
n, t0 = 30, time.perf_counter()
for _ in range(n):
    a @ b
torch.cuda.synchronize()
tflops = 2 * 8192 ** 3 * n / (time.perf_counter() - t0) / 1e12
del a, b
torch.cuda.empty_cache()
free, total = torch.cuda.mem_get_info()
result = {"total_mib": total >> 20, "free_mib": free >> 20, "sms": props.multi_processor_count,
          "tflops_bf16": round(tflops, 1)}
# up to the limit (minus what the caching allocator rounds), then past it
try:
    x = torch.empty(free - (64 << 20), dtype=torch.uint8, device="cuda")
    result["alloc_to_limit"] = "ok"
except torch.OutOfMemoryError:
    result["alloc_to_limit"] = "oom"
try:
    y = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    result["alloc_past_limit"] = "ok"
except torch.OutOfMemoryError:
    result["alloc_past_limit"] = "oom"
print(json.dumps(result))
