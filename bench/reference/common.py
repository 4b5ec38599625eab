"""Shared timing harness of the PyTorch fp32 reference benchmarks (test fixtures and benchmarks only; the product is
TypeScript). Each script builds its block with its own random weights per layer, runs `warmup` untimed then `repeat`
timed calls, and prints one JSON line: {"name", "times_ms": [...], "peak_rss_mib"}."""
import argparse
import json
import resource
import time

import torch


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    return p


def run(name, args, step):
    torch.set_num_threads(args.threads)
    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.repeat):
            start = time.perf_counter()
            step()
            if i >= args.warmup:
                times.append((time.perf_counter() - start) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": name, "times_ms": times, "peak_rss_mib": peak}), flush=True)
