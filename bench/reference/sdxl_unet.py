"""PyTorch fp32 reference of one SDXL inpainting UNet step (`glamm bench sdxl-unet`): a faithful copy of diffusers
0.22's UNet2DConditionModel blocks as the SDXL inpainting config uses them (ResnetBlock2D, Transformer2DModel with
linear projection and BasicTransformerBlocks, GEGLU, text_time add_embedding, DownBlock2D / CrossAttn* blocks), built
with random weights at the benchmark's sizes (`--scale` multiplies every width and the group count). diffusers is not
installed here; the blocks follow its source."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from common import parser, run

CHANNELS = (320, 640, 1280)
HEADS = (5, 10, 20)
DEPTHS = (1, 2, 10)
LAYERS = 2
CROSS = 2048
POOLED = 1280
TIME_DIM = 256
TIME_IDS = 6
IN_CHANNELS = 9


def sinusoid(t, dim):
    """get_timestep_embedding with flip_sin_to_cos and shift 0."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    angles = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class TimeMlp(nn.Module):
    def __init__(self, inner, out):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(inner, out), nn.Linear(out, out)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class Resnet(nn.Module):
    def __init__(self, inner, out, temb, groups):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, inner, eps=1e-5), nn.Conv2d(inner, out, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, out, eps=1e-5), nn.Conv2d(out, out, 3, padding=1)
        self.shortcut = nn.Conv2d(inner, out, 1) if inner != out else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x))) + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.shortcut(x) if self.shortcut is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c, context, heads):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c, bias=False), nn.Linear(context, c, bias=False), nn.Linear(context, c, bias=False)
        self.to_out = nn.Linear(c, c)

    def forward(self, x, context):
        b, n, c = x.shape
        split = lambda t: t.reshape(b, -1, self.heads, c // self.heads).transpose(1, 2).reshape(b * self.heads, -1, c // self.heads)
        q, k, v = split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context))
        # diffusers computes this as baddbmm(empty, q, kᵀ, beta=0, alpha); Debian's torch 1.13 CPU baddbmm gave NaN
        # scores now and then here (one run in ten), so the same product is written as bmm × scale.
        scores = torch.bmm(q, k.transpose(1, 2)) * (c // self.heads) ** -0.5
        out = torch.bmm(scores.softmax(-1), v).reshape(b, self.heads, n, c // self.heads).transpose(1, 2).reshape(b, n, c)
        return self.to_out(out)


class TransformerBlock(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(c), Attention(c, c, heads)
        self.norm2, self.attn2 = nn.LayerNorm(c), Attention(c, CROSS, heads)
        self.norm3, self.proj, self.out = nn.LayerNorm(c), nn.Linear(c, 8 * c), nn.Linear(4 * c, c)

    def forward(self, x, context):
        h = self.norm1(x)
        x = x + self.attn1(h, h)
        x = x + self.attn2(self.norm2(x), context)
        hidden, gate = self.proj(self.norm3(x)).chunk(2, dim=-1)
        return x + self.out(hidden * F.gelu(gate))


class Transformer2D(nn.Module):
    def __init__(self, c, heads, depth, groups):
        super().__init__()
        self.norm, self.proj_in, self.proj_out = nn.GroupNorm(groups, c, eps=1e-6), nn.Linear(c, c), nn.Linear(c, c)
        self.blocks = nn.ModuleList(TransformerBlock(c, heads) for _ in range(depth))

    def forward(self, x, context):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c))
        for block in self.blocks:
            t = block(t, context)
        return self.proj_out(t).reshape(b, h, w, c).permute(0, 3, 1, 2) + x


class UNet(nn.Module):
    def __init__(self, scale, depths=DEPTHS):
        super().__init__()
        ch = [int(c * scale) for c in CHANNELS]
        groups, temb, last = int(32 * scale), 4 * ch[0], len(ch) - 1
        self.base = ch[0]
        self.conv_in = nn.Conv2d(IN_CHANNELS, ch[0], 3, padding=1)
        self.time_embedding, self.add_embedding = TimeMlp(ch[0], temb), TimeMlp(POOLED + TIME_IDS * TIME_DIM, temb)
        self.down = nn.ModuleList()
        for i, out in enumerate(ch):
            resnets = nn.ModuleList(Resnet(ch[i - 1] if (j == 0 and i > 0) else out if j else ch[0], out, temb, groups) for j in range(LAYERS))
            attentions = nn.ModuleList(Transformer2D(out, HEADS[i], depths[i], groups) for _ in range(LAYERS)) if i > 0 else None
            down = nn.Conv2d(out, out, 3, stride=2, padding=1) if i < last else None
            self.down.append(nn.ModuleList([resnets, attentions or nn.ModuleList(), down or nn.Identity()]))
        self.mid = nn.ModuleList([Resnet(ch[last], ch[last], temb, groups), Transformer2D(ch[last], HEADS[last], depths[last], groups), Resnet(ch[last], ch[last], temb, groups)])
        rev, rev_heads, rev_depths = ch[::-1], HEADS[::-1], depths[::-1]
        self.up = nn.ModuleList()
        for i, out in enumerate(rev):
            prev, inp = rev[i - 1] if i else rev[0], rev[min(i + 1, last)]
            resnets = nn.ModuleList(Resnet((prev if j == 0 else out) + (inp if j == LAYERS else out), out, temb, groups) for j in range(LAYERS + 1))
            attentions = nn.ModuleList(Transformer2D(out, rev_heads[i], rev_depths[i], groups) for _ in range(LAYERS + 1)) if i < last else nn.ModuleList()
            up = nn.Conv2d(out, out, 3, padding=1) if i < last else None
            self.up.append(nn.ModuleList([resnets, attentions, up or nn.Identity()]))
        self.norm_out, self.conv_out = nn.GroupNorm(groups, ch[0], eps=1e-5), nn.Conv2d(ch[0], 4, 3, padding=1)

    def forward(self, sample, t, context, text_embeds, time_ids):
        b = sample.shape[0]
        temb = self.time_embedding(sinusoid(t.expand(b), self.base))
        ids = sinusoid(time_ids.flatten(), TIME_DIM).reshape(b, -1)
        temb = temb + self.add_embedding(torch.cat([text_embeds, ids], dim=-1))
        h = self.conv_in(sample)
        skips = [h]
        for resnets, attentions, down in self.down:
            for j, resnet in enumerate(resnets):
                h = resnet(h, temb)
                if len(attentions):
                    h = attentions[j](h, context)
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, temb), context), temb)
        for resnets, attentions, up in self.up:
            for j, resnet in enumerate(resnets):
                h = resnet(torch.cat([h, skips.pop()], dim=1), temb)
                if len(attentions):
                    h = attentions[j](h, context)
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


DIFFUSERS_NAMES = [
    (r"^down\.(\d+)\.0\.(\d+)\.", r"down_blocks.\1.resnets.\2."),
    (r"^down\.(\d+)\.1\.(\d+)\.", r"down_blocks.\1.attentions.\2."),
    (r"^down\.(\d+)\.2\.", r"down_blocks.\1.downsamplers.0.conv."),
    (r"^up\.(\d+)\.0\.(\d+)\.", r"up_blocks.\1.resnets.\2."),
    (r"^up\.(\d+)\.1\.(\d+)\.", r"up_blocks.\1.attentions.\2."),
    (r"^up\.(\d+)\.2\.", r"up_blocks.\1.upsamplers.0.conv."),
    (r"^mid\.0\.", "mid_block.resnets.0."),
    (r"^mid\.1\.", "mid_block.attentions.0."),
    (r"^mid\.2\.", "mid_block.resnets.1."),
    (r"^norm_out\.", "conv_norm_out."),
    (r"\.shortcut\.", ".conv_shortcut."),
    (r"\.blocks\.(\d+)\.", r".transformer_blocks.\1."),
    (r"\.to_out\.", ".to_out.0."),
    (r"\.proj\.", ".ff.net.0.proj."),
    (r"\.out\.", ".ff.net.2."),
]


def dump(unet, inputs, directory):
    """The weights under diffusers' names (safetensors, float32), the inputs and the output as .npy: a fixture for
    checking glamm's UNet graph against this independent implementation."""
    import json
    import os
    import re

    import numpy as np

    os.makedirs(directory, exist_ok=True)
    tensors = {}
    for name, value in unet.state_dict().items():
        for pattern, replacement in DIFFUSERS_NAMES:
            name = re.sub(pattern, replacement, name)
        tensors[name] = value.contiguous().numpy().astype("<f4")
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(os.path.join(directory, "unet.safetensors"), "wb") as f:
        f.write(len(encoded).to_bytes(8, "little") + encoded)
        for array in tensors.values():
            f.write(array.tobytes())
    for name, value in zip(["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], inputs):
        np.save(os.path.join(directory, f"{name}.npy"), value.numpy())
    with torch.inference_mode():
        np.save(os.path.join(directory, "noise_pred.npy"), unet(*inputs).numpy())


def main():
    p = parser("one SDXL inpainting UNet step, batch 2 (classifier-free guidance), PyTorch fp32")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--side", type=int, default=128)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--depths", default="1,2,10", help="transformer blocks per level (SDXL: 1,2,10)")
    p.add_argument("--dump", help="write weights (diffusers names), inputs and output to this folder instead of timing")
    args = p.parse_args()
    torch.manual_seed(0)
    with torch.inference_mode():
        unet = UNet(args.scale, tuple(int(d) for d in args.depths.split(","))).eval()
        inputs = (
            torch.randn(args.batch, IN_CHANNELS, args.side, args.side),
            torch.tensor([901.0]),
            torch.randn(args.batch, 77, CROSS) * 0.5,
            torch.randn(args.batch, POOLED) * 0.5,
            torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024]] * args.batch),
        )
    if args.dump:
        return dump(unet, inputs, args.dump)
    run(f"sdxl-unet scale={args.scale} side={args.side} batch={args.batch}", args, lambda: unet(*inputs))


if __name__ == "__main__":
    main()
