"""Stage 2 of the demo GLaMM: teaches its SAM (image encoder, mask decoder) to segment the world's objects from a
prompt that names them, before [SEG] prompts it (see training/README.md). CPU, one thread, seeded.

python3 training/pretrain_sam.py --init DIR --data DIR --out DIR [--steps N] [--lr LR]
--out gets glamm/ + clip/ like --init with the trained SAM tensors, and content_prompts.pt: the prompt of each colour
and shape (a training-only table; train_glamm.py's prompt loss asks each [SEG] prompt to be its object's).

Why names, not points: a [SEG] prompt is made from the LM's hidden state, and the demo's image tokens carry what an
object is but not where it is (a linear probe finds no patch position in them), so the decoder must find the object
by what it looks like. Trained only through [SEG], the decoder and the prompt are learnt together and slowly; here the
decoder learns to find an object from a prompt that is the sum of a colour's and a shape's vector, and the main stage
only has to map [SEG]'s hidden state, which names the object, to that sum. One prompt token and single-mask output, as
GLaMM prompts with one [SEG] token.
"""
import os

import torch
from PIL import Image

import trainer
from checkpoint import read_json, read_safetensors
from glamm_model import dense_pe, mask_decoder, sam_image_embeddings
from train_glamm import COLOURS, SAM_PREFIX, SHAPES, content_prompts, low_res_targets, mask_loss, sam_input_size, sam_pixels, save


def main():
    args = trainer.parse_args(1500)
    cfg = read_json(os.path.join(args.init, "glamm", "config.json"))
    p = read_safetensors(os.path.join(args.init, "glamm", "model.safetensors"))
    pc = read_safetensors(os.path.join(args.init, "clip", "model.safetensors"))
    for k, v in p.items():
        v.requires_grad_(k.startswith(SAM_PREFIX))
    sam_cfg = cfg["oracle_sam_config"]
    width = p[SAM_PREFIX + "prompt_encoder.point_embeddings.0.weight"].shape[-1]
    table = torch.randn(len(COLOURS) + len(SHAPES), width).requires_grad_()
    os.makedirs(args.out, exist_ok=True)

    def step_figures(scene, _step):
        image = Image.open(os.path.join(args.data, scene["image"])).convert("RGB")
        labels = Image.open(os.path.join(args.data, scene["labels"])).convert("L")
        side = sam_input_size(p)
        emb = sam_image_embeddings(p, sam_cfg, sam_pixels(image, side))
        prompts = content_prompts(table, [o["phrase"] for o in scene["objects"]])
        low, _ = mask_decoder(p, sam_cfg, emb, dense_pe(p, emb.shape[-1]), prompts)
        return {"sam": mask_loss(low[:, 0], low_res_targets(labels, len(scene["objects"]), low.shape[-1], side))}

    def save_all():
        save(args.init, args.out, p, pc)
        torch.save(table.detach(), os.path.join(args.out, "content_prompts.pt"))

    params = [v for k, v in p.items() if k.startswith(SAM_PREFIX)] + [table]
    trainer.train(args, params, trainer.read_scenes(args.data), step_figures, save_all, os.path.join(args.out, "sam-log.jsonl"))


if __name__ == "__main__":
    main()
