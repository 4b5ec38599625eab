"""Stage 1 of the demo GLaMM: teaches the CLIP tower and projector to name each object's colour and shape before the
LM is trained (see training/README.md). CPU, one thread, seeded.

python3 training/pretrain_vision.py --init DIR --data DIR --out DIR [--steps N] [--lr LR]
--out gets glamm/ + clip/ like --init, with the trained vision tower, projector, final norm and lm_head; train_glamm.py
takes it as its --init.

Why a stage of its own: trained end to end from one scene a step, colour is learnt quickly but shape stays at chance
for thousands of steps. Two things make shape learnable in a few hundred steps: reading an object from the image
tokens of its bounding box (its corners, where the background shows, are what tell a circle from a square) rather than
of its mask, and starting on object-centred crops (large, clear shapes) before whole scenes.
"""
import os
import random

import torch
import torch.nn.functional as F
from PIL import Image

import trainer
from checkpoint import read_init_configs, read_safetensors
from glamm_model import image_tokens, rms_norm
from train_glamm import box_coverage, clip_pixels, named_phrases, save

VISION = ("model.mm_projector.", "model.norm.", "lm_head.")


def object_words(scene, p_id):
    """Object index -> (colour id, shape id): the tokens after each <p> of the scene's grounded caption."""
    return {obj: (s["ids"][i + 1], s["ids"][i + 2]) for s in scene["samples"] if s["task"] == "gcg" for i, obj in named_phrases(s, p_id)}


def view(scene, data_dir, crop):
    """The scene, or a crop around one of its objects (0.9-4 times its size, aspect jittered), and its object boxes."""
    image = Image.open(os.path.join(data_dir, scene["image"])).convert("RGB")
    boxes = [o["box"] for o in scene["objects"]]
    if not crop:
        return image, boxes
    x0, y0, x1, y1 = random.choice(boxes)
    half_h = max(x1 - x0, y1 - y0) * random.uniform(0.9, 4.0) / 2
    half_w = half_h * random.uniform(0.7, 1.4)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(cx - half_w), int(cy - half_h)
    window = (left, top, int(cx + half_w), int(cy + half_h))
    return image.crop(window), [[b[0] - left, b[1] - top, b[2] - left, b[3] - top] for b in boxes]


def batch_loss(p, pc, cfg, clip_cfg, pre, data_dir, scenes, p_id, crop_share):
    views = [(scene, *view(scene, data_dir, random.random() < crop_share)) for scene in scenes]
    tokens, _ = image_tokens(p, pc, cfg, clip_cfg, torch.cat([clip_pixels(image, pre) for _, image, _ in views]))
    grid = int(round(tokens.shape[1] ** 0.5))
    rows, words = [], []
    for b, (scene, image, boxes) in enumerate(views):
        cover = box_coverage(boxes, image.size, grid)
        for obj, word in object_words(scene, p_id).items():
            if cover[obj].sum() > 0:
                rows.append((cover[obj] / cover[obj].sum()) @ tokens[b])
                words.append(word)
    words = torch.tensor(words)
    logits = F.linear(rms_norm(p["model.norm.weight"], torch.stack(rows), cfg["rms_norm_eps"]), p["lm_head.weight"])
    return (F.cross_entropy(logits, words[:, 0]) + F.cross_entropy(logits, words[:, 1])) / 2, logits, words


def accuracy(logits, targets, choices):
    """The share of rows whose highest logit among `choices` (all colour or all shape ids) is the target."""
    return (choices[logits[:, choices].argmax(-1)] == targets).float().mean().item()


def main():
    def extra(ap):
        ap.add_argument("--batch", type=int, default=8, help="scenes (or crops) a step")
        ap.add_argument("--crop-steps", type=int, default=1500, help="the share of crops falls from 1 to 0 over these steps")

    args = trainer.parse_args(2000, extra)
    cfg, clip_cfg, pre, added = read_init_configs(args.init)
    p_id = added["<p>"]
    p = read_safetensors(os.path.join(args.init, "glamm", "model.safetensors"))
    pc = {k: v.requires_grad_() for k, v in read_safetensors(os.path.join(args.init, "clip", "model.safetensors")).items()}
    for k, v in p.items():
        v.requires_grad_(k.startswith(VISION))
    scenes = trainer.read_scenes(args.data)
    all_words = torch.tensor([w for scene in scenes for w in object_words(scene, p_id).values()])
    colours, shapes = all_words[:, 0].unique(), all_words[:, 1].unique()
    os.makedirs(args.out, exist_ok=True)

    def step_figures(scene, step):
        share = max(0.0, 1 - step / args.crop_steps)
        batch = [scene] + random.sample(scenes, args.batch - 1)
        loss, logits, words = batch_loss(p, pc, cfg, clip_cfg, pre, args.data, batch, p_id, share)
        return {"align": loss, "crops": share, "colour_acc": accuracy(logits, words[:, 0], colours), "shape_acc": accuracy(logits, words[:, 1], shapes)}

    params = list(pc.values()) + [v for k, v in p.items() if k.startswith(VISION)]
    trainer.train(args, params, scenes, step_figures, lambda: save(args.init, args.out, p, pc), os.path.join(args.out, "vision-log.jsonl"))


if __name__ == "__main__":
    main()
