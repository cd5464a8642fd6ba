"""Noise schedules and the closed-form forward process.

The forward process adds Gaussian noise in T small steps,

    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t,

and jumps to any step in one go (Ho et al. 2020, eq. 4):

    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),   alpha_bar_t = prod_{s<=t} alpha_s,
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,          eps ~ N(0, I).

Note the square root on (1 - alpha_bar_t): the noise's standard deviation, not its variance,
scales eps. Timesteps are 0-indexed, t = 0, ..., T-1.

The forward process never quite reaches pure noise: with the course's linear schedule
alpha_bar_(T-1) = 0.0063, so x_(T-1) still holds sqrt(0.0063) = 8% of the image. A schedule
that knows its data's mean image mu starts sampling from that trace (`x_T_from_noise`).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .config import ScheduleConfig


def linear_betas(c: ScheduleConfig) -> torch.Tensor:
    """beta_t evenly spaced from beta_start to beta_end (Ho et al. 2020)."""
    return torch.linspace(c.beta_start, c.beta_end, c.T, dtype=torch.float64)


def cosine_betas(c: ScheduleConfig, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021, eq. 17:  alpha_bar(u) = f(u) / f(0),  f(u) = cos((u + s) / (1 + s) * pi / 2)^2,
    beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), max_beta), with s = cosine_s."""
    u = torch.arange(c.T + 1, dtype=torch.float64) / c.T
    f = torch.cos((u + c.cosine_s) / (1 + c.cosine_s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


# Every schedule by name: ScheduleConfig.name -> the function giving beta_0..beta_{T-1} (float64).
# A new schedule is one function and one entry here.
BETA_SCHEDULES: dict[str, Callable[[ScheduleConfig], torch.Tensor]] = {
    "linear": linear_betas,
    "cosine": cosine_betas,
}


class NoiseSchedule:
    """The tables of one schedule (float64, on the CPU; indexed by t = 0..T-1).

    beta[t], alpha[t] = 1 - beta[t], alpha_bar[t] = prod_{s<=t} alpha[s],
    alpha_bar_prev[t] = alpha_bar[t-1] (1 at t = 0),
    posterior_variance[t] = beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t,
        the variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eq. 7).
    x0_mean: the mean training image mu, shape (C, H, W), in model space, or None (see `x_T_from_noise`).
    """

    def __init__(self, config: ScheduleConfig, x0_mean: torch.Tensor | None = None):
        if config.name not in BETA_SCHEDULES:
            raise ValueError(f"unknown schedule {config.name!r}; choose one of {', '.join(BETA_SCHEDULES)}")
        self.config = config
        self.x0_mean = None if x0_mean is None else x0_mean.detach().float().cpu()
        self.T = config.T
        self.beta = BETA_SCHEDULES[config.name](config)
        self.alpha = 1.0 - self.beta
        self.alpha_bar = torch.cumprod(self.alpha, dim=0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        self.posterior_variance = self.beta * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.config.name}, T={self.T}, alpha_bar[T-1]={self.alpha_bar[-1].item():.2e})"

    def x_T_from_noise(self, z: torch.Tensor) -> torch.Tensor:
        """The start of sampling, x_(T-1) = sqrt(alpha_bar_(T-1)) mu + sqrt(1 - alpha_bar_(T-1)) z with z ~ N(0, I):
        the mean of q(x_(T-1)) = E_x0 q(x_(T-1) | x_0) is sqrt(alpha_bar_(T-1)) mu, not 0, because the schedule
        leaves a trace of every image (the "signal leak", Everaert et al. 2024). Returns z itself when the
        schedule has no mean image (x0_mean None): the textbook x_T ~ N(0, I). Few-step DDIM, which cannot
        correct a start whose mean is off, gains most from it (lab 4 shows both starts side by side)."""
        if self.x0_mean is None:
            return z
        shape = tuple(self.x0_mean.shape)
        if tuple(z.shape[1:]) != shape:
            raise ValueError(f"noise of shape {tuple(z.shape)} does not fit the schedule's mean image {shape}: "
                             f"draw z of shape (n, {', '.join(map(str, shape))})")
        a = self.alpha_bar[-1].item()
        return math.sqrt(a) * self.x0_mean.to(z.device, z.dtype) + math.sqrt(1 - a) * z

    def signal_to_noise(self) -> torch.Tensor:
        """SNR(t) = alpha_bar_t / (1 - alpha_bar_t): the power of the signal against the noise in x_t."""
        return self.alpha_bar / (1.0 - self.alpha_bar)

    def check_timesteps(self, t: torch.Tensor) -> None:
        """Raise a clear error for timesteps outside 0..T-1 (reads t on the host; not for sampling loops)."""
        if t.dtype.is_floating_point:
            raise TypeError(f"timesteps must be integers 0..{self.T - 1}, got a {t.dtype} tensor")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.T):
            raise ValueError(f"timesteps must lie in 0..{self.T - 1}, got values from {int(t.min())} to {int(t.max())}")

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, for a batch x0 of shape (B, C, H, W)
        and integer timesteps t of shape (B,)."""
        if eps.shape != x0.shape:
            raise ValueError(f"eps has shape {tuple(eps.shape)} but x0 has shape {tuple(x0.shape)}; they must match")
        if t.shape != x0.shape[:1]:
            raise ValueError(f"t must have shape ({x0.shape[0]},), one timestep per image, got {tuple(t.shape)}")
        alpha_bar = self.alpha_bar.to(device=x0.device, dtype=x0.dtype)[t].view(-1, 1, 1, 1)
        return alpha_bar.sqrt() * x0 + (1.0 - alpha_bar).sqrt() * eps
