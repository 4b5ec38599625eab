"""Checks training/glamm_model.py against the official GLaMM outputs in ../shared/oracle/tiny-a (when present):
CLIP pixels and projector output, SAM pixels and image embeddings, teacher-forced final hidden states, [SEG] prompts
and low-res mask logits. Exit code 0 = all within tolerance, 1 = a mismatch, 77 = no oracle.

python3 training/check_oracle.py [ORACLE_DIR]
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from checkpoint import read_json  # noqa: E402
from glamm_model import dense_pe, image_tokens, llama_hidden, mask_decoder, region_features, sam_image_embeddings, seg_prompts  # noqa: E402
from train_glamm import clip_pixels, sam_input_size, sam_pixels  # noqa: E402


def close(name, got, ref, failures):
    got = got.detach().numpy() if torch.is_tensor(got) else got
    err = float(np.abs(got - ref).max())
    tol = 1e-4 * (1 + float(np.abs(ref).max()))
    print(f"{'ok  ' if err <= tol else 'FAIL'} {name}: max |diff| {err:.2e} (tolerance {tol:.2e})")
    if err > tol:
        failures.append(name)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "oracle", "tiny-a")
    if not os.path.isdir(root):
        print(f"SKIP: no oracle at {root}")
        sys.exit(77)
    torch.set_num_threads(1)
    ref = lambda rel: np.load(os.path.join(root, "refs", rel))
    cfg = read_json(os.path.join(root, "glamm", "config.json"))
    clip_dir = os.path.join(root, cfg["vision_tower"])
    clip_cfg = read_json(os.path.join(clip_dir, "config.json"))["vision_config"]
    pre = read_json(os.path.join(clip_dir, "preprocessor_config.json"))
    p = {k: v.float() for k, v in torch.load(os.path.join(root, "glamm", "pytorch_model.bin"), map_location="cpu").items()}
    pc = {k: v.float() for k, v in torch.load(os.path.join(clip_dir, "pytorch_model.bin"), map_location="cpu").items()}
    image = Image.open(os.path.join(root, "image.png")).convert("RGB")
    failures = []
    with torch.no_grad():
        pixels = clip_pixels(image, pre)
        close("image/clip_pixel_values", pixels, ref("image/clip_pixel_values.npy"), failures)
        tokens, states = image_tokens(p, pc, cfg, clip_cfg, pixels)
        close("clip/projector_out", tokens, ref("clip/projector_out.npy"), failures)
        sam_in = sam_pixels(image, sam_input_size(p))
        close("image/sam_pixel_values_sub8", sam_in[:, :, ::8, ::8], ref("image/sam_pixel_values_sub8.npy"), failures)
        emb = sam_image_embeddings(p, cfg["oracle_sam_config"], sam_in)
        close("sam/image_embeddings", emb, ref("sam/image_embeddings.npy"), failures)
        ids = torch.tensor(ref("gcg_tf/input_ids.npy")).reshape(-1)
        at = int((ids == -200).nonzero()[0])
        embed = p["model.embed_tokens.weight"]
        seq = torch.cat([embed[ids[:at]], tokens[0], embed[ids[at + 1 :]]])[None]
        hidden = llama_hidden(p, cfg, seq, torch.ones(1, seq.shape[1]))
        close("gcg_tf/final_hidden_states", hidden.reshape(ref("gcg_tf/final_hidden_states.npy").shape), ref("gcg_tf/final_hidden_states.npy"), failures)
        positions = torch.tensor(ref("gcg_tf/seg_positions.npy")).reshape(-1)
        seg_hidden = hidden[0, positions]
        close("gcg_tf/seg_hidden_states", seg_hidden.reshape(ref("gcg_tf/seg_hidden_states.npy").shape), ref("gcg_tf/seg_hidden_states.npy"), failures)
        sparse = seg_prompts(p, seg_hidden)
        close("gcg_tf/text_hidden_fcs_out", sparse.reshape(ref("gcg_tf/text_hidden_fcs_out.npy").shape), ref("gcg_tf/text_hidden_fcs_out.npy"), failures)
        low, iou = mask_decoder(p, cfg["oracle_sam_config"], emb, dense_pe(p, emb.shape[-1]), sparse)
        close("gcg_tf/low_res_masks", low.reshape(ref("gcg_tf/low_res_masks.npy").shape), ref("gcg_tf/low_res_masks.npy"), failures)
        close("gcg_tf/iou_predictions", iou.reshape(ref("gcg_tf/iou_predictions.npy").shape), ref("gcg_tf/iou_predictions.npy"), failures)
        boxes = torch.tensor(ref("regcap1_gen/bboxes_norm.npy")).reshape(-1, 4).float()
        feats, aligned, fused = region_features(p, cfg, states, boxes)
        for l, a in enumerate(aligned):
            close(f"regcap1_gen/roi_align_level{l}", a.reshape(ref(f"regcap1_gen/roi_align_level{l}.npy").shape), ref(f"regcap1_gen/roi_align_level{l}.npy"), failures)
        close("regcap1_gen/region_fuse_level3", fused[3].reshape(ref("regcap1_gen/region_fuse_level3.npy").shape), ref("regcap1_gen/region_fuse_level3.npy"), failures)
        close("regcap1_gen/region_features", feats.reshape(ref("regcap1_gen/region_features.npy").shape), ref("regcap1_gen/region_features.npy"), failures)
    print("all match" if not failures else f"{len(failures)} mismatches")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
