"""What the demo trainers share: their command line, seeding, and the loop (AdamW, warm-up then cosine decay, one
scene a step in a shuffled order, each step's figures as a JSON line, checkpoints every --save-every steps)."""
import argparse
import json
import math
import os
import random
import time

import torch


def parse_args(default_steps, extra=lambda ap: None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=default_steps)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument("--save-every", type=int, default=500)
    extra(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    return args


def read_scenes(data):
    with open(f"{data}/scenes.jsonl") as f:
        return [json.loads(line) for line in f]


def train(args, params, scenes, step_figures, save, log_path, lr_scales=None):
    """`step_figures(scene, step)` gives the step's named figures: tensors are losses (summed and minimised), floats are
    logged. `lr_scales` (one per parameter, default 1) multiply --lr for that parameter.
    Every save also writes OUT/resume.pt (parameters, optimiser, schedule, order, random states), and a run started
    again with the same arguments continues from it, so a long training can span several sittings."""
    scales = lr_scales or [1.0] * len(params)
    groups = {}
    for p, scale in zip(params, scales, strict=True):
        groups.setdefault(scale, []).append(p)
    opt = torch.optim.AdamW([{"params": group, "lr": args.lr * scale} for scale, group in groups.items()], lr=args.lr, weight_decay=0.0)
    warmup = max(1, min(100, args.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    log = open(log_path, "a")
    order = list(range(len(scenes)))
    resume_path = os.path.join(args.out, "resume.pt")
    first = 0
    if os.path.exists(resume_path):
        first, order = resume(resume_path, params, opt, sched)
        print(f"resuming at step {first} from {resume_path}", flush=True)
    start, cpu_start = time.time(), time.process_time()
    for step in range(first, args.steps):
        if step % len(order) == 0:
            random.shuffle(order)
        figures = step_figures(scenes[order[step % len(order)]], step)
        opt.zero_grad()
        sum(v for v in figures.values() if torch.is_tensor(v)).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        entry = {"step": step, **{k: round(float(v), 4) for k, v in figures.items()}, "s": round(time.time() - start, 1), "cpu_s": round(time.process_time() - cpu_start, 1)}
        log.write(json.dumps(entry) + "\n")
        log.flush()
        if step % 10 == 0:
            print(entry, flush=True)
        if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
            save()
            checkpoint_state(resume_path, step + 1, order, params, opt, sched)


def checkpoint_state(path, step, order, params, opt, sched):
    state = {"step": step, "order": order, "params": [p.detach() for p in params], "opt": opt.state_dict(), "sched": sched.state_dict(), "torch_rng": torch.get_rng_state(), "py_rng": random.getstate()}
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def resume(path, params, opt, sched):
    state = torch.load(path)
    with torch.no_grad():
        for p, saved in zip(params, state["params"], strict=True):
            p.copy_(saved)
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["py_rng"])
    return state["step"], state["order"]
