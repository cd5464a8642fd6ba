"""The U-Net noise predictor eps_theta(x_t, t, c).

Given a noisy image x_t, its timestep t and an optional context vector c, the network
predicts the noise eps that was mixed into x_t. It knows nothing of the schedule:
samplers and training turn that prediction into images and losses.

    t  -> sinusoidal embedding -> MLP --+
    c  -> MLP ------------------------- + = emb   (c = 0 means "no context")
    x_t -> conv -> [ResBlock(emb) ... Downsample] -> middle -> [ResBlock(emb, skip) ... Upsample] -> conv -> eps

Residual blocks add emb as a per-channel scale and shift after their first convolution
(FiLM), and their shortcut is a registered 1x1 convolution when the width changes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017; Ho et al. 2020):
    emb(t)[i] = sin(t * w_i), emb(t)[half + i] = cos(t * w_i), w_i = max_period^(-i / half)."""
    half = dim // 2
    w = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * w[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def zero_init(module: nn.Module) -> nn.Module:
    """Start a residual branch's last layer at zero so every block begins as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, as a residual branch:
    out = x + proj(softmax(q k^T / sqrt(d)) v)."""

    def __init__(self, channels: int, groups: int, head_dim: int = 32):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (b, heads, h*w, c/heads)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class ResidualBlock(nn.Module):
    """h = conv(SiLU(GN(x))); h = GN(h) * (1 + scale) + shift with (scale, shift) = Linear(emb);
    out = conv(SiLU(h)) + shortcut(x), then optional self-attention."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float, attention: bool = False):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.attention = SelfAttention(c_out, groups) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.attention(h + self.shortcut(x))


class Downsample(nn.Conv2d):
    """Halve the resolution with a strided 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


class Upsample(nn.Module):
    """Double the resolution with a 3x3 convolution and nearest-neighbour upsampling (every pixel repeated
    2x2). conv_first: convolve at the low resolution, then repeat (a quarter of the work); otherwise repeat,
    then convolve (Ho et al. 2020)."""

    def __init__(self, channels: int, conv_first: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_first = conv_first

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        if self.conv_first:
            return F.interpolate(self.conv(x), scale_factor=2, mode="nearest")
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """eps_theta(x_t, t, c) for images of config.image_size pixels and config.channels channels."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = cfg = config or ModelConfig()
        base, groups, emb_dim = cfg.base_channels, cfg.groups, 4 * cfg.base_channels
        widths = [base * m for m in cfg.channel_mults]
        levels = len(widths)

        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.context_mlp = (nn.Sequential(nn.Linear(cfg.context_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
                            if cfg.context_dim else None)
        self.conv_in = nn.Conv2d(cfg.channels, base, 3, padding=1)

        def block(c_in: int, c_out: int, level: int) -> ResidualBlock:
            return ResidualBlock(c_in, c_out, emb_dim, groups, cfg.dropout, attention=level in cfg.attention_levels)

        # Down path: every layer's output is kept as a skip connection; remember their widths.
        self.down = nn.ModuleList()
        skips, width = [base], base
        for level, w in enumerate(widths):
            for _ in range(cfg.blocks_per_level):
                self.down.append(block(width, w, level))
                width = w
                skips.append(width)
            if level < levels - 1:
                self.down.append(Downsample(width))
                skips.append(width)

        self.middle = nn.ModuleList([ResidualBlock(width, width, emb_dim, groups, cfg.dropout, attention=True),
                                     ResidualBlock(width, width, emb_dim, groups, cfg.dropout)])

        # Up path: one more block per level than on the way down, each eating one skip connection.
        self.up = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            for _ in range(cfg.blocks_per_level + 1):
                self.up.append(block(width + skips.pop(), w, level))
                width = w
            if level > 0:
                self.up.append(Upsample(width, conv_first=cfg.upsample == "conv_then_nearest"))

        self.norm_out = nn.GroupNorm(groups, width)
        self.conv_out = zero_init(nn.Conv2d(width, cfg.channels, 3, padding=1))

    def check_inputs(self, x: torch.Tensor, context: torch.Tensor | None) -> None:
        """Shape checks only (no values are read, so no host synchronisation)."""
        cfg = self.config
        expected = (cfg.channels, cfg.image_size, cfg.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"the model expects images of shape (batch, {', '.join(map(str, expected))}), got {tuple(x.shape)}; "
                f"resize the data to {cfg.image_size}x{cfg.image_size} with {cfg.channels} channel(s) or build the "
                f"model with a matching ModelConfig")
        if context is None:
            return
        if cfg.context_dim == 0:
            raise ValueError("this model was built without context (context_dim=0); pass context=None")
        if context.dim() != 2 or context.shape[1] != cfg.context_dim:
            raise ValueError(
                f"context must have shape (batch, {cfg.context_dim}), one entry per label, got {tuple(context.shape)}")
        if context.shape[0] != x.shape[0]:
            raise ValueError(f"context has {context.shape[0]} rows but the batch has {x.shape[0]} images")

    def embed(self, t: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """emb = SiLU(MLP_t(sinusoidal(t)) + MLP_c(c)), always in float32, also under bfloat16 autocast.

        The convolutions tolerate bf16, but this small path (and the output layer, see forward) carries
        what tells the guided prediction eps(x_t, t, c) from eps(x_t, t, 0), and guidance multiplies that
        difference by w: rounding it to bf16 visibly worsens guided samples, while keeping it in float32
        costs a tiny share of the model's FLOPs. Without autocast nothing changes."""
        with torch.autocast(t.device.type, enabled=False):
            emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))
            if self.context_mlp is not None:
                if context is None:
                    context = emb.new_zeros(emb.shape[0], self.config.context_dim)
                emb = emb + self.context_mlp(context.to(emb.dtype))
            return F.silu(emb)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, H, W) noisy images x_t; t: (B,) integer timesteps; context: (B, context_dim) or None
        (None is the same as all zeros: no context). Returns the predicted noise, shaped like x."""
        self.check_inputs(x, context)
        emb = self.embed(t, context)

        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb)
            skips.append(h)
        for layer in self.middle:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResidualBlock):
                h = torch.cat([h, skips.pop()], dim=1)
            h = layer(h, emb)
        with torch.autocast(x.device.type, enabled=False):  # eps itself in float32: see embed()
            return self.conv_out(F.silu(self.norm_out(h.float())))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
