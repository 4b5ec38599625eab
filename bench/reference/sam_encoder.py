"""PyTorch fp32 reference for `sam-encoder`: segment-anything's ImageEncoderViT as build_sam_vit_h makes it (width
1280, 16 heads, MLP 5120, window 14 with global attention at blocks 7, 15, 23, 31, decomposed relative positions,
neck to 256) on a 1024² image, random weights per block. --blocks N keeps the first N blocks (as glamm's blocks=N)."""
import torch
import torch.nn.functional as F
from torch import nn

from common import parser, run

WIDTH, HEADS, MLP, PATCH, IMAGE, WINDOW, NECK, GLOBAL = 1280, 16, 5120, 16, 1024, 14, 256, (7, 15, 23, 31)
GRID = IMAGE // PATCH


class LayerNorm2d(nn.Module):
    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def get_rel_pos(q_size, k_size, rel_pos):
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[relative.long()]


def add_decomposed_rel_pos(attn, q, rel_pos_h, rel_pos_w, q_size, k_size):
    q_h, q_w = q_size
    k_h, k_w = k_size
    rh, rw = get_rel_pos(q_h, k_h, rel_pos_h), get_rel_pos(q_w, k_w, rel_pos_w)
    b, _, dim = q.shape
    r_q = q.reshape(b, q_h, q_w, dim)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
    attn = attn.view(b, q_h, q_w, k_h, k_w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return attn.view(b, q_h * q_w, k_h * k_w)


class Attention(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.head_dim = WIDTH // HEADS
        self.scale = self.head_dim**-0.5
        self.qkv, self.proj = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
        self.rel_pos_h = nn.Parameter(torch.randn(2 * size - 1, self.head_dim) * 0.02)
        self.rel_pos_w = nn.Parameter(torch.randn(2 * size - 1, self.head_dim) * 0.02)

    def forward(self, x):
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * HEADS, h * w, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = add_decomposed_rel_pos(attn, q, self.rel_pos_h, self.rel_pos_w, (h, w), (h, w)).softmax(dim=-1)
        x = (attn @ v).view(b, HEADS, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return self.proj(x)


def window_partition(x, window):
    b, h, w, c = x.shape
    pad_h, pad_w = (window - h % window) % window, (window - w % window) % window
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window, window, c), (hp, wp)


def window_unpartition(windows, window, pad_hw, hw):
    hp, wp = pad_hw
    h, w = hw
    b = windows.shape[0] // (hp * wp // window // window)
    x = windows.view(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, hp, wp, -1)
    return x[:, :h, :w, :].contiguous() if hp > h or wp > w else x


class Block(nn.Module):
    def __init__(self, window):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(WIDTH, eps=1e-6), nn.LayerNorm(WIDTH, eps=1e-6)
        self.attn = Attention(GRID if window == 0 else window)
        self.lin1, self.lin2 = nn.Linear(WIDTH, MLP), nn.Linear(MLP, WIDTH)
        self.window = window

    def forward(self, x):
        shortcut = x
        x = self.norm1(x)
        if self.window > 0:
            h, w = x.shape[1], x.shape[2]
            x, pad_hw = window_partition(x, self.window)
        x = self.attn(x)
        if self.window > 0:
            x = window_unpartition(x, self.window, pad_hw, (h, w))
        x = shortcut + x
        return x + self.lin2(F.gelu(self.lin1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, WIDTH, PATCH, PATCH)
        self.pos_embed = nn.Parameter(torch.randn(1, GRID, GRID, WIDTH) * 0.02)
        self.blocks = nn.ModuleList(Block(0 if i in GLOBAL else WINDOW) for i in range(blocks))
        self.neck = nn.Sequential(nn.Conv2d(WIDTH, NECK, 1, bias=False), LayerNorm2d(NECK), nn.Conv2d(NECK, NECK, 3, padding=1, bias=False), LayerNorm2d(NECK))

    def forward(self, x):
        x = self.patch_embed(x).permute(0, 2, 3, 1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))


def main():
    p = parser(__doc__)
    p.add_argument("--blocks", type=int, default=32)
    args = p.parse_args()
    torch.manual_seed(0)
    model = Encoder(args.blocks).eval()
    pixels = torch.randn(1, 3, IMAGE, IMAGE)
    run(f"sam-encoder-{args.blocks}", args, lambda: model(pixels))


if __name__ == "__main__":
    main()
