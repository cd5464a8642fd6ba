"""Reverse processes: DDPM and DDIM samplers, and the loop that runs them over a model.

A sampler knows the math of one reverse step; the model only predicts eps. The loop

    x_T = schedule.x_T_from_noise(z), z ~ N(0, I)
    for t in sampler.timesteps:  eps = model(x_t, t, c);  x_prev = sampler.step(eps, t, x_t, z)

is the same for both. Every coefficient is a Python float computed once from the
schedule, and the noise z is drawn from a torch.Generator on the CPU by default and
copied to the model's device, so a sampling loop never waits on the device
(no per-step host synchronisation) and one seed gives the same sprites on CPU and GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .schedules import NoiseSchedule

DDPM_VARIANCES = ("beta", "posterior", "none")


def pick_device() -> torch.device:
    """The fastest device here: CUDA, then Apple MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def has_native_bf16(device: torch.device | str) -> bool:
    """Whether bfloat16 autocast runs natively, and so faster than float32, on `device`: a CUDA GPU with
    bf16 support, or a CPU with AVX-512 BF16 or AMX. Other CPUs emulate bf16, about 10x slower than float32
    (measured on a 2-core AVX2 CPU: 6.3 s against 0.52 s per training step of the course model)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def autocast_bf16(device: torch.device | str, precision: str = "auto") -> bool:
    """Resolve a precision setting ("auto", "bf16" or "fp32") to: use bfloat16 autocast on `device`?
    "auto" means bf16 exactly where `has_native_bf16(device)`."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision={precision!r} must be 'auto', 'bf16' or 'fp32'")
    return precision == "bf16" or (precision == "auto" and has_native_bf16(device))


class DDPMSampler:
    """Ancestral sampling (Ho et al. 2020, Algorithm 2), one step per timestep t = T-1, ..., 0:

        x_{t-1} = 1/sqrt(alpha_t) * (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) + sigma_t z,

    with sigma_t^2 = beta_t (variance="beta") or the posterior variance
    beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t (variance="posterior"),
    and no noise on the last step (t = 0). variance="none" (sigma_t = 0) is the broken variant
    lab 1 shows: the same updates without re-injected noise. The re-injected noise z is what keeps
    samples sharp and varied: without it every path drifts to the blurry mean.
    """

    def __init__(self, schedule: NoiseSchedule, variance: str = "beta"):
        if variance not in DDPM_VARIANCES:
            raise ValueError(f"unknown DDPM variance {variance!r}; choose one of {DDPM_VARIANCES}")
        self.schedule, self.variance = schedule, variance
        s = schedule
        self.timesteps = list(range(s.T - 1, -1, -1))
        sigma2 = {"beta": s.beta, "posterior": s.posterior_variance, "none": torch.zeros_like(s.beta)}[variance]
        self._x_coef = (1 / s.alpha.sqrt()).tolist()                       # 1 / sqrt(alpha_t)
        self._eps_coef = (s.beta / (1 - s.alpha_bar).sqrt()).tolist()     # beta_t / sqrt(1 - alpha_bar_t)
        self._sigma = sigma2.sqrt().tolist()
        self._sigma[0] = 0.0

    def __repr__(self) -> str:
        return f"DDPMSampler(steps={len(self.timesteps)}, variance={self.variance!r})"

    def needs_noise(self, t: int) -> bool:
        return self._sigma[t] > 0

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """x_{t-1} from x_t and the predicted noise eps; z ~ N(0, I) (ignored at t = 0)."""
        mean = self._x_coef[t] * (x_t - self._eps_coef[t] * eps)
        return mean + self._sigma[t] * z if self.needs_noise(t) else mean


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down to 0, as evenly spaced as integers allow:
    t_i = round((steps-1-i) * (T-1) / (steps-1)). Strictly decreasing for any 1 <= steps <= T
    (the spacing is at least 1), so no index ever wraps around the schedule."""
    if not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps={steps!r} must be an integer from 1 to T={T}")
    if steps == 1:
        return [T - 1]
    return [((steps - 1 - i) * (T - 1) * 2 + (steps - 1)) // (2 * (steps - 1)) for i in range(steps)]


class DDIMSampler:
    """DDIM (Song et al. 2021, eq. 12) over a subsequence t_1 > t_2 > ... > t_S = 0 of the T timesteps:

        x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t z
        sigma_t = eta * sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_prev)

    where prev is the next timestep of the subsequence (alpha_bar_prev = 1 after the last one,
    so the final step lands on x0_hat). eta = 0 is deterministic; eta = 1 on all T steps is DDPM
    with the posterior variance.
    """

    def __init__(self, schedule: NoiseSchedule, steps: int = 25, eta: float = 0.0):
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta={eta} must lie in [0, 1] (0: deterministic DDIM, 1: DDPM-like noise)")
        self.schedule, self.eta = schedule, float(eta)
        self.timesteps = ddim_timesteps(schedule.T, steps)
        abar = schedule.alpha_bar.tolist()
        prev = self.timesteps[1:] + [None]
        self._coefs = {}
        for t, p in zip(self.timesteps, prev):
            a_t, a_prev = abar[t], (abar[p] if p is not None else 1.0)
            sigma = self.eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
            self._coefs[t] = (math.sqrt(a_t), math.sqrt(1 - a_t), math.sqrt(a_prev),
                              math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)), sigma)

    def __repr__(self) -> str:
        return f"DDIMSampler(steps={len(self.timesteps)}, eta={self.eta})"

    def needs_noise(self, t: int) -> bool:
        return self._coefs[t][4] > 0

    def predict_x0(self, eps: torch.Tensor, t: int, x_t: torch.Tensor) -> torch.Tensor:
        """x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
        sqrt_a, sqrt_1ma = self._coefs[t][:2]
        return (x_t - sqrt_1ma * eps) / sqrt_a

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """x at the next timestep of the subsequence (x_0 after the last one); z ~ N(0, I) used when eta > 0."""
        _, _, sqrt_a_prev, dir_coef, sigma = self._coefs[t]
        x_prev = sqrt_a_prev * self.predict_x0(eps, t, x_t) + dir_coef * eps
        return x_prev + sigma * z if sigma > 0 else x_prev


def make_sampler(schedule: NoiseSchedule, method: str = "ddpm", steps: int | None = None, eta: float = 0.0,
                 variance: str = "beta"):
    """"ddpm" (all T steps) or "ddim" (`steps` steps, default 25, with `eta`)."""
    if method == "ddpm":
        if steps not in (None, schedule.T):
            raise ValueError(f"DDPM runs all T={schedule.T} steps; for fewer steps use method='ddim' (got steps={steps})")
        return DDPMSampler(schedule, variance)
    if method == "ddim":
        return DDIMSampler(schedule, 25 if steps is None else steps, eta)
    raise ValueError(f"unknown sampling method {method!r}; choose 'ddpm' or 'ddim'")


@dataclass
class SampleResult:
    """images: (n, C, H, W) in model space [-1, 1] (not clipped), on the CPU.
    frames: (F, n, C, H, W) snapshots of x_t (the first is x_T, the last the final images),
    frame_timesteps: the timestep each frame was taken at (-1 for the final images); both
    empty unless capture_every > 0."""

    images: torch.Tensor
    frames: torch.Tensor | None
    frame_timesteps: list[int]


def draw_noise(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """N(0, I) from `generator` (on its own device), delivered to `device` without blocking the host."""
    z = torch.randn(shape, generator=generator, device=generator.device)
    if z.device == device:
        return z
    if device.type == "cuda":
        z = z.pin_memory()
    return z.to(device, non_blocking=True)


def context_batch(context, n: int, model: nn.Module, device: torch.device) -> torch.Tensor | None:
    """Accept None, one context vector (K,) for every sample, or one per sample (n, K)."""
    if context is None:
        return None
    context = torch.as_tensor(context, dtype=torch.float32)
    if context.dim() == 1:
        context = context.expand(n, -1)
    width = model.config.context_dim
    if context.dim() != 2 or context.shape != (n, width):
        raise ValueError(f"context must have shape ({width},) or ({n}, {width}) for n={n} samples of a model "
                         f"with context_dim={width}, got {tuple(context.shape)}")
    return context.to(device)


def predict_eps(model: nn.Module, x: torch.Tensor, t: int, context: torch.Tensor | None,
                guidance: float = 1.0, guide: nn.Module | None = None) -> torch.Tensor:
    """eps_theta(x_t, t, c), guided with scale w = `guidance` when w != 1:

    classifier-free guidance (Ho & Salimans 2022), the model without its context as the weak prediction:
        eps = eps(x_t, t, 0) + w * (eps(x_t, t, c) - eps(x_t, t, 0)), both halves in one batched call;
    autoguidance (Karras et al. 2024) when `guide` is given, a weaker model (an early snapshot) with the
    same context, so it also guides unconditional samples:
        eps = eps_guide(x_t, t, c) + w * (eps(x_t, t, c) - eps_guide(x_t, t, c)).
    """
    tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    if guidance == 1.0 or (context is None and guide is None):
        return model(x, tt, context)
    if guide is not None:
        eps, eps_weak = model(x, tt, context), guide(x, tt, context)
    else:
        eps, eps_weak = model(torch.cat([x, x]), torch.cat([tt, tt]),
                              torch.cat([context, torch.zeros_like(context)])).chunk(2)
    return eps_weak + guidance * (eps - eps_weak)


def check_guide(model: nn.Module, guide: nn.Module) -> None:
    """A guide must take and return what the model does: same image size, channels and context width."""
    keys = ("image_size", "channels", "context_dim")
    have, need = ({k: getattr(m.config, k) for k in keys} for m in (guide, model))
    if have != need:
        raise ValueError(f"the guide model does not fit the model it guides: guide has {have}, model has {need}; "
                         f"use an earlier snapshot of the same model")
    guide_device, device = next(guide.parameters()).device, next(model.parameters()).device
    if guide_device != device:
        raise ValueError(f"the guide model is on {guide_device} but the model is on {device}; load both on one device")


@torch.no_grad()
def sample(model: nn.Module, sampler, n: int = 16, *, context=None, guidance: float = 1.0,
           guide: nn.Module | None = None, seed: int | None = 0, generator: torch.Generator | None = None,
           x_T: torch.Tensor | None = None, capture_every: int = 0, progress: bool = False) -> SampleResult:
    """Draw n images with `sampler` (a DDPMSampler or DDIMSampler) on the model's device.

    context: None, (K,) or (n, K); guidance: the guidance scale w (1 = no guidance), classifier-free
    with the model's own unconditional prediction, or autoguidance by `guide`, a weaker snapshot of
    the model (see predict_eps).
    Randomness comes from `generator`, else from a fresh CPU generator seeded with `seed`; the start is
    x_T = sampler.schedule.x_T_from_noise(z), or x_T itself when given (a fixed start).
    capture_every=k keeps x_t every k steps for animations.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of samples")
    if guidance < 0:
        raise ValueError(f"guidance={guidance} must be >= 0 (0: the weak prediction alone, 1: no guidance, "
                         f">1: stronger)")
    if capture_every < 0:
        raise ValueError(f"capture_every={capture_every} must be >= 0 (0 keeps no frames)")
    if guide is not None:
        check_guide(model, guide)
    param = next(model.parameters())
    device, cfg = param.device, model.config
    shape = (n, cfg.channels, cfg.image_size, cfg.image_size)
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
    context = context_batch(context, n, model, device)

    if x_T is None:
        x = sampler.schedule.x_T_from_noise(draw_noise(shape, generator, device))
    elif tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    else:
        x = x_T.to(device=device, dtype=param.dtype)

    models = [m for m in (model, guide) if m is not None]
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    frames, frame_t = [], []
    steps = sampler.timesteps
    for i, t in enumerate(tqdm(steps, desc=type(sampler).__name__, disable=not progress, leave=False)):
        if capture_every and i % capture_every == 0:
            frames.append(x.clone())
            frame_t.append(t)
        eps = predict_eps(model, x, t, context, guidance, guide)
        z = draw_noise(shape, generator, device) if sampler.needs_noise(t) else None
        x = sampler.step(eps, t, x, z)
    if capture_every:
        frames.append(x.clone())
        frame_t.append(-1)
    for m, mode in zip(models, was_training):
        m.train(mode)
    return SampleResult(images=x.float().cpu(),
                        frames=torch.stack(frames).float().cpu() if frames else None,
                        frame_timesteps=frame_t)
