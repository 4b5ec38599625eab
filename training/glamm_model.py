"""GLaMM's forward pass written against the official state-dict keys (a dict of tensors), sizes from the configs.

Follows the official code: HF CLIPVisionModel (layer -2 patches), LLaVA mlp2x_gelu projector, HF LLaMA (rotary,
RMSNorm, SwiGLU), text_hidden_fcs, segment-anything's ImageEncoderViT, prompt encoder and MaskDecoder
(TwoWayTransformer, multimask_output=False). The region encoder is not implemented yet (see training/README.md).
"""
import math

import torch
import torch.nn.functional as F


def linear(p, name, x):
    return F.linear(x, p[f"{name}.weight"], p.get(f"{name}.bias"))


def layer_norm(p, name, x, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], p[f"{name}.weight"], p[f"{name}.bias"], eps)


def layer_norm_2d(p, name, x, eps=1e-6):
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return p[f"{name}.weight"][:, None, None] * x + p[f"{name}.bias"][:, None, None]


# ---------------------------------------------------------------- CLIP vision tower (HF CLIPVisionModel)
def clip_hidden_states(p, cfg, pixels):
    v = "vision_model"
    width, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    x = F.conv2d(pixels, p[f"{v}.embeddings.patch_embedding.weight"], stride=cfg["patch_size"]).flatten(2).transpose(1, 2)
    cls = p[f"{v}.embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + p[f"{v}.embeddings.position_embedding.weight"][None]
    x = layer_norm(p, f"{v}.pre_layrnorm", x, cfg.get("layer_norm_eps", 1e-5))
    states = [x]
    b, n, _ = x.shape
    hd = width // heads
    for i in range(cfg["num_hidden_layers"]):
        l = f"{v}.encoder.layers.{i}"
        h = layer_norm(p, f"{l}.layer_norm1", x, cfg.get("layer_norm_eps", 1e-5))
        q = linear(p, f"{l}.self_attn.q_proj", h).view(b, n, heads, hd).transpose(1, 2) * hd**-0.5
        k = linear(p, f"{l}.self_attn.k_proj", h).view(b, n, heads, hd).transpose(1, 2)
        val = linear(p, f"{l}.self_attn.v_proj", h).view(b, n, heads, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), -1) @ val
        x = x + linear(p, f"{l}.self_attn.out_proj", a.transpose(1, 2).reshape(b, n, width))
        h = layer_norm(p, f"{l}.layer_norm2", x, cfg.get("layer_norm_eps", 1e-5))
        h = linear(p, f"{l}.mlp.fc1", h)
        h = h * torch.sigmoid(1.702 * h)
        x = x + linear(p, f"{l}.mlp.fc2", h)
        states.append(x)
    return states


def project(p, glamm_cfg, states):
    """mlp2x_gelu on the selected layer's patch features (CLS dropped): the image tokens the LLM reads."""
    feats = states[glamm_cfg.get("mm_vision_select_layer", -2)][:, 1:]
    return linear(p, "model.mm_projector.2", F.gelu(linear(p, "model.mm_projector.0", feats)))


def image_tokens(p, pc, glamm_cfg, clip_cfg, pixels):
    states = clip_hidden_states(pc, clip_cfg, pixels)
    return project(p, glamm_cfg, states), states


# ---------------------------------------------------------------- LLaMA (HF, transformers 4.30)
def rms_norm(w, x, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    a, b = x.chunk(2, -1)
    return torch.cat([-b, a], -1)


def llama_hidden(p, cfg, embeds, attention_mask, attentions=None):
    """embeds [B, L, H]; attention_mask [B, L] (1 = real). Returns the final-norm hidden states; each layer's attention
    probabilities [B, heads, L, L] are appended to `attentions` when a list is given (the trainers guide some heads)."""
    b, n, hidden = embeds.shape
    heads = cfg["num_attention_heads"]
    hd = hidden // heads
    eps = cfg["rms_norm_eps"]
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
    freqs = torch.arange(n).float()[:, None] * inv[None]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
    x = embeds
    for i in range(cfg["num_hidden_layers"]):
        l = f"model.layers.{i}"
        h = rms_norm(p[f"{l}.input_layernorm.weight"], x, eps)
        q = F.linear(h, p[f"{l}.self_attn.q_proj.weight"]).view(b, n, heads, hd).transpose(1, 2)
        k = F.linear(h, p[f"{l}.self_attn.k_proj.weight"]).view(b, n, heads, hd).transpose(1, 2)
        v = F.linear(h, p[f"{l}.self_attn.v_proj.weight"]).view(b, n, heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~allowed, torch.finfo(s.dtype).min)
        probs = torch.softmax(s, -1)
        if attentions is not None:
            attentions.append(probs)
        a = (probs @ v).transpose(1, 2).reshape(b, n, hidden)
        x = x + F.linear(a, p[f"{l}.self_attn.o_proj.weight"])
        h = rms_norm(p[f"{l}.post_attention_layernorm.weight"], x, eps)
        g = F.linear(h, p[f"{l}.mlp.gate_proj.weight"])
        u = F.linear(h, p[f"{l}.mlp.up_proj.weight"])
        x = x + F.linear(F.silu(g) * u, p[f"{l}.mlp.down_proj.weight"])
    return rms_norm(p["model.norm.weight"], x, eps)


# ---------------------------------------------------------------- SAM image encoder (segment-anything)
def _rel_pos(q_size, k_size, rel):
    qc = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    kc = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    return rel[((qc - kc) + (k_size - 1) * max(q_size / k_size, 1.0)).long()]


def _sam_attention(p, name, x, heads):
    b, h, w, dim = x.shape
    hd = dim // heads
    qkv = linear(p, f"{name}.qkv", x).reshape(b, h * w, 3, heads, hd).permute(2, 0, 3, 1, 4).reshape(3, b * heads, h * w, hd)
    q, k, v = qkv.unbind(0)
    attn = (q * hd**-0.5) @ k.transpose(-2, -1)
    rh, rw = _rel_pos(h, h, p[f"{name}.rel_pos_h"]), _rel_pos(w, w, p[f"{name}.rel_pos_w"])
    rq = q.reshape(b * heads, h, w, hd)
    rel_h = torch.einsum("bhwc,hkc->bhwk", rq, rh)
    rel_w = torch.einsum("bhwc,wkc->bhwk", rq, rw)
    attn = (attn.view(b * heads, h, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).view(b * heads, h * w, h * w)
    x = (attn.softmax(-1) @ v).view(b, heads, h, w, hd).permute(0, 2, 3, 1, 4).reshape(b, h, w, dim)
    return linear(p, f"{name}.proj", x)


def sam_image_embeddings(p, sam_cfg, pixels, prefix="model.grounding_encoder.image_encoder"):
    heads, window, global_attn = sam_cfg["encoder_num_heads"], sam_cfg["window_size"], sam_cfg["encoder_global_attn_indexes"]
    w_patch = p[f"{prefix}.patch_embed.proj.weight"]
    x = F.conv2d(pixels, w_patch, p[f"{prefix}.patch_embed.proj.bias"], stride=w_patch.shape[-1]).permute(0, 2, 3, 1)
    x = x + p[f"{prefix}.pos_embed"]
    for i in range(sam_cfg["encoder_depth"]):
        blk = f"{prefix}.blocks.{i}"
        shortcut = x
        h = layer_norm(p, f"{blk}.norm1", x, 1e-6)
        if i in global_attn:
            h = _sam_attention(p, f"{blk}.attn", h, heads)
        else:
            b, hh, ww, c = h.shape
            ph, pw = (window - hh % window) % window, (window - ww % window) % window
            h = F.pad(h, (0, 0, 0, pw, 0, ph))
            H, W = hh + ph, ww + pw
            h = h.view(b, H // window, window, W // window, window, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c)
            h = _sam_attention(p, f"{blk}.attn", h, heads)
            h = h.view(b, H // window, W // window, window, window, c).permute(0, 1, 3, 2, 4, 5).reshape(b, H, W, c)[:, :hh, :ww]
        x = shortcut + h
        h = layer_norm(p, f"{blk}.norm2", x, 1e-6)
        x = x + linear(p, f"{blk}.mlp.lin2", F.gelu(linear(p, f"{blk}.mlp.lin1", h)))
    x = x.permute(0, 3, 1, 2)
    x = layer_norm_2d(p, f"{prefix}.neck.1", F.conv2d(x, p[f"{prefix}.neck.0.weight"]))
    return layer_norm_2d(p, f"{prefix}.neck.3", F.conv2d(x, p[f"{prefix}.neck.2.weight"], padding=1))


# ---------------------------------------------------------------- SAM prompt encoder + mask decoder
def _pe(p, prefix, coords):
    coords = (2 * coords - 1) @ p[f"{prefix}.pe_layer.positional_encoding_gaussian_matrix"]
    coords = 2 * math.pi * coords
    return torch.cat([coords.sin(), coords.cos()], -1)


def dense_pe(p, size, prefix="model.grounding_encoder.prompt_encoder"):
    ys = (torch.arange(size).float() + 0.5) / size
    grid = torch.stack(torch.meshgrid(ys, ys, indexing="ij")[::-1], -1)  # (x, y)
    return _pe(p, prefix, grid).permute(2, 0, 1)[None]


def point_embeddings(p, points, labels, input_size=1024, prefix="model.grounding_encoder.prompt_encoder"):
    """points [B, N, 2] in resized-image pixels, labels [B, N] (1 fg, 0 bg); pads with (0,0, -1) as SAM does."""
    b = points.shape[0]
    points = torch.cat([points + 0.5, torch.zeros(b, 1, 2)], 1)
    labels = torch.cat([labels, -torch.ones(b, 1)], 1)
    emb = _pe(p, prefix, points / input_size)
    emb = torch.where((labels == -1)[..., None], torch.zeros_like(emb) + p[f"{prefix}.not_a_point_embed.weight"], emb)
    emb = emb + (labels == 0)[..., None] * p[f"{prefix}.point_embeddings.0.weight"] + (labels == 1)[..., None] * p[f"{prefix}.point_embeddings.1.weight"]
    return emb


def _attention(p, name, q, k, v, heads):
    q, k, v = linear(p, f"{name}.q_proj", q), linear(p, f"{name}.k_proj", k), linear(p, f"{name}.v_proj", v)
    b, nq, c = q.shape
    split = lambda t: t.reshape(b, t.shape[1], heads, c // heads).transpose(1, 2)
    q, k, v = split(q), split(k), split(v)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // heads), -1) @ v
    return linear(p, f"{name}.out_proj", a.transpose(1, 2).reshape(b, nq, c))


def mask_decoder(p, sam_cfg, image_embeddings, image_pe, sparse, multimask=False, prefix="model.grounding_encoder"):
    """image_embeddings [1, C, h, w]; sparse [B, n, C]. Returns low-res mask logits [B, k, 4h, 4w] and IoU predictions."""
    md, pe_prefix = f"{prefix}.mask_decoder", f"{prefix}.prompt_encoder"
    heads = sam_cfg["decoder_num_heads"]
    b = sparse.shape[0]
    out_tokens = torch.cat([p[f"{md}.iou_token.weight"], p[f"{md}.mask_tokens.weight"]], 0)
    tokens = torch.cat([out_tokens[None].expand(b, -1, -1), sparse], 1)
    dense = p[f"{pe_prefix}.no_mask_embed.weight"].reshape(1, -1, 1, 1)
    src = image_embeddings.expand(b, -1, -1, -1) + dense
    _, c, h, w = src.shape
    keys = src.flatten(2).transpose(1, 2)
    key_pe = image_pe.expand(b, -1, -1, -1).flatten(2).transpose(1, 2)
    queries = tokens
    for i in range(2):
        l = f"{md}.transformer.layers.{i}"
        if i == 0:
            queries = _attention(p, f"{l}.self_attn", queries, queries, queries, heads)
        else:
            q = queries + tokens
            queries = queries + _attention(p, f"{l}.self_attn", q, q, queries, heads)
        queries = layer_norm(p, f"{l}.norm1", queries)
        queries = queries + _attention(p, f"{l}.cross_attn_token_to_image", queries + tokens, keys + key_pe, keys, heads)
        queries = layer_norm(p, f"{l}.norm2", queries)
        queries = layer_norm(p, f"{l}.norm3", queries + linear(p, f"{l}.mlp.lin2", F.relu(linear(p, f"{l}.mlp.lin1", queries))))
        keys = keys + _attention(p, f"{l}.cross_attn_image_to_token", keys + key_pe, queries + tokens, queries, heads)
        keys = layer_norm(p, f"{l}.norm4", keys)
    queries = queries + _attention(p, f"{md}.transformer.final_attn_token_to_image", queries + tokens, keys + key_pe, keys, heads)
    hs = layer_norm(p, f"{md}.transformer.norm_final_attn", queries)
    src = keys.transpose(1, 2).reshape(b, c, h, w)
    up = F.conv_transpose2d(src, p[f"{md}.output_upscaling.0.weight"], p[f"{md}.output_upscaling.0.bias"], stride=2)
    up = F.gelu(layer_norm_2d(p, f"{md}.output_upscaling.1", up))
    up = F.gelu(F.conv_transpose2d(up, p[f"{md}.output_upscaling.3.weight"], p[f"{md}.output_upscaling.3.bias"], stride=2))
    hyper = []
    for m in range(4):
        t = hs[:, 1 + m]
        name = f"{md}.output_hypernetworks_mlps.{m}.layers"
        t = linear(p, f"{name}.2", F.relu(linear(p, f"{name}.1", F.relu(linear(p, f"{name}.0", t)))))
        hyper.append(t)
    hyper = torch.stack(hyper, 1)
    bb, cc, hh, ww = up.shape
    masks = (hyper @ up.view(bb, cc, hh * ww)).view(bb, 4, hh, ww)
    iou = hs[:, 0]
    name = f"{md}.iou_prediction_head.layers"
    iou = linear(p, f"{name}.2", F.relu(linear(p, f"{name}.1", F.relu(linear(p, f"{name}.0", iou)))))
    return (masks[:, 1:], iou[:, 1:]) if multimask else (masks[:, :1], iou[:, :1])


def seg_prompts(p, seg_hidden):
    """text_hidden_fcs: Linear, ReLU, Linear (dropout 0): [n, hidden] -> [n, 1, prompt dim]."""
    return linear(p, "model.text_hidden_fcs.0.2", F.relu(linear(p, "model.text_hidden_fcs.0.0", seg_hidden)))[:, None]


# ---------------------------------------------------------------- region encoder (MLVLROIQueryModule, model/layers.py)
REGION = "model.region_encoder"
BOX_SCALE, COARSEST_STRIDE, ROI_SIZE, FUSE_ROUNDS = 224, 14, 14, 5


def region_level_states(states, select_layer, levels):
    """hidden_states[select::-3][::-1][-levels:], CLS dropped, finest level first."""
    start = select_layer % len(states)
    picked = list(range(start, -1, -3))[::-1][-levels:]
    return [states[i][:, 1:] for i in picked]


def _roi_weights(coords, size):
    """torchvision roi_align's bilinear weights for 1-D sample coordinates: [len(coords), size] (separable)."""
    w = torch.zeros(len(coords), size)
    for i, c in enumerate(coords.tolist()):
        if c < -1.0 or c > size:
            continue
        c = max(c, 0.0)
        low = int(c)
        if low >= size - 1:
            low = high = size - 1
            c = float(low)
        else:
            high = low + 1
        frac = c - low
        w[i, low] += 1 - frac
        w[i, high] += frac
    return w


def roi_align(feat, boxes, scale, out=ROI_SIZE, sampling=2):
    """torchvision.ops.roi_align(feat [1,C,H,W], boxes [N,4] xyxy, out, scale, sampling, aligned=True) -> [N,C,out,out]."""
    _, c, h, w = feat.shape
    results = []
    for x1, y1, x2, y2 in (boxes * scale - 0.5).tolist():
        grid = lambda a, b: a + (torch.arange(out * sampling).float() + 0.5) * ((b - a) / (out * sampling))
        wy, wx = _roi_weights(grid(y1, y2), h), _roi_weights(grid(x1, x2), w)
        sampled = wy @ feat[0] @ wx.T
        results.append(F.avg_pool2d(sampled[None], sampling)[0])
    return torch.stack(results)


def _group_norm(p, name, x, groups):
    return F.group_norm(x, groups, p[f"{name}.weight"], p[f"{name}.bias"], 1e-5)


def region_features(p, cfg, clip_states, boxes_norm):
    """boxes_norm [N, 4] (pixel boxes / image size) -> [N, hidden]: the rows that replace <bbox> embeddings."""
    levels = cfg.get("num_level_reg_features", 4)
    groups = cfg.get("oracle_region_gn_groups", 64)
    feats_in = region_level_states(clip_states, cfg.get("mm_vision_select_layer", -2), levels)
    grid = int(round(feats_in[0].shape[1] ** 0.5))
    sizes = [grid * 2 ** (levels - 1 - l) for l in range(levels)]
    feats = []
    for l, tokens in enumerate(feats_in):
        m = tokens.transpose(1, 2).reshape(1, -1, grid, grid)
        if sizes[l] != grid:
            m = F.interpolate(m, size=(sizes[l], sizes[l]), mode="bilinear", align_corners=True)
        axis = torch.linspace(-1, 1, sizes[l])
        coords = torch.stack([axis[None, :].expand(sizes[l], -1), axis[:, None].expand(-1, sizes[l])])[None]
        feats.append(F.conv2d(torch.cat([m, coords], 1), p[f"{REGION}.mlvl_fuse.input_conv.{l}.weight"], p[f"{REGION}.mlvl_fuse.input_conv.{l}.bias"]))
    width = feats[0].shape[1]
    shuffle = width // 4
    remain = width - 2 * shuffle
    for r in range(FUSE_ROUNDS):
        conv = f"{REGION}.mlvl_fuse.fuse_convs.{r}"
        new = []
        for l, target in enumerate(feats):
            top, down = min(l + 1, levels - 1), max(l - 1, 0)
            resize = lambda x: F.interpolate(x, size=(sizes[l], sizes[l]), mode="bilinear", align_corners=True)
            mixed = torch.cat([target[:, :remain], resize(feats[top][:, remain + shuffle :]), resize(feats[down][:, remain : remain + shuffle])], 1)
            new.append(F.relu(_group_norm(p, f"{conv}.gn", F.conv2d(mixed, p[f"{conv}.conv.weight"], padding=1), groups)))
        feats = new
    rois = boxes_norm * BOX_SCALE
    summed = 0
    aligned = []
    for l, feat in enumerate(feats):
        a = roi_align(feat, rois, 2 ** (levels - 1 - l) / COARSEST_STRIDE)
        aligned.append(a)
        summed = summed + F.conv2d(a, p[f"{REGION}.roi_align.pconvs.{l}.weight"], p[f"{REGION}.roi_align.pconvs.{l}.bias"], padding=1)
    r = f"{REGION}.roi_align"
    flat = linear(p, f"{r}.flatten_linear", F.relu(summed).flatten(1))
    pos = layer_norm(p, f"{r}.pos_embedd.2", F.relu(linear(p, f"{r}.pos_embedd.0", boxes_norm)))
    pos = layer_norm(p, f"{r}.pos_embedd.5", F.relu(linear(p, f"{r}.pos_embedd.3", pos)))
    return linear(p, f"{r}.updims", flat + pos), aligned, feats
