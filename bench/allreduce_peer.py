"""The same gradient reduction in Python PyTorch: torch.distributed on Gloo, the gradients
flattened into 25 MiB buckets as DistributedDataParallel does, all-reduced, divided by the world
size and copied back. One rank per process, from torchrun's environment; rank 0 prints JSON lines."""
import json
import os
import statistics
import time

import torch
import torch.distributed as dist


def main():
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    world = dist.get_world_size()
    bucket = 25 * 2**20 // 4
    for n in (100_000, 1_000_000, 10_000_000, 36_500_000):
        grads = [torch.randn(min(1_000_000, n - k)) for k in range(0, n, 1_000_000)]

        def reduce():
            flat = torch.cat(grads)
            for start in range(0, n, bucket):
                dist.all_reduce(flat[start:start + bucket])
            flat.div_(world)
            k = 0
            for g in grads:
                g.copy_(flat[k:k + g.numel()])
                k += g.numel()

        budget = 3.0 if n >= 10_000_000 else 1.0
        dist.barrier()
        count = torch.zeros(1, dtype=torch.long)
        t0 = time.perf_counter()
        reduce()
        if dist.get_rank() == 0:
            count[0] = max(3, int(budget / max(1e-6, time.perf_counter() - t0)))
        dist.broadcast(count, 0)
        times = []
        for _ in range(int(count[0])):
            t0 = time.perf_counter()
            reduce()
            times.append(time.perf_counter() - t0)
        if dist.get_rank() == 0:
            s = statistics.median(times)
            print(json.dumps({"impl": f"python-torch-{torch.__version__.split('+')[0]}", "world": world, "floats": n,
                              "ms": round(1e3 * s, 3), "gb_per_s": round(4.0 * n / s / 1e9, 3)}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
