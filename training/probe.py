"""Probes of a stage's output on a dataset (export-dataset.ts; use another --seed than training's for held-out figures):

python3 training/probe.py names DIR DATA      what the box-pooled image tokens name (colour, shape), by object size
python3 training/probe.py position DIR DATA   whether the image tokens carry their patch's position (least squares)
python3 training/probe.py sam DIR DATA        mean low-res IoU of pretrain_sam.py's SAM prompted with object names

DIR is a stage output (glamm/ + clip/, and content_prompts.pt for `sam`). Figures only; nothing is written.
"""
import os
import sys

import torch
from PIL import Image

import trainer
from checkpoint import read_init_configs, read_safetensors
from glamm_model import dense_pe, image_tokens, mask_decoder, sam_image_embeddings
from pretrain_vision import batch_loss, object_words
from train_glamm import clip_pixels, content_prompts, low_res_targets, sam_input_size, sam_pixels

SIZES = ((16, "< 16 px"), (24, "16-24 px"), (float("inf"), ">= 24 px"))  # an object's shorter side in CLIP's view


def names(p, pc, cfg, clip_cfg, pre, added, data, scenes):
    side, p_id = clip_cfg["image_size"], added["<p>"]
    words = torch.tensor([w for s in scenes for w in object_words(s, p_id).values()])
    colours, shapes = words[:, 0].unique().tolist(), words[:, 1].unique().tolist()
    rows = {label: [] for _, label in SIZES}
    for s in scenes:
        _, logits, targets = batch_loss(p, pc, cfg, clip_cfg, pre, data, [s], p_id, 0.0)
        for row, obj, (colour, shape) in zip(logits, object_words(s, p_id), targets.tolist()):
            x0, y0, x1, y1 = s["objects"][obj]["box"]
            size = min((x1 - x0) * side / s["width"], (y1 - y0) * side / s["height"])
            label = next(label for limit, label in SIZES if size < limit)
            c, sh = row[colours].softmax(-1), row[shapes].softmax(-1)
            rows[label].append((int(c.argmax()) == colours.index(colour), int(sh.argmax()) == shapes.index(shape), float(sh[shapes.index(shape)])))
    for label, r in rows.items():
        if r:
            n = len(r)
            print(f"{label:9s} objects {n:4d}  colour {sum(x[0] for x in r) / n:.3f}  shape {sum(x[1] for x in r) / n:.3f}  (p of the right shape {sum(x[2] for x in r) / n:.2f})")


def position(p, pc, cfg, clip_cfg, pre, added, data, scenes):
    xs, ys = [], []
    for s in scenes:
        tokens, _ = image_tokens(p, pc, cfg, clip_cfg, clip_pixels(Image.open(os.path.join(data, s["image"])).convert("RGB"), pre))
        n = tokens.shape[1]
        grid = int(round(n**0.5))
        xs.append(torch.cat([tokens[0], torch.ones(n, 1)], 1))
        ys.append(torch.stack([torch.arange(n) % grid, torch.arange(n) // grid], 1).float())
    x, y = torch.cat(xs), torch.cat(ys)
    fit = len(x) * 2 // 3
    pred = x[fit:] @ torch.linalg.lstsq(x[:fit], y[:fit]).solution
    r2 = 1 - ((pred - y[fit:]) ** 2).sum(0) / ((y[fit:] - y[fit:].mean(0)) ** 2).sum(0)
    print(f"patch position from the image tokens, held-out R²: x {r2[0]:.3f}, y {r2[1]:.3f}")


def sam(p, pc, cfg, clip_cfg, pre, added, data, scenes, stage):
    table = torch.load(os.path.join(stage, "content_prompts.pt"))
    sam_cfg, side, ious = cfg["oracle_sam_config"], sam_input_size(p), []
    for s in scenes:
        emb = sam_image_embeddings(p, sam_cfg, sam_pixels(Image.open(os.path.join(data, s["image"])).convert("RGB"), side))
        low, _ = mask_decoder(p, sam_cfg, emb, dense_pe(p, emb.shape[-1]), content_prompts(table, [o["phrase"] for o in s["objects"]]))
        labels = Image.open(os.path.join(data, s["labels"])).convert("L")
        target, pred = low_res_targets(labels, len(s["objects"]), low.shape[-1], side) > 0.5, low[:, 0] > 0
        ious += ((pred & target).flatten(1).sum(1) / (pred | target).flatten(1).sum(1).clamp(min=1)).tolist()
    print(f"SAM from object names: mean low-res IoU {sum(ious) / len(ious):.3f} over {len(ious)} objects, {sum(i < 0.7 for i in ious)} under 0.7")


def main():
    what, stage, data = sys.argv[1:4]
    torch.set_num_threads(1)
    cfg, clip_cfg, pre, added = read_init_configs(stage)
    p = read_safetensors(os.path.join(stage, "glamm", "model.safetensors"))
    pc = read_safetensors(os.path.join(stage, "clip", "model.safetensors"))
    scenes = trainer.read_scenes(data)[:150]
    with torch.no_grad():
        if what == "sam":
            sam(p, pc, cfg, clip_cfg, pre, added, data, scenes, stage)
        else:
            {"names": names, "position": position}[what](p, pc, cfg, clip_cfg, pre, added, data, scenes)


if __name__ == "__main__":
    main()
