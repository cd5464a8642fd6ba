"""Training the noise predictor.

The simplified objective of Ho et al. 2020 (eq. 14): pick a random timestep and noise,
make x_t in closed form, and regress the noise,

    L = E_{x_0, t, eps} || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t, c) ||^2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .schedules import NoiseSchedule


def mask_context(context: torch.Tensor, p_uncond: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Context masking for classifier-free guidance: replace each row by zeros ("no context")
    with probability p_uncond, so one model learns eps(x_t, t, c) and eps(x_t, t, 0)."""
    keep = torch.rand(context.shape[0], 1, generator=generator, device=context.device) >= p_uncond
    return context * keep


def diffusion_loss(model: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, context: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error between the true noise eps and eps_theta(x_t, t, c) at uniformly drawn t."""
    t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator, device=x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = schedule.q_sample(x0, t, eps)
    return F.mse_loss(model(x_t, t, context), eps)
