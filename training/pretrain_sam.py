"""Stage 2 of the demo GLaMM: teaches its SAM (image encoder, prompt encoder, mask decoder) to segment the world's
objects from point prompts before [SEG] prompts it (see training/README.md). CPU, one thread, seeded.

python3 training/pretrain_sam.py --init DIR --data DIR --out DIR [--steps N] [--lr LR]
--out gets glamm/ + clip/ like --init with the trained SAM tensors; train_glamm.py takes it as its --init.

Trained only through the [SEG] hidden state, the mask decoder must learn where objects are and where their edges run
from a prompt that is itself still being learnt; from points it learns both in a few hundred steps, and the main stage
then only has to map [SEG] to a prompt the decoder already understands. Single-mask output, as GLaMM uses it.
"""
import os

from PIL import Image

import trainer
from checkpoint import read_json, read_safetensors
from train_attend import SAM_PREFIX, sam_point_loss
from train_glamm import save


def main():
    args = trainer.parse_args(1500)
    cfg = read_json(os.path.join(args.init, "glamm", "config.json"))
    p = read_safetensors(os.path.join(args.init, "glamm", "model.safetensors"))
    pc = read_safetensors(os.path.join(args.init, "clip", "model.safetensors"))
    for k, v in p.items():
        v.requires_grad_(k.startswith(SAM_PREFIX))
    sam_cfg = cfg["oracle_sam_config"]
    os.makedirs(args.out, exist_ok=True)

    def step_figures(scene, _step):
        image = Image.open(os.path.join(args.data, scene["image"])).convert("RGB")
        labels = Image.open(os.path.join(args.data, scene["labels"])).convert("L")
        return {"sam": sam_point_loss(p, sam_cfg, image, labels, scene, multimask=False)}

    params = [v for k, v in p.items() if k.startswith(SAM_PREFIX)]
    trainer.train(args, params, trainer.read_scenes(args.data), step_figures, lambda: save(args.init, args.out, p, pc), os.path.join(args.out, "sam-log.jsonl"))


if __name__ == "__main__":
    main()
