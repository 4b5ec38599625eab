"""Gives the vision stage's output a wider LM: the main stage's starting point. Deterministic (no random numbers).

python3 training/widen.py --vision DIR --wide DIR --out DIR
--vision: pretrain_vision.py's output (trained CLIP; projector, final norm and lm_head at the vision stage's width).
--wide:   a random-weight checkpoint at the demo's final sizes (init-checkpoint.ts --wide).
--out:    glamm/ + clip/: the wide checkpoint with the vision stage's CLIP, and its projector, final norm and lm_head
          placed in the first dimensions of the wider ones, so the image tokens name their objects through lm_head
          from the first step, as they do after the vision stage. Every other tensor is the wide checkpoint's (the
          main stage takes SAM from pretrain_sam.py's output).

Why: the vision stages cost ~40 minutes and depend on the LM's width only through the projector's output and
lm_head. They run at the narrow width; the LM that has to list and locate objects needs wider attention heads.
The projector's extra hidden units feed nothing at first (their output weights are zero), the extra output dimensions
are zero, and the final norm is scaled by sqrt(narrow / wide width) for the zero dimensions it now averages over, so lm_head's
reading of an image token is the vision stage's (up to a positive factor) at step 0.
"""
import argparse
import math
import os

import torch

from checkpoint import read_json, read_safetensors
from train_glamm import save

PROJECTOR_IN, PROJECTOR_OUT = "model.mm_projector.0.", "model.mm_projector.2."


def placed(base, part):
    """`base` with `part` written over its leading corner (the first rows, and columns, of the wider tensor)."""
    out = base.clone()
    out[tuple(slice(0, n) for n in part.shape)] = part
    return out


def widen(narrow, wide):
    n, w = narrow["model.norm.weight"].shape[0], wide["model.norm.weight"].shape[0]
    return {
        **wide,
        PROJECTOR_IN + "weight": placed(wide[PROJECTOR_IN + "weight"], narrow[PROJECTOR_IN + "weight"]),
        PROJECTOR_IN + "bias": placed(wide[PROJECTOR_IN + "bias"], narrow[PROJECTOR_IN + "bias"]),
        PROJECTOR_OUT + "weight": placed(torch.zeros(w, w), narrow[PROJECTOR_OUT + "weight"]),
        PROJECTOR_OUT + "bias": placed(torch.zeros(w), narrow[PROJECTOR_OUT + "bias"]),
        "model.norm.weight": placed(wide["model.norm.weight"], narrow["model.norm.weight"] * math.sqrt(n / w)),
        "lm_head.weight": placed(wide["lm_head.weight"], narrow["lm_head.weight"]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vision", required=True)
    ap.add_argument("--wide", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    narrow = read_safetensors(os.path.join(args.vision, "glamm", "model.safetensors"))
    wide = read_safetensors(os.path.join(args.wide, "glamm", "model.safetensors"))
    tokenizer = "tokenizer.model"
    with open(os.path.join(args.vision, "glamm", tokenizer), "rb") as a, open(os.path.join(args.wide, "glamm", tokenizer), "rb") as b:
        if a.read() != b.read():
            raise SystemExit("widen.py: the two checkpoints have different tokenizers")
    if read_json(os.path.join(args.vision, "glamm", "config.json"))["hidden_size"] > read_json(os.path.join(args.wide, "glamm", "config.json"))["hidden_size"]:
        raise SystemExit("widen.py: --wide is narrower than --vision")
    clip = read_safetensors(os.path.join(args.vision, "clip", "model.safetensors"))
    save(args.wide, args.out, widen(narrow, wide), clip)
    print(f"wrote {args.out}/glamm and {args.out}/clip")


if __name__ == "__main__":
    main()
