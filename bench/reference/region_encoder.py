"""PyTorch fp32 reference for `region-encoder`: GLaMM's MLVLROIQueryModule (model/layers.py) at its real sizes: four
CLIP levels (1024 wide, 24² upsampled to 192², 96², 48², 24²), MLVLFuseModule (coordinate channels, 1×1 input convs,
five rounds of channel shuffling between neighbouring levels + 3×3 conv + GroupNorm(64) + ReLU), RoIAlign 14×14 per
level (torchvision, sampling ratio 2, aligned), 3×3 pconvs summed, flatten_linear, box position embedding, updims to
4096; random weights, 2 boxes."""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from common import parser, run

LEVELS, CLIP, WIDTH, POS, MID, ROI, GRID, LLM, ROUNDS = 4, 1024, 1024, 256, 1024, 14, 24, 4096, 5
SIZES = [GRID * 2 ** (LEVELS - 1 - l) for l in range(LEVELS)]


def coordinates(size):
    axis = torch.linspace(-1, 1, size)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x, y])[None]


class Fuse(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_conv = nn.ModuleList(nn.Conv2d(CLIP + 2, WIDTH, 1) for _ in range(LEVELS))
        self.convs = nn.ModuleList(nn.Conv2d(WIDTH, WIDTH, 3, padding=1, bias=False) for _ in range(ROUNDS))
        self.norms = nn.ModuleList(nn.GroupNorm(64, WIDTH) for _ in range(ROUNDS))
        self.shuffle = WIDTH // 4
        self.remain = WIDTH - 2 * self.shuffle

    def forward(self, feats):
        feats = [conv(torch.cat([f, coordinates(f.shape[-1]).expand(f.shape[0], -1, -1, -1)], 1)) for conv, f in zip(self.input_conv, feats)]
        r, s = self.remain, self.shuffle
        for conv, norm in zip(self.convs, self.norms):
            fused = []
            for l, target in enumerate(feats):
                top, down = feats[min(l + 1, LEVELS - 1)], feats[max(l - 1, 0)]
                size = target.shape[-2:]
                mixed = torch.cat([
                    target[:, :r],
                    F.interpolate(top[:, r + s :], size=size, mode="bilinear", align_corners=True),
                    F.interpolate(down[:, r : r + s], size=size, mode="bilinear", align_corners=True),
                ], 1)
                fused.append(F.relu(norm(conv(mixed))))
            feats = fused
        return feats


class RegionEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fuse = Fuse()
        self.pconvs = nn.ModuleList(nn.Conv2d(WIDTH, WIDTH, 3, padding=1) for _ in range(LEVELS))
        self.flatten_linear = nn.Linear(WIDTH * ROI * ROI, MID)
        self.pos_embedd = nn.Sequential(nn.Linear(4, POS), nn.ReLU(), nn.LayerNorm(POS), nn.Linear(POS, MID), nn.ReLU(), nn.LayerNorm(MID))
        self.updims = nn.Linear(MID, LLM)

    def forward(self, levels, boxes):
        maps = [F.interpolate(x.transpose(1, 2).reshape(1, CLIP, GRID, GRID), size=(s, s), mode="bilinear", align_corners=True) if s != GRID else x.transpose(1, 2).reshape(1, CLIP, GRID, GRID) for x, s in zip(levels, SIZES)]
        fused = self.fuse(maps)
        rois = torch.cat([torch.zeros(len(boxes), 1), boxes * 224], 1)
        summed = sum(conv(roi_align(f, rois, ROI, spatial_scale=2 ** (LEVELS - 1 - l) / 14, sampling_ratio=2, aligned=True)) for l, (conv, f) in enumerate(zip(self.pconvs, fused)))
        flat = self.flatten_linear(F.relu(summed).flatten(1))
        return self.updims(flat + self.pos_embedd(boxes))


def main():
    p = parser(__doc__)
    p.add_argument("--boxes", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    model = RegionEncoder().eval()
    levels = [torch.randn(1, GRID * GRID, CLIP) for _ in range(LEVELS)]
    boxes = torch.tensor([[0.1, 0.2, 0.6, 0.7]] * args.boxes)
    run("region-encoder", args, lambda: model(levels, boxes))


if __name__ == "__main__":
    main()
