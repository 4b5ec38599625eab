"""PyTorch fp32 reference for `clip`: transformers' CLIPVisionTransformer at ViT-L/14-336 as LLaVA's CLIPVisionTower
calls it (output_hidden_states=True, all 24 layers run, hidden_states[-2] patch rows) then GLaMM's mlp2x_gelu
mm_projector to 4096; random weights per layer."""
import torch
from torch import nn

from common import parser, run

WIDTH, LAYERS, HEADS, MLP, PATCH, IMAGE, LLM = 1024, 24, 16, 4096, 14, 336, 4096
GRID = IMAGE // PATCH


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.head_dim = WIDTH // HEADS
        self.scale = self.head_dim**-0.5
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(WIDTH, WIDTH) for _ in range(4))

    def forward(self, x):
        b, s, _ = x.shape
        shape = lambda t: t.view(b, s, HEADS, self.head_dim).transpose(1, 2).reshape(b * HEADS, s, self.head_dim)
        q, k, v = shape(self.q_proj(x) * self.scale), shape(self.k_proj(x)), shape(self.v_proj(x))
        weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)
        out = torch.bmm(weights, v).view(b, HEADS, s, self.head_dim).transpose(1, 2).reshape(b, s, WIDTH)
        return self.out_proj(out)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
        self.self_attn = Attention()
        self.fc1, self.fc2 = nn.Linear(WIDTH, MLP), nn.Linear(MLP, WIDTH)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        h = self.fc1(self.layer_norm2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, WIDTH, PATCH, PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(WIDTH))
        self.position_embedding = nn.Embedding(GRID * GRID + 1, WIDTH)
        self.pre_layrnorm = nn.LayerNorm(WIDTH)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.projector = nn.Sequential(nn.Linear(WIDTH, LLM), nn.GELU(), nn.Linear(LLM, LLM))

    def forward(self, pixels):
        patches = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(1, 1, -1), patches], dim=1) + self.position_embedding.weight[None]
        x = self.pre_layrnorm(x)
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        return self.projector(states[-2][:, 1:])


def main():
    args = parser(__doc__).parse_args()
    torch.manual_seed(0)
    model = Tower().eval()
    pixels = torch.randn(1, 3, IMAGE, IMAGE)
    run("clip", args, lambda: model(pixels))


if __name__ == "__main__":
    main()
