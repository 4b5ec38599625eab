"""Trains the attend backend's demo models on the shape world (see training/README.md). CPU, one thread, seeded.

- a LLaVA-1.5-style model (CLIP tower + mlp2x_gelu projector + LLaMA) on captions only: no masks, no boxes;
- a small SAM (segment-anything layout) on the world's masks from point prompts.
Both start from the GLaMM starting checkpoint's tensors (training/init-checkpoint.ts) and are written in the official
layouts: LLaVA as liuhaotian/llava-v1.5 lays it out (config.json with mm_* keys, fp16 pytorch_model.bin, tokenizer),
its CLIP in Hugging Face layout, SAM as an official state dict (.pth) with its sizes in a .json beside it.

python3 training/train_attend.py --init DIR --data DIR --out DIR [--steps N] [--lr LR] [--seed S]
"""
import json
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import trainer
from checkpoint import read_init_configs, read_safetensors, write_safetensors
from glamm_model import dense_pe, image_tokens, llama_hidden, mask_decoder, point_embeddings, sam_image_embeddings
from train_glamm import IMAGE_TOKEN, SAM_PREFIX, clip_pixels, low_res_targets, mask_loss, sam_input_size, sam_pixels, sam_resized_size

LLAVA_PREPROCESSOR = "shortest-edge resize and centre crop, as openai/clip-vit-large-patch14-336"


def expand_to_square(image, mean):
    """LLaVA's expand2square: centred on a square of the processor mean colour int(m * 255)."""
    w, h = image.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), tuple(int(m * 255) for m in mean))
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas


def llava_loss(p, pc, cfg, clip_cfg, pre, image, sample):
    tokens, _ = image_tokens(p, pc, cfg, clip_cfg, clip_pixels(expand_to_square(image, pre["image_mean"]), pre))
    ids = torch.tensor(sample["ids"])
    at = int((ids == IMAGE_TOKEN).nonzero()[0])
    embed = p["model.embed_tokens.weight"]
    seq = torch.cat([embed[ids[:at]], tokens[0], embed[ids[at + 1 :]]])[None]
    hidden = llama_hidden(p, cfg, seq, torch.ones(1, seq.shape[1]))
    shift = tokens.shape[1] - 1
    start = sample["answerStart"] + shift
    targets = ids[sample["answerStart"] :]
    logits = F.linear(hidden[0, start - 1 : start - 1 + len(targets)], p["lm_head.weight"])
    return F.cross_entropy(logits, targets)


def sam_point_loss(s, sam_cfg, image, labels, scene, multimask=True):
    side = sam_input_size(s)
    emb = sam_image_embeddings(s, sam_cfg, sam_pixels(image, side))
    w, h = image.size
    nw, nh = sam_resized_size(w, h, side)
    points = torch.tensor([q["point"] for q in scene["points"]], dtype=torch.float32) * torch.tensor([nw / w, nh / h])
    sparse = point_embeddings(s, points[:, None], torch.ones(len(points), 1), side)
    low, iou = mask_decoder(s, sam_cfg, emb, dense_pe(s, emb.shape[-1]), sparse, multimask=multimask)
    target = low_res_targets(labels, len(scene["objects"]), low.shape[-1], side)[[q["object"] for q in scene["points"]]]
    losses = torch.stack([mask_loss(low[:, k], target) for k in range(low.shape[1])])
    with torch.no_grad():
        pred = (low > 0).float()
        t = (target > 0.5).float()[:, None]
        true_iou = (pred * t).flatten(2).sum(-1) / ((pred + t) > 0).float().flatten(2).sum(-1).clamp(min=1)
    return losses.sum() + F.mse_loss(iou, true_iou)


def main():
    args = trainer.parse_args(3000)
    glamm_cfg, clip_cfg, pre, added = read_init_configs(args.init)
    pre = {**pre, "size": {"shortest_edge": clip_cfg["image_size"]}, "crop_size": {"height": clip_cfg["image_size"], "width": clip_cfg["image_size"]}, "do_center_crop": True}
    init = read_safetensors(os.path.join(args.init, "glamm", "model.safetensors"))
    vocab = glamm_cfg["vocab_size"] - len(added)
    llava = {k: v for k, v in init.items() if k.startswith(("model.layers.", "model.norm.", "model.mm_projector.")) or k in ("model.embed_tokens.weight", "lm_head.weight")}
    llava["model.embed_tokens.weight"] = llava["model.embed_tokens.weight"][:vocab].clone()
    llava["lm_head.weight"] = llava["lm_head.weight"][:vocab].clone()
    llava = {k: v.clone().requires_grad_() for k, v in llava.items()}
    clip = {k: v.requires_grad_() for k, v in read_safetensors(os.path.join(args.init, "clip", "model.safetensors")).items()}
    sam = {k: v.clone().requires_grad_() for k, v in init.items() if k.startswith(SAM_PREFIX)}
    sam_cfg = glamm_cfg["oracle_sam_config"]
    os.makedirs(args.out, exist_ok=True)

    def step_figures(scene, _step):
        image = Image.open(os.path.join(args.data, scene["image"])).convert("RGB")
        labels = Image.open(os.path.join(args.data, scene["labels"])).convert("L")
        caption = llava_loss(llava, clip, glamm_cfg, clip_cfg, pre, image, next(s for s in scene["samples"] if s["task"] == "llava"))
        return {"caption": caption, "sam": sam_point_loss(sam, sam_cfg, image, labels, scene)}

    params = list(llava.values()) + list(clip.values()) + list(sam.values())
    save_all = lambda: save(args, glamm_cfg, clip_cfg, pre, vocab, llava, clip, sam, sam_cfg)  # noqa: E731
    trainer.train(args, params, trainer.read_scenes(args.data), step_figures, save_all, os.path.join(args.out, "attend-log.jsonl"))


def save(args, glamm_cfg, clip_cfg, pre, vocab, llava, clip, sam, sam_cfg):
    llava_dir, clip_dir = os.path.join(args.out, "llava-demo"), os.path.join(args.out, "clip-llava-demo")
    os.makedirs(llava_dir, exist_ok=True)
    os.makedirs(clip_dir, exist_ok=True)
    keys = ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "rms_norm_eps", "max_position_embeddings", "mm_hidden_size", "mm_vision_select_layer")
    config = {k: glamm_cfg[k] for k in keys}
    config.update(
        architectures=["LlavaLlamaForCausalLM"], model_type="llava", bos_token_id=1, eos_token_id=2, pad_token_id=0, hidden_act="silu",
        image_aspect_ratio="pad", mm_projector_type="mlp2x_gelu", mm_use_im_patch_token=False, mm_use_im_start_end=False,
        mm_vision_select_feature="patch", mm_vision_tower="clip-llava-demo", num_key_value_heads=glamm_cfg["num_attention_heads"],
        rope_theta=10000.0, tie_word_embeddings=False, torch_dtype="float16", use_mm_proj=True, vocab_size=vocab,
        glamm_demo="LLaVA-1.5-style demo trained by glamm's training/train_attend.py on synthetic shapes (captions only)",
    )
    with open(os.path.join(llava_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(llava_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}, f, indent=2)
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(args.init, "glamm", name), os.path.join(llava_dir, name))
    torch.save({k: v.detach().half() for k, v in llava.items()}, os.path.join(llava_dir, "pytorch_model.bin"))
    for name in ("config.json",):
        shutil.copy(os.path.join(args.init, "clip", name), os.path.join(clip_dir, name))
    with open(os.path.join(clip_dir, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    write_safetensors(os.path.join(clip_dir, "model.safetensors"), clip)
    torch.save({k[len(SAM_PREFIX) :]: v.detach().float() for k, v in sam.items()}, os.path.join(args.out, "sam_demo.pth"))
    sizes = {**sam_cfg, "decoder_depth": 2, "iou_head_depth": 3, "num_multimask_outputs": 3, "image_size": sam_input_size(sam), "vit_patch_size": sam[f"{SAM_PREFIX}image_encoder.patch_embed.proj.weight"].shape[-1]}
    with open(os.path.join(args.out, "sam_demo.json"), "w") as f:
        json.dump(sizes, f, indent=2)


if __name__ == "__main__":
    main()
