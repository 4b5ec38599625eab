"""Trains the demo GLaMM on the shape world (see training/README.md). CPU, one thread, seeded.

python3 training/train_glamm.py --init DIR --data DIR --out DIR [--steps N] [--lr LR] [--seed S]
DIR layouts: --init and --out hold glamm/ + clip/ in the official layout (training/init-checkpoint.ts writes --init);
--data is training/export-dataset.ts's output.
"""
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import trainer
from checkpoint import read_init_configs, read_safetensors, write_safetensors
from glamm_model import clip_hidden_states, dense_pe, llama_hidden, mask_decoder, project, region_features, rms_norm, sam_image_embeddings, seg_prompts

IMAGE_TOKEN = -200
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
SAM_MEAN, SAM_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
SAM_PREFIX = "model.grounding_encoder."
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")  # src/world/scene.ts
SHAPES = ("circle", "square", "triangle", "star")
FROZEN = SAM_PREFIX + "image_encoder."  # and the whole CLIP tower (FrozenVision)
TASKS = ("gcg", "caption", "segment", "region", "ground")  # "llava" samples train the attend backend's model


def clip_pixels(image, pre):
    """CLIPImageProcessor: shortest side to size (or exactly {height, width}), centre crop when asked, normalise."""
    size = pre["size"]
    w, h = image.size
    if "shortest_edge" in size:
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size["shortest_edge"] * long / short)
        nw, nh = (size["shortest_edge"], new_long) if w <= h else (new_long, size["shortest_edge"])
    else:
        nw, nh = size["width"], size["height"]
    x = np.asarray(image.resize((nw, nh), Image.BICUBIC), dtype=np.float32)
    if pre.get("do_center_crop", True):
        ch, cw = pre["crop_size"]["height"], pre["crop_size"]["width"]
        top, left = (nh - ch) // 2, (nw - cw) // 2
        x = x[top : top + ch, left : left + cw]
    x = x / 255.0
    x = (x - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    return torch.from_numpy(x).permute(2, 0, 1)[None].contiguous()


def content_prompts(table, phrases):
    """[n, 1, C]: each phrase's prompt (pretrain_sam.py), its colour's row plus its shape's row of the table."""
    colours = torch.tensor([COLOURS.index(ph.split()[0]) for ph in phrases])
    shapes = torch.tensor([len(COLOURS) + SHAPES.index(ph.split()[1]) for ph in phrases])
    return (table[colours] + table[shapes])[:, None]


def sam_input_size(p, prefix="model.grounding_encoder.image_encoder"):
    """SAM's square input side: its position grid times its patch (1024 for the official models)."""
    return p[f"{prefix}.pos_embed"].shape[1] * p[f"{prefix}.patch_embed.proj.weight"].shape[-1]


def sam_resized_size(w, h, side):
    scale = side / max(w, h)
    return int(w * scale + 0.5), int(h * scale + 0.5)


def sam_pixels(image, side):
    nw, nh = sam_resized_size(*image.size, side)
    x = (np.asarray(image.resize((nw, nh), Image.BILINEAR), dtype=np.float32) - SAM_MEAN) / SAM_STD
    out = np.zeros((side, side, 3), dtype=np.float32)
    out[:nh, :nw] = x
    return torch.from_numpy(out).permute(2, 0, 1)[None].contiguous()


def low_res_targets(labels, count, low, side):
    """Each object's mask as SAM's low-res logits see it: resized like the image, padded, area-pooled to low x low."""
    nw, nh = sam_resized_size(*labels.size, side)
    lab = np.asarray(labels.resize((nw, nh), Image.NEAREST))
    full = np.zeros((count, side, side), dtype=np.float32)
    for k in range(count):
        full[k, :nh, :nw] = lab == k + 1
    return F.adaptive_avg_pool2d(torch.from_numpy(full)[:, None], low)[:, 0]


def mask_loss(logits, target):
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    dice = 1 - (2 * (prob * t).sum(1) + 1) / (prob.sum(1) + t.sum(1) + 1)
    return bce + dice.mean()


def box_coverage(boxes, size, grid):
    """[count, grid*grid]: the share of each CLIP patch inside each object's box grown by a pixel (the demo CLIP sees
    the whole image squashed to its square). The box, not the mask: a shape shows where its box's corners are
    background, so the LM and the word alignment read the patches of the whole box."""
    w, h = size
    edges_x, edges_y = np.linspace(0, w, grid + 1), np.linspace(0, h, grid + 1)

    def overlap(lo, hi, edges):
        return np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0, None) / (edges[1:] - edges[:-1])

    cover = [np.outer(overlap(y0 - 1, y1 + 1, edges_y), overlap(x0 - 1, x1 + 1, edges_x)).ravel() for x0, y0, x1, y1 in boxes]
    return torch.tensor(np.stack(cover), dtype=torch.float32)


def named_phrases(sample, p_id):
    """(index of the phrase's <p>, object index) for each phrase of a grounded answer whose <p> spans match its masks."""
    ids = sample["ids"]
    opens = [i for i in range(sample["answerStart"], len(ids)) if ids[i] == p_id]
    return list(zip(opens, sample["seg"])) if opens and len(opens) == len(sample["seg"]) else []


def attention_guides(samples, coverage, image_at, length, p_id, bbox_id, seg_id):
    """Where two heads should look, as (row, query position, target distribution over keys) for each guided query.

    A two-layer LM trained from scratch sees ~90 text tokens and 256 image tokens; attention that starts nearly uniform
    over them finds the few object patches (or the one <bbox> row) only after thousands of steps. These targets, a
    training-only loss, teach layer 0 head 0 to look at the objects from every answer position and layer 1 head 0 at
    the object being named (the <p> and colour positions, which predict its colour and shape, and the position whose
    hidden state prompts SAM, the one before [SEG]) or at the <bbox> row."""
    n = coverage.shape[1]
    foreground, named = [], []
    everything = coverage.sum(0)
    for row, s in enumerate(samples):
        ids = s["ids"]
        at = image_at[row]
        seq = lambda i: i + n - 1 if i > at else i  # ids index -> sequence position (the image token became n rows)
        answer = range(seq(s["answerStart"]) - 1, seq(len(ids) - 1))
        if s["task"] in ("gcg", "caption", "segment") and everything.sum() > 0:
            target = torch.zeros(length)
            target[at : at + n] = everything / everything.sum()
            foreground += [(row, q, target) for q in answer]
        if "box" in s:
            target = torch.zeros(length)
            target[seq(ids.index(bbox_id))] = 1.0
            named += [(row, q, target) for q in answer]
        def on_object(obj):
            target = torch.zeros(length)
            target[at : at + n] = coverage[obj] / coverage[obj].sum()
            return target

        for i, obj in named_phrases(s, p_id):
            if coverage[obj].sum() > 0:
                target = on_object(obj)
                named += [(row, seq(i), target), (row, seq(i) + 1, target)]
        seg_at = [i for i, t in enumerate(ids) if t == seg_id]
        if len(seg_at) == len(s["seg"]):
            named += [(row, seq(i) - 1, on_object(obj)) for i, obj in zip(seg_at, s["seg"]) if coverage[obj].sum() > 0]
    return foreground, named


def guide_loss(probs, guides):
    """Cross-entropy of head 0's attention against the targets, averaged over the guided queries."""
    if not guides:
        return torch.zeros(())
    rows = torch.tensor([g[0] for g in guides])
    queries = torch.tensor([g[1] for g in guides])
    targets = torch.stack([g[2] for g in guides])
    return -(targets * torch.log(probs[rows, 0, queries] + 1e-8)).sum(-1).mean()


def word_alignment(p, cfg, rows, words):
    """Training-only loss: each object's image rows, read through the LM's final norm and lm_head, should already
    name its colour and shape. A two-layer LM trained from scratch learns to copy a word embedding it attends to in
    a few hundred steps, but to decode colour from raw vision features only far more slowly; this puts the features
    where copying suffices. rows [k, hidden], words [k, 2] (colour id, shape id)."""
    if rows.shape[0] == 0:
        return torch.zeros(())
    logits = F.linear(rms_norm(p["model.norm.weight"], rows, cfg["rms_norm_eps"]), p["lm_head.weight"])
    return (F.cross_entropy(logits, words[:, 0]) + F.cross_entropy(logits, words[:, 1])) / 2


def phrase_words(samples, p_id):
    """Object index -> its phrase's (colour, shape) token ids, read from the grounded caption's <p> spans."""
    return {obj: (s["ids"][i + 1], s["ids"][i + 2]) for s in samples for i, obj in named_phrases(s, p_id)}


class FrozenVision:
    """A scene's CLIP hidden states (those the projector and region encoder read), SAM image embeddings and low-res mask
    targets, computed once. The CLIP tower and SAM's image encoder are trained by the first two stages and frozen in
    this one: a step then costs the LM, region encoder and mask decoder only (about a tenth of a step through the
    towers), so the LM gets the many steps it needs within the time budget."""

    def __init__(self, p, pc, cfg, clip_cfg, pre, data_dir):
        self.p, self.pc, self.cfg, self.clip_cfg, self.pre, self.data_dir = p, pc, cfg, clip_cfg, pre, data_dir
        self.cache = {}

    def __call__(self, scene):
        key = scene["image"]
        if key not in self.cache:
            self.cache[key] = self._compute(scene)
        return self.cache[key]

    @torch.no_grad()
    def _compute(self, scene):
        image = Image.open(os.path.join(self.data_dir, scene["image"])).convert("RGB")
        labels = Image.open(os.path.join(self.data_dir, scene["labels"])).convert("L")
        states = clip_hidden_states(self.pc, self.clip_cfg, clip_pixels(image, self.pre))
        select = self.cfg.get("mm_vision_select_layer", -2) % len(states)
        used = {select} | set(range(select, -1, -3))
        states = [x if i in used else None for i, x in enumerate(states)]
        sam_cfg = self.cfg["oracle_sam_config"]
        side = sam_input_size(self.p)
        emb = sam_image_embeddings(self.p, sam_cfg, sam_pixels(image, side))
        low = emb.shape[-1] * 4  # SAM's low-res masks are 4x its embedding grid
        return states, emb, low_res_targets(labels, len(scene["objects"]), low, side), image.size


def scene_loss(p, cfg, vision, scene, seg_id, bbox_id, p_id, table):
    states, emb, mask_targets, (w, h) = vision(scene)
    tokens = project(p, cfg, states)[0]
    samples = [s for s in scene["samples"] if s["task"] in TASKS]
    embed = p["model.embed_tokens.weight"]
    # One region-encoder pass for all boxes of the scene (its fused pyramid depends only on the image).
    boxed = [s for s in samples if "box" in s]
    region_rows = {}
    if boxed:
        boxes = torch.tensor([s["box"] for s in boxed], dtype=torch.float32) / torch.tensor([w, h, w, h], dtype=torch.float32)
        feats, _, _ = region_features(p, cfg, states, boxes)
        region_rows = {id(s): feats[i] for i, s in enumerate(boxed)}
    rows, targets, segs, seg_objects, image_at = [], [], [], [], []
    for s in samples:
        ids = torch.tensor(s["ids"])
        at = int((ids == IMAGE_TOKEN).nonzero()[0])
        image_at.append(at)
        before, after = ids[:at], ids[at + 1 :]
        after_rows = embed[after]
        if "box" in s:
            # The region row replaces the <bbox> embedding (glamm splices it at the official default id 32002).
            after_rows = torch.where((after == bbox_id)[:, None], region_rows[id(s)], after_rows)
        rows.append(torch.cat([embed[before], tokens, after_rows], 0))
        shift = tokens.shape[0] - 1
        full = torch.cat([before, torch.full((tokens.shape[0],), -100), after])
        target = torch.full_like(full, -100)
        if not s.get("masksOnly"):
            start = s["answerStart"] + shift
            target[start:] = full[start:]
        targets.append(target)
        segs.append([int(i) - 1 for i in (full == seg_id).nonzero()[:, 0]])
        seg_objects.append(s["seg"])
    length = max(r.shape[0] for r in rows)
    batch = torch.zeros(len(rows), length, embed.shape[1])
    mask = torch.zeros(len(rows), length)
    label = torch.full((len(rows), length), -100)
    for i, r in enumerate(rows):
        batch[i, : r.shape[0]], mask[i, : r.shape[0]], label[i, : r.shape[0]] = r, 1, targets[i]
    attentions = []
    hidden = llama_hidden(p, cfg, batch, mask, attentions)
    grid = int(round(tokens.shape[0] ** 0.5))
    coverage = box_coverage([o["box"] for o in scene["objects"]], (w, h), grid)
    foreground, named = attention_guides(samples, coverage, image_at, length, p_id, bbox_id, seg_id)
    guide = guide_loss(attentions[0], foreground) + guide_loss(attentions[min(1, len(attentions) - 1)], named)
    words = phrase_words(samples, p_id)
    objects_named = [k for k in words if coverage[k].sum() > 0]
    pooled = [(coverage[k] / coverage[k].sum()) @ tokens for k in objects_named]
    region_named = [s for s in boxed if s["answerStart"] + 3 < len(s["ids"])]
    align_rows = pooled + [region_rows[id(s)] for s in region_named]
    align_words = [words[k] for k in objects_named] + [(s["ids"][s["answerStart"] + 2], s["ids"][s["answerStart"] + 3]) for s in region_named]
    align = word_alignment(p, cfg, torch.stack(align_rows) if align_rows else torch.zeros(0, embed.shape[1]), torch.tensor(align_words, dtype=torch.long).reshape(-1, 2))
    supervised = label[:, 1:] != -100
    logits = F.linear(hidden[:, :-1][supervised], p["lm_head.weight"])
    lm = F.cross_entropy(logits, label[:, 1:][supervised])
    accuracy = (logits.argmax(-1) == label[:, 1:][supervised]).float().mean().item()
    seg_hidden = torch.stack([hidden[i, pos] for i, positions in enumerate(segs) for pos in positions])
    objects = [o for objs in seg_objects for o in objs]
    prompts = seg_prompts(p, seg_hidden)
    low, _ = mask_decoder(p, cfg["oracle_sam_config"], emb, dense_pe(p, emb.shape[-1]), prompts)
    target = mask_targets[objects]
    return lm, mask_loss(low[:, 0], target), guide, align, prompt_loss(prompts, table, [scene["objects"][o]["phrase"] for o in objects]), accuracy


def prompt_loss(prompts, table, phrases):
    """Training-only: each [SEG] prompt should be the prompt pretrain_sam.py taught SAM's decoder to segment its
    object from (its colour's plus its shape's row of `table`). The mask loss alone reaches the LM only through the
    decoder; this asks the [SEG] hidden state directly for what it must say: which object."""
    if table is None:
        return torch.zeros(())
    return F.mse_loss(prompts, content_prompts(table, phrases))


def main():
    def extra(ap):
        ap.add_argument("--log", default=None, help="JSON-lines loss log (default OUT/log.jsonl)")
        ap.add_argument("--vision-lr-scale", type=float, default=0.25, help="--lr times this for the projector (trained first by pretrain_vision.py)")
        ap.add_argument("--guide-weight", type=float, default=0.5, help="weight of the attention-guide loss (0: off)")
        ap.add_argument("--prompt-weight", type=float, default=1.0, help="weight of the [SEG] prompt loss (0: off)")
        ap.add_argument("--sam", default=None, help="take SAM's tensors and its prompt table from this stage output (pretrain_sam.py, run beside pretrain_vision.py)")

    args = trainer.parse_args(4000, extra)
    cfg, clip_cfg, pre, added = read_init_configs(args.init)
    p = read_safetensors(os.path.join(args.init, "glamm", "model.safetensors"))
    pc = read_safetensors(os.path.join(args.init, "clip", "model.safetensors"))
    if args.sam:
        sam = read_safetensors(os.path.join(args.sam, "glamm", "model.safetensors"))
        p.update({k: v for k, v in sam.items() if k.startswith(SAM_PREFIX)})
    table_path = os.path.join(args.sam or args.init, "content_prompts.pt")
    table = torch.load(table_path) if os.path.exists(table_path) else None
    for k, v in p.items():
        v.requires_grad_(not k.startswith(FROZEN))
    vision = FrozenVision(p, pc, cfg, clip_cfg, pre, args.data)
    os.makedirs(args.out, exist_ok=True)

    def step_figures(scene, _step):
        lm, mk, guide, align, prompt, accuracy = scene_loss(p, cfg, vision, scene, added["[SEG]"], added["<bbox>"], added["<p>"], table)
        return {"lm": lm, "mask": mk, "guide": args.guide_weight * guide, "align": args.guide_weight * align, "prompt": args.prompt_weight * prompt, "token_acc": accuracy}

    trained = [k for k in p if not k.startswith(FROZEN)]
    params = [p[k] for k in trained]
    scales = [args.vision_lr_scale if k.startswith("model.mm_projector.") else 1.0 for k in trained]
    trainer.train(args, params, trainer.read_scenes(args.data), step_figures, lambda: save(args.init, args.out, p, pc), args.log or os.path.join(args.out, "log.jsonl"), scales)


def save(init, out, p, pc):
    for part, tensors in (("glamm", p), ("clip", pc)):
        os.makedirs(os.path.join(out, part), exist_ok=True)
        for name in os.listdir(os.path.join(init, part)):
            if not name.endswith(".safetensors"):
                shutil.copy(os.path.join(init, part, name), os.path.join(out, part, name))
        write_safetensors(os.path.join(out, part, "model.safetensors"), tensors)


if __name__ == "__main__":
    main()
