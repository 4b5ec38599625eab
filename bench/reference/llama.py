"""PyTorch fp32 reference for `llama-prefill` / `llama-decode`: the LLaMA decoder of transformers 4.28-4.31 (what
GLaMM and LLaVA-1.5 run: LlamaRMSNorm, rotary cos/sin cache, repeat-free attention with past_key_value concatenated
by torch.cat, fp32 softmax, SiLU-gated MLP) at Vicuna-7B width, random weights per layer, from inputs_embeds."""
import math

import torch
from torch import nn

from common import parser, run


class RMSNorm(nn.Module):
    def __init__(self, size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


class Rotary(nn.Module):
    def __init__(self, dim, max_positions=2048, base=10000):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        t = torch.arange(max_positions, dtype=inv_freq.dtype)
        emb = torch.cat((torch.einsum("i,j->ij", t, inv_freq),) * 2, dim=-1)
        self.register_buffer("cos", emb.cos()[None, None], persistent=False)
        self.register_buffer("sin", emb.sin()[None, None], persistent=False)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.q_proj = nn.Linear(hidden, hidden, bias=False)
        self.k_proj = nn.Linear(hidden, hidden, bias=False)
        self.v_proj = nn.Linear(hidden, hidden, bias=False)
        self.o_proj = nn.Linear(hidden, hidden, bias=False)
        self.rotary = Rotary(self.head_dim)

    def forward(self, x, mask, position_ids, past):
        b, s, _ = x.shape
        split = lambda t: t.view(b, s, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        cos = self.rotary.cos.squeeze(1).squeeze(0)[position_ids].unsqueeze(1)
        sin = self.rotary.sin.squeeze(1).squeeze(0)[position_ids].unsqueeze(1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        weights = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + mask
        weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, s, -1)
        return self.o_proj(out), (k, v)


class Layer(nn.Module):
    def __init__(self, hidden, heads, intermediate):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(hidden), RMSNorm(hidden)
        self.self_attn = Attention(hidden, heads)
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x, mask, position_ids, past):
        attention, present = self.self_attn(self.input_layernorm(x), mask, position_ids, past)
        x = x + attention
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(nn.functional.silu(self.gate_proj(h)) * self.up_proj(h)), present


class Decoder(nn.Module):
    def __init__(self, layers, hidden=4096, heads=32, intermediate=11008, vocab=32007):
        super().__init__()
        self.layers = nn.ModuleList(Layer(hidden, heads, intermediate) for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, embeds, pasts, lm_head_rows):
        b, s, _ = embeds.shape
        past_len = 0 if pasts is None else pasts[0][0].shape[2]
        position_ids = torch.arange(past_len, past_len + s).unsqueeze(0)
        mask = torch.full((s, s), torch.finfo(embeds.dtype).min).triu(1)
        mask = torch.cat([torch.zeros(s, past_len), mask], dim=-1)[None, None]
        x, presents = embeds, []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, mask, position_ids, None if pasts is None else pasts[i])
            presents.append(present)
        x = self.norm(x)
        return self.lm_head(x if lm_head_rows == "all" else x[:, -1:]), presents


def main():
    p = parser(__doc__)
    p.add_argument("--stage", choices=["prefill", "decode"], required=True)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--prompt", type=int, default=600)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--lm-head", choices=["last", "all"], default="last")
    args = p.parse_args()
    torch.manual_seed(0)
    model = Decoder(args.layers).eval()
    embeds = torch.randn(1, args.prompt + args.tokens, 4096) * 0.5
    prompt = embeds[:, : args.prompt]
    if args.stage == "prefill":
        run(f"llama-prefill-{args.layers}", args, lambda: model(prompt, None, args.lm_head))
        return
    with torch.inference_mode():
        _, prefix = model(prompt, None, "last")

    def decode():
        pasts = prefix
        for i in range(args.tokens):
            _, pasts = model(embeds[:, args.prompt + i : args.prompt + i + 1], pasts, "last")

    run(f"llama-decode-{args.layers}", args, decode)


if __name__ == "__main__":
    main()
