"""Reverse processes: the sampler interface, DDPM and DDIM, and the loop that runs a sampler over a model.

A sampler knows the math of one reverse step; the model only predicts eps. The loop

    x_T = schedule.x_T_from_noise(z), z ~ N(0, I)
    for t in sampler.timesteps:  eps = model(x_t, t, c);  x_t = sampler.step(eps, t, x_t, z).x_prev

is the same for every sampler. Every coefficient is a Python float computed once from the
schedule, and the noise z is drawn from a torch.Generator on the CPU by default and
copied to the model's device, so a sampling loop never waits on the device
(no per-step host synchronisation) and one seed gives the same sprites on CPU and GPU.

A new sampler is one subclass of `Sampler` (its timesteps, `needs_noise` and `step`), one
entry in `SAMPLERS` (which `make_sampler`, the command line and the evaluation read) and its tests.
The second-order ODE solvers, DPM-Solver++(2M) and Heun, are deterministic DDIM plus a correction
from the previous model evaluation, so their steps must come in order (`SecondOrderSampler`).
"""
from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from .device import module_device
from .schedules import NoiseSchedule

DDPM_VARIANCES = ("beta", "posterior", "none")
FINAL_FRAME = -1  # the timestep recorded for the final images in a trajectory
LOWER_ORDER_FINAL = 15  # DPM-Solver++(2M) with fewer steps takes its step into t = 0 at first order


class StepOutput(NamedTuple):
    """x_prev: x at the sampler's next timestep (after the last step: the generated image);
    x0_hat: the clean image predicted at this step, x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""

    x_prev: torch.Tensor
    x0_hat: torch.Tensor


class Sampler(ABC):
    """One reverse process over a schedule. Subclasses set `self._timesteps`, the timestep of every model
    evaluation in order (from T-1 down to 0; strictly decreasing except Heun's, which lists a timestep twice),
    and implement `needs_noise` and `step`; the timesteps are read-only from outside. `title`: the method's
    name as reports and figures print it."""

    title = "sampler"

    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule
        self._timesteps: list[int] = []
        abar = schedule.alpha_bar.tolist()
        self._sqrt_alpha_bar = [math.sqrt(a) for a in abar]
        self._sqrt_one_minus_alpha_bar = [math.sqrt(1 - a) for a in abar]

    @property
    def timesteps(self) -> list[int]:
        """The timesteps the sampler visits, in order (a copy: changing it changes nothing)."""
        return list(self._timesteps)

    @property
    def nfe(self) -> int:
        """The number of function (model) evaluations of one run: one per listed timestep."""
        return len(self._timesteps)

    @abstractmethod
    def needs_noise(self, t: int) -> bool:
        """Whether the step from t uses fresh noise z (the loop draws z only then)."""

    @abstractmethod
    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> StepOutput:
        """One reverse step from x_t, given the predicted noise eps and, where needs_noise(t), z ~ N(0, I)."""

    def predict_x0(self, eps: torch.Tensor, t: int, x_t: torch.Tensor) -> torch.Tensor:
        """x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t): x_t = sqrt(alpha_bar_t) x_0 +
        sqrt(1 - alpha_bar_t) eps solved for x_0."""
        return (x_t - self._sqrt_one_minus_alpha_bar[t] * eps) / self._sqrt_alpha_bar[t]


class DDPMSampler(Sampler):
    """Ancestral sampling (Ho et al. 2020, Algorithm 2), one step per timestep t = T-1, ..., 0:

        x_{t-1} = 1/sqrt(alpha_t) * (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) + sigma_t z,

    with sigma_t^2 = beta_t (variance="beta") or the posterior variance
    beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t (variance="posterior"),
    and no noise on the last step (t = 0). variance="none" (sigma_t = 0) is the broken variant
    lab 1 shows: the same updates without re-injected noise. DDPM always runs all T steps.
    """

    title = "DDPM"

    def __init__(self, schedule: NoiseSchedule, variance: str = "beta"):
        if variance not in DDPM_VARIANCES:
            raise ValueError(f"unknown DDPM variance {variance!r}; choose one of {DDPM_VARIANCES}")
        super().__init__(schedule)
        self.variance = variance
        s = schedule
        self._timesteps = list(range(s.T - 1, -1, -1))
        sigma2 = {"beta": s.beta, "posterior": s.posterior_variance, "none": torch.zeros_like(s.beta)}[variance]
        self._x_coef = (1 / s.alpha.sqrt()).tolist()                       # 1 / sqrt(alpha_t)
        self._eps_coef = (s.beta / (1 - s.alpha_bar).sqrt()).tolist()     # beta_t / sqrt(1 - alpha_bar_t)
        self._sigma = sigma2.sqrt().tolist()
        self._sigma[0] = 0.0

    def __repr__(self) -> str:
        return f"DDPMSampler(steps={len(self._timesteps)}, variance={self.variance!r})"

    def needs_noise(self, t: int) -> bool:
        return self._sigma[t] > 0

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> StepOutput:
        """x_{t-1} from x_t and the predicted noise eps; z ~ N(0, I) (ignored at t = 0)."""
        mean = self._x_coef[t] * (x_t - self._eps_coef[t] * eps)
        x_prev = mean + self._sigma[t] * z if self.needs_noise(t) else mean
        return StepOutput(x_prev, self.predict_x0(eps, t, x_t))


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down to 0, as evenly spaced as integers allow:
    t_i = round((steps-1-i) * (T-1) / (steps-1)). Strictly decreasing for any 1 <= steps <= T
    (the spacing is at least 1), so no index ever wraps around the schedule."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps={steps!r} must be an integer from 1 to T={T}")
    if steps == 1:
        return [T - 1]
    return [((steps - 1 - i) * (T - 1) * 2 + (steps - 1)) // (2 * (steps - 1)) for i in range(steps)]


@dataclass(frozen=True)
class DDIMCoefficients:
    """The numbers of one DDIM step from t to its successor prev (alpha_bar_prev = 1 after the last step)."""

    sqrt_alpha_bar_prev: float   # sqrt(alpha_bar_prev): scales x0_hat
    direction: float             # sqrt(1 - alpha_bar_prev - sigma_t^2): scales eps, the direction pointing to x_t
    sigma: float                 # the standard deviation of the fresh noise


class DDIMSampler(Sampler):
    """DDIM (Song et al. 2021, eq. 12) over a subsequence t_1 > t_2 > ... > t_S = 0 of the T timesteps:

        x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t z
        sigma_t = eta * sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_prev)

    where prev is the next timestep of the subsequence (alpha_bar_prev = 1 after the last one,
    so the final step lands on x0_hat). eta = 0 is deterministic; eta = 1 on all T steps is DDPM
    with the posterior variance.
    """

    title = "DDIM"

    def __init__(self, schedule: NoiseSchedule, steps: int = 25, eta: float = 0.0):
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta={eta} must lie in [0, 1] (0: deterministic DDIM, 1: DDPM-like noise)")
        super().__init__(schedule)
        self.eta = float(eta)
        self._timesteps = ddim_timesteps(schedule.T, steps)
        abar = schedule.alpha_bar.tolist()
        self._coefs: dict[int, DDIMCoefficients] = {}
        for t, prev in zip(self._timesteps, self._timesteps[1:] + [None]):
            a_t, a_prev = abar[t], (abar[prev] if prev is not None else 1.0)
            sigma = self.eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
            self._coefs[t] = DDIMCoefficients(math.sqrt(a_prev), math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)), sigma)

    def __repr__(self) -> str:
        return f"DDIMSampler(steps={len(self._timesteps)}, eta={self.eta})"

    def needs_noise(self, t: int) -> bool:
        return self._coefs[t].sigma > 0

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> StepOutput:
        """x at the next timestep of the subsequence (x_0 after the last one); z ~ N(0, I) used when eta > 0."""
        c = self._coefs[t]
        x0_hat = self.predict_x0(eps, t, x_t)
        x_prev = c.sqrt_alpha_bar_prev * x0_hat + c.direction * eps
        return StepOutput(x_prev + c.sigma * z if c.sigma > 0 else x_prev, x0_hat)


class SecondOrderSampler(DDIMSampler):
    """Deterministic DDIM (eta = 0) on ddim_timesteps(T, steps) and to the clean end (alpha_bar = 1) after t = 0,
    plus a second-order correction that uses the previous model evaluation (kept in `_last`). Its steps must
    therefore come in the order of `timesteps`; a step at the first timestep starts a new run, so one sampler
    can be reused."""

    def __init__(self, schedule: NoiseSchedule, steps: int = 25):
        super().__init__(schedule, steps, eta=0.0)
        self.steps = steps
        self._next = 0                            # the index in `timesteps` of the step expected next
        self._last: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps}, nfe={self.nfe})"

    def _position(self, t: int) -> int:
        """The index of the step at t in `timesteps`: 0 at the first timestep, else the step after the last one."""
        k = 0 if t == self._timesteps[0] else self._next
        if k >= len(self._timesteps) or self._timesteps[k] != t:
            expected = f"t={self._timesteps[k]}" if k < len(self._timesteps) else "none (the run is over)"
            raise RuntimeError(f"{type(self).__name__} steps must follow its timesteps in order, starting at "
                               f"t={self._timesteps[0]}: got t={t}, expected {expected}")
        self._next = k + 1
        return k


class DPMSolverPP2MSampler(SecondOrderSampler):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), multistep, data prediction, with
    alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar), lambda = log(alpha / sigma) and, from t_i to s = t_(i+1),
    h_i = lambda_s - lambda_(t_i), r_i = h_(i-1) / h_i, D_i = x0_i + (x0_i - x0_(i-1)) / (2 r_i):

        x_s = sigma_s / sigma_t x_t - alpha_s (e^(-h_i) - 1) D_i
            = DDIM(x_t, eps) + alpha_s (1 - e^(-h_i)) (x0_i - x0_(i-1)) / (2 r_i),

    DDIM with x0_hat replaced by D_i, on DDIM's timesteps. The first step (no x0_(i-1) yet) and the last, to
    the clean end (lambda = inf, so r = 0), are first order: DDIM itself, the last landing on x0_hat. Below
    LOWER_ORDER_FINAL steps the step into t = 0 is first order too, the `lower_order_final` of Lu et al.'s code
    (below 10 steps) and diffusers (below 15): lambda is steep near t = 0, so that step is long (r ~ 0.25) and 2M
    overshoots (on the course's model it cuts the error at 5 and 10 steps by 40% and 18%)."""

    title = "DPM-Solver++(2M)"

    def __init__(self, schedule: NoiseSchedule, steps: int = 25):
        super().__init__(schedule, steps)
        abar = schedule.alpha_bar.tolist()
        alpha_s = [math.sqrt(abar[t]) for t in self._timesteps[1:]] + [1.0]    # alpha at each step's end
        lam = [0.5 * math.log(abar[t] / (1 - abar[t])) for t in self._timesteps] + [math.inf]
        h = [b - a for a, b in zip(lam, lam[1:])]
        second_order = range(1, steps - 1 if steps >= LOWER_ORDER_FINAL else steps - 2)
        self._correction = [alpha_s[i] * -math.expm1(-h[i]) * h[i] / (2 * h[i - 1]) if i in second_order else 0.0
                            for i in range(steps)]

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> StepOutput:
        """x at the next timestep (the clean image after t = 0), steps in the order of `timesteps`."""
        c = self._correction[self._position(t)]
        out = super().step(eps, t, x_t)
        x_prev = out.x_prev + c * (out.x0_hat - self._last) if c else out.x_prev
        self._last = out.x0_hat
        return StepOutput(x_prev, out.x0_hat)


class HeunSampler(SecondOrderSampler):
    """Heun's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 without churn) in
    y = x / sqrt(alpha_bar), s = sqrt((1 - alpha_bar) / alpha_bar), where dy/ds = eps(x, t), between the
    model's own timesteps t_0 = T-1 > ... > t_(N-1) = 0 of ddim_timesteps(T, steps), then Euler to s = 0:

        predictor (Euler, which is DDIM):  y' = y_i + (s_(i+1) - s_i) eps_i
        corrector:  y_(i+1) = y_i + (s_(i+1) - s_i) (eps_i + eps') / 2 = y' + (s_(i+1) - s_i) (eps' - eps_i) / 2,

    eps' = eps(x', t_(i+1)), in x = sqrt(alpha_bar) y: x_(i+1) = x' + sqrt(alpha_bar_(i+1)) (s_(i+1) - s_i)
    (eps' - eps_i) / 2. `timesteps` lists every evaluation, t_0, t_1, t_1, ..., t_(N-1), t_(N-1): 2 steps - 1 of
    them; a step alternates predictor and corrector, the corrector's x_t being the predictor's output (as in
    `sample`). Only integer timesteps are evaluated, as Karras et al. do for discrete models: the U-Net would
    run on a fractional t, but it never saw one in training (its time embedding turns 1 radian per timestep)."""

    title = "Heun"

    def __init__(self, schedule: NoiseSchedule, steps: int = 25):
        super().__init__(schedule, steps)
        abar = schedule.alpha_bar.tolist()
        grid = self._timesteps
        s = {t: math.sqrt((1 - abar[t]) / abar[t]) for t in grid}
        self._half_step = {b: math.sqrt(abar[b]) * (s[b] - s[a]) / 2 for a, b in zip(grid, grid[1:])}
        self._timesteps = grid[:1] + [t for t in grid[1:] for _ in range(2)]

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, z: torch.Tensor | None = None) -> StepOutput:
        """The predictor (even evaluations) or the corrector (odd ones) at t, in the order of `timesteps`."""
        if self._position(t) % 2 == 0:
            self._last = eps
            return super().step(eps, t, x_t)
        return StepOutput(x_t + self._half_step[t] * (eps - self._last), self.predict_x0(eps, t, x_t))


# Every sampler by name: the command line's --method choices, make_sampler and the evaluation read this.
SAMPLERS: dict[str, type[Sampler]] = {"ddpm": DDPMSampler, "ddim": DDIMSampler, "dpmpp2m": DPMSolverPP2MSampler,
                                      "heun": HeunSampler}


def sampler_options(method: str) -> list[str]:
    """The options the sampler SAMPLERS[method] takes: its constructor's arguments after the schedule."""
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampling method {method!r}; choose one of {', '.join(SAMPLERS)}")
    return [name for name in inspect.signature(SAMPLERS[method]).parameters if name != "schedule"]


def make_sampler(schedule: NoiseSchedule, method: str = "ddpm", **options) -> Sampler:
    """The sampler SAMPLERS[method] over `schedule`, with `options` (steps, eta, variance; None: the sampler's
    default). An option the sampler does not take is an error, not silently dropped: DDPM runs all T steps
    and has no eta; DDIM has no variance setting."""
    takes = sampler_options(method)
    given = {name: value for name, value in options.items() if value is not None}
    foreign = [name for name in given if name not in takes]
    if foreign:
        raise ValueError(f"{', '.join(f'{k}={given[k]!r}' for k in foreign)} does not apply to {method}: it takes "
                         f"{', '.join(takes) or 'no options'}")
    return SAMPLERS[method](schedule, **given)


@dataclass
class SampleResult:
    """images: (n, C, H, W) in model space [-1, 1] (not clipped), on the CPU.
    frames: (F, n, C, H, W) snapshots of x_t (the first is x_T, the last the final images),
    frame_timesteps: the timestep each frame was taken at (FINAL_FRAME for the final images); both
    empty unless capture_every > 0. seed: the seed the noise was drawn with (None when a generator was
    given), so a run with seed=None can be repeated."""

    images: torch.Tensor
    frames: torch.Tensor | None
    frame_timesteps: list[int]
    seed: int | None = None


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
    if not torch.isfinite(context).all():
        raise ValueError("context holds NaN or infinite values; give finite weights, e.g. 0 and 1 per label")
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
    guide_device, device = module_device(guide), module_device(model)
    if guide_device != device:
        raise ValueError(f"the guide model is on {guide_device} but the model is on {device}; load both on one device")


def check_guidance(guidance: float) -> None:
    """A guidance scale is a finite number >= 0; a ValueError says so otherwise."""
    if not math.isfinite(guidance) or guidance < 0:
        raise ValueError(f"guidance={guidance} must be a finite number >= 0 (0: the weak prediction alone, "
                         f"1: no guidance, >1: stronger)")


@contextmanager
def eval_mode(*models: nn.Module | None):
    """The models (None skipped) in eval mode for the block, each one's own mode restored afterwards, also on
    errors."""
    models = [m for m in models if m is not None]
    was_training = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        yield
    finally:
        for m, mode in zip(models, was_training):
            m.train(mode)


@torch.no_grad()
def sample(model: nn.Module, sampler: Sampler, n: int = 16, *, context=None, guidance: float = 1.0,
           guide: nn.Module | None = None, seed: int | None = 0, generator: torch.Generator | None = None,
           x_T: torch.Tensor | None = None, capture_every: int = 0, progress: bool = False) -> SampleResult:
    """Draw n images with `sampler` (any `Sampler`) on the model's device; the models' train/eval modes are
    restored afterwards, also when sampling fails.

    context: None, (K,) or (n, K); guidance: the guidance scale w (1 = no guidance), classifier-free
    with the model's own unconditional prediction, or autoguidance by `guide`, a weaker snapshot of
    the model (see predict_eps).
    Randomness comes from `generator`, else from a fresh CPU generator seeded with `seed` (None: a seed
    drawn from the operating system's randomness, reported in the result's `seed`); the start is
    x_T = sampler.schedule.x_T_from_noise(z), or x_T itself when given (a fixed start).
    capture_every=k keeps x_t every k steps for animations.
    Raises FloatingPointError instead of returning images that hold NaN or infinite values.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of samples")
    check_guidance(guidance)
    if capture_every < 0:
        raise ValueError(f"capture_every={capture_every} must be >= 0 (0 keeps no frames)")
    if guide is not None:
        check_guide(model, guide)
    param = next(model.parameters())
    device, cfg = param.device, model.config
    shape = (n, cfg.channels, cfg.image_size, cfg.image_size)
    if generator is None:
        generator = torch.Generator()
        seed = generator.seed() if seed is None else generator.manual_seed(seed).initial_seed()
    else:
        seed = None
    context = context_batch(context, n, model, device)

    if x_T is None:
        x = sampler.schedule.x_T_from_noise(draw_noise(shape, generator, device))
    elif tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    else:
        x = x_T.to(device=device, dtype=param.dtype)

    frames, frame_t = [], []
    with eval_mode(model, guide):
        for i, t in enumerate(tqdm(sampler.timesteps, desc=type(sampler).__name__, disable=not progress,
                                   leave=False)):
            if capture_every and i % capture_every == 0:
                frames.append(x.clone())
                frame_t.append(t)
            eps = predict_eps(model, x, t, context, guidance, guide)
            z = draw_noise(shape, generator, device) if sampler.needs_noise(t) else None
            x = sampler.step(eps, t, x, z).x_prev
    if capture_every:
        frames.append(x.clone())
        frame_t.append(FINAL_FRAME)
    images = x.float().cpu()
    if not torch.isfinite(images).all():
        raise FloatingPointError("sampling produced NaN or infinite values: the checkpoint's weights are damaged "
                                 "(restore them) or the guidance scale is far too large")
    return SampleResult(images=images, frames=torch.stack(frames).float().cpu() if frames else None,
                        frame_timesteps=frame_t, seed=seed)
