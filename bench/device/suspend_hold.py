# suspend_hold.py: PyTorch or JAX holding GIB of device memory for
# bench/device/suspend.sh: 1 GiB arrays of random 32-bit words (seeded, one
# seed per array), then "ready pid=<pid> ...". Each SIGUSR1 makes every array
# again from its seed and compares ("verify OK bad=0 ..." or "verify CORRUPT
# bad=<words> ..."); SIGTERM or SIGINT ends it.
# Usage: python3 suspend_hold.py torch|jax GIB
# (JAX: run with XLA_PYTHON_CLIENT_PREALLOCATE=false, so that it holds what
# it made and no more.)
import os
import signal
import sys
import time

# blocked before the framework starts its threads: sigwait alone takes them
SIGS = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT}
signal.pthread_sigmask(signal.SIG_BLOCK, SIGS)

framework, gib = sys.argv[1], int(sys.argv[2])
WORDS = 1 << 28  # 1 GiB of 32-bit words

if framework == "torch":
    import torch

    def make(i):
        g = torch.Generator(device="cuda")
        g.manual_seed(1000 + i)
        return torch.randint(0, 2**31 - 1, (WORDS,), dtype=torch.int32, device="cuda", generator=g)

    def bad_words(i, a):
        return int((a != make(i)).sum().item())

    def sync():
        torch.cuda.synchronize()

elif framework == "jax":
    import jax
    import jax.numpy as jnp

    def make(i):
        return jax.random.bits(jax.random.key(1000 + i), (WORDS,), dtype=jnp.uint32)

    def bad_words(i, a):
        return int(jnp.sum(a != make(i)))

    def sync():
        for a in arrays:
            a.block_until_ready()

else:
    sys.exit("usage: suspend_hold.py torch|jax GIB")

t0 = time.perf_counter()
arrays = []
for i in range(gib):
    arrays.append(make(i))
sync()
print("ready pid=%d framework=%s gib=%d fill_s=%.2f" % (os.getpid(), framework, gib, time.perf_counter() - t0), flush=True)
while True:
    sig = signal.sigwait(SIGS)
    if sig != signal.SIGUSR1:
        break
    t0 = time.perf_counter()
    bad = sum(bad_words(i, a) for i, a in enumerate(arrays))
    print("verify %s bad=%d gib=%d check_s=%.2f" % ("CORRUPT" if bad else "OK", bad, gib, time.perf_counter() - t0), flush=True)
print("exit", flush=True)
