"""The original short course's model, training step and samplers, re-implemented for timing.

A faithful copy of the published ContextUnet (in_channels=3, n_feat=64, n_cfeat=5, height=16) and of its
loop: Adam, batch 100, fp32, t drawn uniformly from 1..T and fed to the network as the scalar t/T,
Bernoulli(0.9) context masking, MSE on the noise; DDPM ancestral sampling over all T = 500 steps and
DDIM with stride T/steps. Two deliberate departures, neither of which changes the work done per step:
  * the 1x1 shortcut of a residual block whose width changes is a registered layer (the original built
    a fresh, randomly initialised conv in every forward pass, a bug);
  * the sampling loops keep no intermediate frames (the original copied every 20th one to numpy).
The original's forward process, x_t = sqrt(ab_t) x0 + (1 - ab_t) eps, lacks the square root on the noise
term; it is kept as published (it costs the same).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

T = 500
BETA1, BETA2 = 1e-4, 0.02
RECIPE_EPOCHS, RECIPE_DATASET = 32, 89_400       # the original's training run: 32 epochs of its 89,400 sprites
RECIPE_IMAGES = RECIPE_EPOCHS * RECIPE_DATASET


def conv_bn_gelu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.GELU())


class ResidualConvBlock(nn.Module):
    """Two (3x3 conv, BatchNorm, GELU); the residual variant adds the input (through a 1x1 conv when the
    width changes) and divides by 1.414."""

    def __init__(self, in_channels: int, out_channels: int, is_res: bool = False):
        super().__init__()
        self.is_res = is_res
        self.conv1 = conv_bn_gelu(in_channels, out_channels)
        self.conv2 = conv_bn_gelu(out_channels, out_channels)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1) if is_res and in_channels != out_channels
                         else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.conv1(x))
        return (self.shortcut(x) + h) / 1.414 if self.is_res else h


class UnetUp(nn.Sequential):
    """ConvTranspose2d(in, out, 2, 2) then two ResidualConvBlocks, applied to cat(x, skip)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.ConvTranspose2d(in_channels, out_channels, 2, 2),
                         ResidualConvBlock(out_channels, out_channels), ResidualConvBlock(out_channels, out_channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat((x, skip), 1))


class UnetDown(nn.Sequential):
    """Two ResidualConvBlocks then MaxPool2d(2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(ResidualConvBlock(in_channels, out_channels), ResidualConvBlock(out_channels, out_channels),
                         nn.MaxPool2d(2))


class EmbedFC(nn.Sequential):
    """Linear, GELU, Linear on the input flattened to (-1, input_dim)."""

    def __init__(self, input_dim: int, emb_dim: int):
        super().__init__(nn.Linear(input_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim))
        self.input_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.view(-1, self.input_dim))


class ContextUnet(nn.Module):
    """eps(x_t, t/T, c) of the original course; t is a float tensor of t/T values, (B,) or one scalar."""

    def __init__(self, in_channels: int = 3, n_feat: int = 64, n_cfeat: int = 5, height: int = 16):
        super().__init__()
        self.in_channels, self.n_feat, self.n_cfeat, self.h = in_channels, n_feat, n_cfeat, height
        self.init_conv = ResidualConvBlock(in_channels, n_feat, is_res=True)
        self.down1 = UnetDown(n_feat, n_feat)
        self.down2 = UnetDown(n_feat, 2 * n_feat)
        self.to_vec = nn.Sequential(nn.AvgPool2d(4), nn.GELU())
        self.timeembed1 = EmbedFC(1, 2 * n_feat)
        self.timeembed2 = EmbedFC(1, n_feat)
        self.contextembed1 = EmbedFC(n_cfeat, 2 * n_feat)
        self.contextembed2 = EmbedFC(n_cfeat, n_feat)
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * n_feat, 2 * n_feat, height // 4, height // 4),
                                 nn.GroupNorm(8, 2 * n_feat), nn.ReLU())
        self.up1 = UnetUp(4 * n_feat, n_feat)
        self.up2 = UnetUp(2 * n_feat, n_feat)
        self.out = nn.Sequential(nn.Conv2d(2 * n_feat, n_feat, 3, 1, 1), nn.GroupNorm(8, n_feat), nn.ReLU(),
                                 nn.Conv2d(n_feat, in_channels, 3, 1, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self.init_conv(x)
        down1 = self.down1(x)
        down2 = self.down2(down1)
        hiddenvec = self.to_vec(down2)
        if c is None:
            c = torch.zeros(x.shape[0], self.n_cfeat).to(x)
        cemb1 = self.contextembed1(c).view(-1, 2 * self.n_feat, 1, 1)
        temb1 = self.timeembed1(t).view(-1, 2 * self.n_feat, 1, 1)
        cemb2 = self.contextembed2(c).view(-1, self.n_feat, 1, 1)
        temb2 = self.timeembed2(t).view(-1, self.n_feat, 1, 1)
        up1 = self.up0(hiddenvec)
        up2 = self.up1(cemb1 * up1 + temb1, down2)
        up3 = self.up2(cemb2 * up2 + temb2, down1)
        return self.out(torch.cat((up3, x), 1))


class Schedule:
    """The original's tables over t = 0..T (index 0 unused): b_t linear from BETA1 to BETA2, ab_t = prod a_t."""

    def __init__(self, timesteps: int = T):
        self.T = timesteps
        self.b_t = (BETA2 - BETA1) * torch.linspace(0, 1, timesteps + 1) + BETA1
        self.a_t = 1 - self.b_t
        self.ab_t = torch.cumsum(self.a_t.log(), dim=0).exp()
        self.ab_t[0] = 1

    def perturb_input(self, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        ab = self.ab_t[t, None, None, None]
        return ab.sqrt() * x + (1 - ab) * noise  # sic: the published code has no sqrt on the noise term

    def denoise_add_noise(self, x, t: int, pred_noise, z):
        noise = self.b_t.sqrt()[t] * z
        mean = (x - pred_noise * ((1 - self.a_t[t]) / (1 - self.ab_t[t]).sqrt())) / self.a_t[t].sqrt()
        return mean + noise

    def denoise_ddim(self, x, t: int, t_prev: int, pred_noise):
        ab, ab_prev = self.ab_t[t], self.ab_t[t_prev]
        x0_pred = ab_prev.sqrt() / ab.sqrt() * (x - (1 - ab).sqrt() * pred_noise)
        return x0_pred + (1 - ab_prev).sqrt() * pred_noise


def train_step(model: nn.Module, optim: torch.optim.Optimizer, schedule: Schedule, x: torch.Tensor,
               c: torch.Tensor) -> torch.Tensor:
    """One step of the original loop (fp32): mask the context, noise x at t ~ U{1..T}, regress the noise."""
    optim.zero_grad()
    context_mask = torch.bernoulli(torch.zeros(c.shape[0]) + 0.9)
    c = c * context_mask.unsqueeze(-1)
    noise = torch.randn_like(x)
    t = torch.randint(1, schedule.T + 1, (x.shape[0],))
    x_pert = schedule.perturb_input(x, t, noise)
    loss = F.mse_loss(model(x_pert, t / schedule.T, c=c), noise)
    loss.backward()
    optim.step()
    return loss


def make_optimizer(model: nn.Module, lrate: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lrate)


@torch.no_grad()
def sample_ddpm(model: nn.Module, schedule: Schedule, n_sample: int, height: int = 16,
                steps: int | None = None) -> torch.Tensor:
    """Ancestral sampling from t = T down to 1 (unconditional, as in the original); `steps` < T stops early
    (only for timing a part of the loop)."""
    samples = torch.randn(n_sample, 3, height, height)
    for i in range(schedule.T, schedule.T - (steps or schedule.T), -1):
        t = torch.tensor([i / schedule.T])[:, None, None, None]
        z = torch.randn_like(samples) if i > 1 else 0
        eps = model(samples, t)
        samples = schedule.denoise_add_noise(samples, i, eps, z)
    return samples


@torch.no_grad()
def sample_ddim(model: nn.Module, schedule: Schedule, n_sample: int, n: int = 25, height: int = 16) -> torch.Tensor:
    """DDIM with stride T // n: t = T, T - stride, ..., stride."""
    samples = torch.randn(n_sample, 3, height, height)
    step_size = schedule.T // n
    for i in range(schedule.T, 0, -step_size):
        t = torch.tensor([i / schedule.T])[:, None, None, None]
        eps = model(samples, t)
        samples = schedule.denoise_ddim(samples, i, i - step_size, eps)
    return samples
