"""The labs' exercises: for each, the reference answer, seeded cases and the typical mistakes with their hints.

    ddpm_step = exercises.check("ddpm_step", ddpm_step, schedule=schedule)

prints one verdict and returns the student's function when it is right, else course_lib's version bound to the
same context, so the lab goes on either way; `result` gives the verdict without printing, and `assert_solved`
re-checks the last answer given to `check` (hidden grading tests). How a mismatch is explained: `checks`.
mask_context accepts u < p_uncond and u <= p_uncond (a tie has probability 0); ddim_timesteps accepts any strictly
decreasing sequence of `steps` ints from T - 1 to 0 whose gaps differ by at most 1 (any rounding of linspace).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import checks
from .checks import Case, CheckResult, Exercise, Mistake, RecordingNet, join_and
from .config import ScheduleConfig
from .model import timestep_embedding as _model_embedding
from .samplers import ddim_timesteps as _ddim_timesteps
from .schedules import NoiseSchedule, cosine_betas, linear_betas

EXERCISES: dict[str, Exercise] = {}
SCHEDULE = {"schedule": NoiseSchedule}
SQRT, SQRT_ONE_MINUS, ONE_MINUS, SAME = math.sqrt, (lambda a: math.sqrt(1 - a)), (lambda a: 1 - a), (lambda a: a)
MISSING_SQRT = "both coefficients are square roots, sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t): standard deviations."
ALPHA_BAR = "x_t comes from x0 in one jump, with alpha_bar_t = prod_{s<=t} alpha_s, not alpha_t (one step's)."
LAST_STEP = "the last step returns the mean alone (sigma_0 z is left out)."
STRIDE = ("A fixed stride, range(T - 1, -1, -stride), gives the wrong count or misses 0 unless it divides T - 1; round "
          "evenly spaced values instead, e.g. torch.linspace(T - 1, 0, steps).round().")
CLEAN_END = "s = -1 is the clean end, where alpha_bar = 1: schedule.alpha_bar[-1] is the last entry, alpha_bar_(T-1)."
S_NEXT = "s is the next timestep of the shortened sequence, not t - 1: use alpha_bar[s]."
SIGMA = "sigma = eta sqrt((1 - ab_s) / (1 - ab_t) (1 - ab_t / ab_s))"
_images = lambda g, b: torch.randn(b, 3, 16, 16, generator=g)  # noqa: E731  (b sprites-sized images)


def _exercise(lab: int, title: str, equation: str, cases: Callable, params: tuple, covers, hint: str = "", **options):
    """Register the decorated reference as the exercise of its name (see checks.Exercise for the fields)."""
    def register(reference: Callable) -> Callable:
        EXERCISES[reference.__name__] = Exercise(reference.__name__, lab, title, equation, reference, cases, params,
                                                 covers, hint, **options)
        return reference
    return register


def _at(schedule, t: int) -> tuple[float, float, float]:
    """beta_t, alpha_t and alpha_bar_t as Python floats."""
    return float(schedule.beta[t]), float(schedule.alpha[t]), float(schedule.alpha_bar[t])


def _int_t_cases(seed: int, n_images: int) -> Callable[..., list[Case]]:
    """Cases (x_t, t, n_images - 1 more images) at t = T - 1, T / 2, T / 13, 1 and 0, batches of 1 and 4."""
    def cases(schedule) -> list[Case]:
        g, T = torch.Generator().manual_seed(seed), schedule.T
        return [Case((_images(g, b), t, *(_images(g, b) for _ in range(n_images - 1))), f"t = {t}, batch of {b}",
                     {"t": "at t = 0" if t == 0 else "for t > 0"})
                for t in sorted({T - 1, T // 2, T // 13, min(1, T - 1), 0}, reverse=True) for b in (1, 4)]
    return cases


def _int_t_covers(cases: list[Case]) -> str:
    return f"t = {join_and(list(dict.fromkeys(str(c.args[1]) for c in cases)))}, batches of 1 and 4"


# ----------------------------------------------------------------------------- lab 1: sampling

@_exercise(
    1, "alpha_bar from the beta schedule", "alpha_bar_t = prod_{s<=t} (1 - beta_s)", lambda: [
        Case((linear_betas(ScheduleConfig()),), "the course's linear schedule (T = 500)"),
        Case((cosine_betas(ScheduleConfig(name="cosine", T=100)),), "a cosine schedule (T = 100)"),
        Case((0.05 + 0.4 * torch.rand(8, generator=torch.Generator().manual_seed(1), dtype=torch.float64),),
             "8 random betas")],
    ("beta",), "the course's linear schedule, a cosine schedule and 8 random betas",
    "Check: alpha_bar_t = prod_{s<=t} (1 - beta_s), a running product: torch.cumprod(1 - beta, dim=0).",
    mistakes=(
        Mistake("cumsum", "alpha_bar_t is a product of the alphas, not a sum: use torch.cumprod, not torch.cumsum.",
                lambda b: torch.cumsum(1 - b, 0)),
        Mistake("product_of_betas", "multiply the alphas, alpha_s = 1 - beta_s, not the betas.",
                lambda b: torch.cumprod(b, 0)),
        Mistake("one_minus_outside", "1 - prod beta_s is not prod (1 - beta_s): take 1 - beta first, then the running "
                "product.", lambda b: 1 - torch.cumprod(b, 0)),
        Mistake("exclusive", "alpha_bar_t includes alpha_t (the product runs over s <= t): yours starts at 1 and stops "
                "at t - 1, alpha_bar_prev.", lambda b: torch.cat([b.new_ones(1), (1 - b[:-1]).cumprod(0)])),
        *(Mistake("total_product", "you give the product over all T steps: alpha_bar_t multiplies only up to t, one "
                  "value per t (a running product, torch.cumprod(..., dim=0)).", fn)
          for fn in (lambda b: torch.prod(1 - b), lambda b: torch.prod(1 - b).expand(len(b))))))
def alpha_bar_from_beta(beta: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s<=t} (1 - beta_s), for every t of the (T,) tensor beta."""
    return torch.cumprod(1 - beta, dim=0)


def _ddpm(eps_coef=lambda b, a, ab: b / math.sqrt(1 - ab), divisor=lambda b, a, ab: math.sqrt(a), sigma=SQRT,
          noise_at_0=False, x0_hat=False) -> Callable:
    """ddpm_step with one of its pieces replaced (x0_hat: x0_hat in place of the mean)."""
    def step(x_t, t, eps, z, *, schedule):
        b, a, ab = _at(schedule, t)
        mean = (x_t - eps_coef(b, a, ab) * eps) / divisor(b, a, ab)
        mean = predict_x0(x_t, t, eps, schedule=schedule) if x0_hat else mean
        return mean + sigma(b) * z if t > 0 or noise_at_0 else mean
    return step


@_exercise(
    1, "one DDPM step",
    "x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) + sqrt(beta_t) z, no noise at t = 0",
    _int_t_cases(3, 3), ("x_t", "t", "eps", "z"), _int_t_covers,
    "Check: mean = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t); add sqrt(beta_t) z only for t > 0.",
    context=SCHEDULE, timestep_arg=1,
    mistakes=(
        Mistake("noise_at_last_step", f"at t = 0 your step adds noise. The {LAST_STEP[4:]}", _ddpm(noise_at_0=True)),
        Mistake("noise_scale", "the noise is scaled by sigma_t = sqrt(beta_t), its standard deviation, not by the "
                "variance beta_t.", _ddpm(sigma=SAME)),
        Mistake("eps_coef_sqrt", "eps is scaled by beta_t / sqrt(1 - alpha_bar_t): the square root on 1 - alpha_bar_t "
                "is missing.", _ddpm(eps_coef=lambda b, a, ab: b / (1 - ab))),
        Mistake("mean_scale_sqrt", "the mean is divided by sqrt(alpha_t): the square root is missing.",
                _ddpm(divisor=lambda b, a, ab: a)),
        Mistake("alpha_bar_for_alpha", "the mean is divided by sqrt(alpha_t), one step's alpha, not by "
                "sqrt(alpha_bar_t).", _ddpm(divisor=lambda b, a, ab: math.sqrt(ab))),
        Mistake("noise_sign", "x_{t-1} = mean + sigma_t z, with a plus: -z is noise as good as z, but the check gives "
                "you z and compares.", _ddpm(sigma=lambda b: -math.sqrt(b))),
        Mistake("eps_sign", "the mean subtracts the scaled eps, x_t - beta_t / sqrt(1 - alpha_bar_t) eps: your sign is "
                "flipped.", _ddpm(eps_coef=lambda b, a, ab: -b / math.sqrt(1 - ab))),
        Mistake("no_noise", "for t > 0 the step adds sigma_t z with sigma_t = sqrt(beta_t); without it the samples "
                "come out flat and smooth (lab 1's no-noise run).", _ddpm(sigma=lambda b: 0.0)),
        Mistake("x0_instead", "you return x0_hat + noise, but the step goes one timestep back: x_{t-1} = (x_t - beta_t "
                "/ sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) + sqrt(beta_t) z.", _ddpm(x0_hat=True))),
    group_hints={"at t = 0": Mistake("noise_at_last_step", LAST_STEP),
                 "for t > 0": Mistake("noise_term", "look at the noise term, + sqrt(beta_t) z for t > 0 (sigma_t^2 = "
                                      "beta_t here, not the posterior variance).")})
def ddpm_step(x_t: torch.Tensor, t: int, eps: torch.Tensor, z: torch.Tensor, *, schedule) -> torch.Tensor:
    """DDPM (Ho et al. 2020, Algorithm 2) with sigma_t^2 = beta_t: mean = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps)
    / sqrt(alpha_t); x_{t-1} = mean + sqrt(beta_t) z for t > 0, the mean alone at t = 0."""
    beta, alpha, alpha_bar = _at(schedule, t)
    mean = (x_t - beta / math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha)
    return mean if t == 0 else mean + math.sqrt(beta) * z


# ----------------------------------------------------------------------------- lab 2: training

def _q(signal=torch.sqrt, noise=lambda a: (1 - a).sqrt(), table="alpha_bar", first_t=False) -> Callable:
    """q_sample with one of its pieces replaced (first_t: t[0] for the whole batch)."""
    def q(x0, t, eps, *, schedule):
        a = getattr(schedule, table)[t[:1].expand(len(t)) if first_t else t].view(-1, 1, 1, 1)
        return (signal(a) * x0 + noise(a) * eps).float()
    return q


def _q_cases(schedule) -> list[Case]:
    g, T = torch.Generator().manual_seed(4), schedule.T
    return [Case((_images(g, len(t)), torch.tensor(t), _images(g, len(t))), f"t = {t}",
                 {"t": "for mixed t" if len(set(t)) > 1 else "for one t per batch"})
            for t in ([T - 1, T // 2, 1, 0], [T // 13, T // 3, 2 * T // 3, T - 1], [T // 2] * 4, [T - 1], [0])]


@_exercise(
    2, "the forward process in one jump", "x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps", _q_cases,
    ("x0", "t", "eps"), "mixed and equal t in batches of 4, single images at t = T - 1 and 0",
    "Check: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, with alpha_bar[t] viewed as (B, 1, 1, 1).",
    context=SCHEDULE, timestep_arg=1,
    mistakes=(
        *(Mistake("missing_sqrt", MISSING_SQRT, _q(signal=s, noise=n))
          for s, n in ((SAME, ONE_MINUS), (torch.sqrt, ONE_MINUS), (SAME, lambda a: (1 - a).sqrt()))),
        Mistake("coefficients_swapped", "sqrt(alpha_bar_t) scales the image x0 and sqrt(1 - alpha_bar_t) the noise "
                "eps: yours are swapped.", _q(signal=lambda a: (1 - a).sqrt(), noise=torch.sqrt)),
        Mistake("alpha_for_alpha_bar", ALPHA_BAR, _q(table="alpha")),
        Mistake("one_t_for_batch", "t holds one timestep per image: index alpha_bar with the whole vector t, not with "
                "t[0] for the batch.", _q(first_t=True)),
        Mistake("missing_view", "alpha_bar[t] has shape (B,): view it as (B, 1, 1, 1) with .view(-1, 1, 1, 1) so it "
                "broadcasts over each image's channels and pixels.", error="must match the size of tensor")),
    group_hints={"for mixed t": Mistake("one_t_for_batch", "t holds one timestep per image, use each image's own.")})
def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, *, schedule) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, one timestep t[i] per image."""
    alpha_bar = schedule.alpha_bar.to(x0.device)[t].view(-1, 1, 1, 1)
    return (alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps).to(x0.dtype)


def _loss(pred=lambda net, x_t, x0, t, c: net(x_t, t, c), target=lambda x0, eps: eps,
          reduce=lambda d: d.pow(2).mean()) -> Callable:
    """diffusion_loss_by_hand with one of its pieces replaced."""
    def loss(net, x0, t, eps, c, *, schedule):
        return reduce(pred(net, q_sample(x0, t, eps, schedule=schedule), x0, t, c) - target(x0, eps))
    return loss


def _loss_cases(schedule) -> list[Case]:
    g, T, out = torch.Generator().manual_seed(5), schedule.T, []
    for i, t in enumerate([[T - 1, T // 2, 1, 0], [T // 3, 7, T - 1, 2 * T // 3], [T - 1, 0], [T // 2]]):
        c = torch.eye(5)[torch.arange(len(t)) % 5] if i % 2 == 0 else None
        said = "one-hot c" if c is not None else "c = None"
        out.append(Case((RecordingNet(T), _images(g, len(t)), torch.tensor(t), _images(g, len(t)), c),
                        f"t = {t}, {said}", {"c": f"with {said}"}))
    return out


def _inspect_net(args: tuple) -> tuple[str, str] | None:
    """What the loss fed the net: the timesteps and the context must be the ones given."""
    net, _, t, _, c = args
    if not net.calls:
        return "net_not_called", "your loss never calls net: it compares net(x_t, t, c) with eps."
    _, t_in, c_in = net.calls[-1]
    if not (isinstance(t_in, torch.Tensor) and t_in.shape == t.shape and torch.equal(t_in.to(t.dtype), t)):
        return "timestep_not_passed", "net was called with other timesteps than t: pass t as given, net(x_t, t, c)."
    if (c is None) != (c_in is None) or (c is not None and not torch.equal(c_in, c)):
        return "context_dropped", "net was called without the context c: pass it on, net(x_t, t, c)."
    return None


@_exercise(
    2, "the noise-prediction loss", "L = mean (net(x_t, t, c) - eps)^2, x_t = sqrt(alpha_bar_t) x0 + "
    "sqrt(1 - alpha_bar_t) eps", _loss_cases, ("net", "x0", "t", "eps", "c"),
    "a stand-in net, batches of 1 to 4, with and without a one-hot context",
    "Check: x_t = q_sample(x0, t, eps); return ((net(x_t, t, c) - eps) ** 2).mean(), a 0-d tensor.",
    context=SCHEDULE, inspect=_inspect_net, timestep_arg=2,
    mistakes=(
        Mistake("target_x0", "the net predicts the noise: compare net(x_t, t, c) with eps, not with x0.",
                _loss(target=lambda x0, eps: x0)),
        Mistake("net_input", "the net sees the noisy image: feed it x_t = q_sample(x0, t, eps), not x0.",
                _loss(pred=lambda net, x_t, x0, t, c: net(x0, t, c))),
        Mistake("sum_not_mean", "the loss is the mean over every element, not the sum: use .mean().",
                _loss(reduce=lambda d: d.pow(2).sum())),
        Mistake("l1", "the loss squares the error, (net(x_t, t, c) - eps) ** 2, not its absolute value.",
                _loss(reduce=lambda d: d.abs().mean())),
        Mistake("per_image", "the loss is one number, the mean over every element: yours is one per image (use .mean() "
                "without dims).", _loss(reduce=lambda d: d.pow(2).mean(dim=(1, 2, 3)))),
        Mistake("context_dropped", "net was called without the context c: pass it on, net(x_t, t, c).",
                _loss(pred=lambda net, x_t, x0, t, c: net(x_t, t))),
        Mistake("net_not_called", "your loss compares x_t itself with eps: the net's prediction net(x_t, t, c) must "
                "match eps.", _loss(pred=lambda net, x_t, x0, t, c: x_t))),
    group_hints={"with one-hot c": Mistake("context_dropped", "pass the context on, net(x_t, t, c).")})
def diffusion_loss_by_hand(net: torch.nn.Module, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, c, *, schedule):
    """L = mean over every element of (net(x_t, t, c) - eps)^2 with x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t)
    eps (Ho et al. 2020, eq. 14): a 0-d tensor."""
    return F.mse_loss(net(q_sample(x0, t, eps, schedule=schedule), t, c), eps)


def _emb(order="sin_cos", denom="half", sign=-1.0, interleave=False) -> Callable:
    """timestep_embedding with one of its pieces replaced (in float64)."""
    def emb(t, dim):
        half = dim // 2
        w = 10000.0 ** (sign * torch.arange(half).double() / (half if denom == "half" else dim))
        angles = t.double()[:, None] * w
        parts = {"sin_cos": [angles.sin(), angles.cos()], "cos_sin": [angles.cos(), angles.sin()],
                 "sin": [angles.sin()]}[order]
        return torch.stack(parts, dim=2).flatten(1) if interleave else torch.cat(parts, dim=1)
    return emb


@_exercise(
    2, "the sinusoidal time embedding", "emb[i] = sin(t w_i), emb[half + i] = cos(t w_i), w_i = 10000^(-i / half)",
    lambda: [Case((torch.tensor(t), d), f"t = {t}, dim = {d}")
             for t, d in (([0, 1, 2, 3], 16), ([5, 9], 32), ([10], 8), ([250, 499], 4))],
    ("t", "dim"), "t from 0 to 499, dim = 4, 8, 16 and 32",
    "Check: half = dim // 2; w = 10000 ** (-arange(half) / half); cat([sin(t w), cos(t w)], dim=1).",
    tol=1e-3,  # float32 angles up to 499 rad
    mistakes=(
        Mistake("cos_first", "the sines come first: emb = cat([sin(t w), cos(t w)], dim=1).", _emb(order="cos_sin")),
        Mistake("interleaved", "the sines fill the first half and the cosines the second, cat([sin, cos], dim=1), not "
                "interleaved.", _emb(interleave=True)),
        Mistake("exponent_dim", "w_i = 10000^(-i / half) with half = dim // 2: you divide by dim.", _emb(denom="dim")),
        Mistake("exponent_sign", "w_i = 10000^(-i / half) has a minus sign: the frequencies fall from 1 to 1/10000.",
                _emb(sign=1.0), tol=0.05),  # its angles reach 5e4 rad, where float32 and float64 sines part
        Mistake("only_sin", "the embedding has dim values: half sines, then half cosines (yours has dim / 2).",
                _emb(order="sin"))))
def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """emb[i] = sin(t w_i), emb[half + i] = cos(t w_i), w_i = 10000^(-i / half), half = dim // 2 (course_lib.model)."""
    return _model_embedding(t, dim)


# ----------------------------------------------------------------------------- lab 3: context

def _mask_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    rows = lambda n: 0.1 + torch.rand(n, 5, generator=g)  # noqa: E731
    return [Case((rows(8), torch.tensor([0.9, 0.1, 0.55, 0.3, 0.75, 0.05, 0.6, 0.2]), 0.5), "8 rows, p_uncond = 0.5"),
            Case((torch.eye(5)[torch.arange(6) % 5], torch.tensor([0.8, 0.1, 0.25, 0.4, 0.2, 0.95]), 0.25),
                 "6 one-hot rows, p_uncond = 0.25 (one u is 0.25)"),
            Case((rows(4), torch.rand(4, generator=g), 0.0), "p_uncond = 0 (no row masked)"),
            Case((rows(4), torch.rand(4, generator=g), 1.0), "p_uncond = 1 (every row masked)"),
            Case((rows(1), torch.tensor([0.05]), 0.1), "1 row, u = 0.05, p_uncond = 0.1")]


@_exercise(
    3, "context masking", "c_i -> 0 where u_i < p_uncond", _mask_cases, ("c", "u", "p_uncond"),
    "p_uncond = 0, 0.1, 0.25, 0.5 and 1, one-hot and weighted rows, a tie u = p_uncond",
    "Check: keep = (u >= p_uncond).view(-1, 1); return c * keep.",
    alternatives=(lambda c, u, p: c * (u > p).view(-1, 1).to(c.dtype),),
    in_place_hint="build a new tensor, c * keep or torch.where(...), instead of c[u < p_uncond] = 0 (or clone c first)",
    mistakes=(
        Mistake("inverted", "mask the rows where u < p_uncond (a share p_uncond of them) and keep the others: yours is "
                "the other way round.", lambda c, u, p: c * (u < p).view(-1, 1).to(c.dtype)),
        *(Mistake("fill_value", "no context is a row of zeros, not of ones or -1.",
                  lambda c, u, p, v=v: torch.where((u < p).view(-1, 1), torch.full_like(c, v), c)) for v in (1, -1)),
        *(Mistake("returns_mask", "return c with the masked rows zeroed, not the mask itself.", fn) for fn in (
            lambda c, u, p: (u >= p).view(-1, 1).to(c.dtype), lambda c, u, p: (u >= p).view(-1, 1).expand_as(c),
            lambda c, u, p: (u >= p).to(c.dtype))),
        Mistake("rows_not_entries", "u has one draw per row, shape (B,): make the mask (B, 1) with u[:, None] or "
                ".view(-1, 1) so it zeroes whole rows.", error="must match the size of tensor")))
def mask_context(c: torch.Tensor, u: torch.Tensor, p_uncond: float) -> torch.Tensor:
    """c with every row i where u_i < p_uncond replaced by zeros ("no context"), as a new tensor."""
    return c * (u >= p_uncond).view(-1, 1).to(c.dtype)


@_exercise(
    3, "classifier-free guidance", "eps = eps_u + w (eps_c - eps_u)", lambda: [
        Case((_images(g, b), _images(g, b), w), f"w = {w:g}, batch of {b}",
             {"w": "for w = 1" if w == 1 else "for w = 0" if w == 0 else "for w > 1"})
        for g in [torch.Generator().manual_seed(8)] for w, b in ((3.0, 2), (1.0, 2), (0.0, 1), (7.5, 1))],
    ("eps_c", "eps_u", "w"), "w = 0, 1, 3 and 7.5", "Check: eps_u + w * (eps_c - eps_u); w = 0 gives eps_u, 1 eps_c.",
    mistakes=(
        Mistake("plus_one_convention", "eps_c + w (eps_c - eps_u) is the (1 + w) convention of Ho & Salimans; in this "
                "course w = 1 means no guidance: eps_u + w (eps_c - eps_u).", lambda c, u, w: c + w * (c - u)),
        Mistake("swapped", "eps_c and eps_u are swapped: start from the unconditional eps_u and move towards eps_c.",
                lambda c, u, w: c + w * (u - c)),
        Mistake("difference_sign", "guidance moves towards eps_c: add w (eps_c - eps_u), not w (eps_u - eps_c).",
                lambda c, u, w: u + w * (u - c)),
        Mistake("w_ignored", "your result does not change with w: scale the difference, eps_u + w (eps_c - eps_u).",
                lambda c, u, w: c),
        Mistake("missing_base", "guidance starts from eps_u: eps_u + w (eps_c - eps_u), not w (eps_c - eps_u) alone.",
                lambda c, u, w: w * (c - u))))
def guided_eps(eps_c: torch.Tensor, eps_u: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance with scale w (w = 1: no guidance, w = 0: unconditional): eps_u + w (eps_c - eps_u)."""
    return eps_u + w * (eps_c - eps_u)


# ----------------------------------------------------------------------------- lab 4: fast sampling

def _judge_timesteps(args: tuple, out: Any) -> tuple[str, ...] | None:
    """Any strictly decreasing sequence of `steps` ints from T - 1 to 0 with gaps that differ by at most 1."""
    T, steps = args
    on = f"for T = {T}, steps = {steps}:"
    values = out.tolist() if isinstance(out, (torch.Tensor, np.ndarray)) and out.ndim == 1 else out
    if not isinstance(values, (list, tuple, range)):
        return "wrong_type", f"your function returns a {type(out).__name__}, not a list of ints."
    values = [v.item() if isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim == 0 else v for v in values]
    odd = [v for v in values if not isinstance(v, numbers.Integral)]
    if odd:
        return ("floats", f"{on} your timesteps are floats ({odd[0]}, ...): they index the schedule, so return "
                f"ints (round, then int() or .long()).") if isinstance(odd[0], numbers.Real) else (
            "wrong_type", f"{on} your timesteps hold a {type(odd[0]).__name__}, not ints.")
    ts, gaps = values, [a - b for a, b in zip(values, values[1:])]
    if len(ts) != steps:
        return "count", f"{on} you return {len(ts)} timesteps instead of {steps}.", STRIDE
    if steps > 1 and ts[0] < ts[-1]:
        return "increasing", f"{on} your timesteps increase ({ts[0]}, {ts[1]}, ...): sampling runs from T - 1 to 0."
    if ts[0] != T - 1:
        return ("starts_at_T", f"{on} you start at t = T = {T}, out of range: timesteps run 0..T-1.") if ts[0] == T \
            else ("start", f"{on} you start at t = {ts[0]}: start at T - 1 = {T - 1}, the noisiest step.")
    if steps > 1 and ts[-1] != 0:
        return "end", f"{on} you end at t = {ts[-1]}: the last step must be t = 0, the clean end.", STRIDE
    if gaps and min(gaps) < 1:
        i = gaps.index(min(gaps))
        return "duplicates", f"{on} t = {ts[i]} is followed by {ts[i + 1]}: each step must go to a smaller t."
    if gaps and max(gaps) - min(gaps) > 1:
        return "uneven", (f"{on} your gaps range from {min(gaps)} to {max(gaps)}: space the steps as evenly as "
                          f"integers allow (gaps that differ by at most 1).")
    return None


EXERCISES["ddim_timesteps"] = Exercise(
    "ddim_timesteps", 4, "the timesteps of a short DDIM run", "steps timesteps from T - 1 down to 0, evenly spaced",
    _ddim_timesteps, lambda: [Case((T, n), f"T = {T}, steps = {n}") for T, n in (
        (500, 25), (500, 30), (500, 50), (500, 2), (500, 1), (1000, 7), (10, 4), (10, 10))],
    ("T", "steps"), "T = 500 with 1 to 50 steps, T = 1000 and T = 10",
    "Check: round evenly spaced values from T - 1 down to 0, e.g. torch.linspace(T - 1, 0, steps).round().",
    judge=_judge_timesteps,
    mistakes=(  # the judge gives their hints; the functions show what each one catches
        Mistake("increasing", "sampling goes from T - 1 down to 0.", lambda T, n: _ddim_timesteps(T, n)[::-1]),
        Mistake("starts_at_T", "timesteps run 0..T-1: start at T - 1.",
                lambda T, n: [round(x) for x in torch.linspace(T, 0, n).tolist()]),
        Mistake("end", "the last timestep is 0.", lambda T, n: list(range(T - 1, -1, -(T // n)))[:n]),
        Mistake("count", "exactly `steps` timesteps.", lambda T, n: _ddim_timesteps(T, n + 1) if n < T else [0]),
        Mistake("duplicates", "strictly decreasing.", lambda T, n: [T - 1] + _ddim_timesteps(T, n)[:-2] + [0]),
        Mistake("uneven", "gaps that differ by at most 1.", lambda T, n: [T - 1] + list(range(n - 2, -1, -1))),
        Mistake("floats", "ints, not floats.", lambda T, n: torch.linspace(T - 1, 0, n).round())))


def _solve(num, den, table="alpha_bar", sign=-1.0) -> Callable:
    """(x_t + sign num(a) y) / den(a) with a = table[t]: predict_x0 or eps_from_x0 with a piece replaced."""
    def solve(x_t, t, y, *, schedule):
        a = float(getattr(schedule, table)[t])
        return (x_t + sign * num(a) * y) / den(a)
    return solve


def _solving(solved_for: str, given: str, seed: int) -> Callable:
    """The exercise of x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps solved for x0 or for eps."""
    num, den = (SQRT_ONE_MINUS, SQRT) if solved_for == "x0" else (SQRT, SQRT_ONE_MINUS)
    plain = (ONE_MINUS, SAME) if solved_for == "x0" else (SAME, ONE_MINUS)
    equation = (f"{solved_for} = (x_t - sqrt({'1 - ' * (given == 'eps')}alpha_bar_t) {given}) / "
                f"sqrt({'1 - ' * (given == 'x0')}alpha_bar_t)")
    return _exercise(
        4, f"{solved_for} from x_t and {given}", equation, _int_t_cases(seed, 2), ("x_t", "t", given), _int_t_covers,
        f"Check: {equation}, with alpha_bar_t = schedule.alpha_bar[t].", context=SCHEDULE, timestep_arg=1,
        mistakes=(
            *(Mistake("missing_sqrt", MISSING_SQRT, _solve(n, d))
              for n, d in ((plain[0], plain[1]), (num, plain[1]), (plain[0], den))),
            Mistake("plus_sign", f"solving x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps for {solved_for} "
                    f"subtracts the {given} term from x_t.", _solve(num, den, sign=1.0)),
            Mistake("alpha_for_alpha_bar", ALPHA_BAR, _solve(num, den, table="alpha")),
            Mistake("swapped", "sqrt(alpha_bar_t) goes with x0 and sqrt(1 - alpha_bar_t) with eps: yours are swapped.",
                    _solve(den, num))))


@_solving("x0", "eps", 2)
def predict_x0(x_t: torch.Tensor, t: int, eps: torch.Tensor, *, schedule) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), the forward process solved for x0."""
    alpha_bar = float(schedule.alpha_bar[t])
    return (x_t - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def _ddim(ab_s_of=lambda sch, t, s: float(sch.alpha_bar[s]) if s >= 0 else 1.0,
          sigma_of=lambda var, eta: eta * math.sqrt(var), direction=lambda ab_s, sig: 1 - ab_s - sig ** 2,
          x0_of=lambda x_t, eps, ab: (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)) -> Callable:
    """ddim_step with one of its pieces replaced (a negative direction term gives NaN, as torch.sqrt would)."""
    def step(x_t, t, s, eps, eta=0.0, z=None, *, schedule):
        ab_t, ab_s = float(schedule.alpha_bar[t]), ab_s_of(schedule, t, s)
        sig = sigma_of((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s), eta)
        d = direction(ab_s, sig)
        x_s = math.sqrt(ab_s) * x0_of(x_t, eps, ab_t) + (math.sqrt(d) if d >= 0 else math.nan) * eps
        return x_s + sig * z if sig > 0 else x_s
    return step


def _ddim_cases(schedule) -> list[Case]:
    g, T, out = torch.Generator().manual_seed(10), schedule.T, []
    for i, (t, s, eta) in enumerate([(T - 1, T - 21, 0.0), (T - 1, T - 21, 1.0), (T // 2, T // 2 - 20, 0.5),
                                     (T - 1, T // 2, 0.5), (20, 0, 0.0), (20, 0, 1.0), (T // 5, T // 5 - 1, 0.0),
                                     (T // 5, T // 5 - 1, 1.0), (0, -1, 0.0), (0, -1, 1.0)]):
        x_t, eps, z = (_images(g, 4 if i % 2 else 1) for _ in range(3))
        out.append(Case((x_t, t, s, eps, eta, z if eta > 0 else None), f"t = {t} -> s = {s}, eta = {eta:g}, batch of "
                        f"{len(x_t)}", {"eta": "when eta = 0" if eta == 0 else "when eta > 0",
                                        "s": "at s = -1" if s == -1 else "for s >= 0",
                                        "stride": "for stride 1" if t - s == 1 else "for strides > 1"}))
    return out


@_exercise(
    4, "one DDIM step", f"x_s = sqrt(ab_s) x0_hat + sqrt(1 - ab_s - sigma^2) eps + sigma z, {SIGMA}", _ddim_cases,
    ("x_t", "t", "s", "eps", "eta", "z"), "strides 1, 20 and more, s = -1, eta = 0, 0.5 and 1",
    "Check: x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t); x_s = sqrt(ab_s) x0_hat + sqrt(1 - ab_s - sigma^2) eps + "
    "sigma z, with ab_s = 1 at s = -1.", context=SCHEDULE, timestep_arg=1,
    mistakes=(
        Mistake("sigma_sqrt", f"{SIGMA}: the square root is missing.", _ddim(sigma_of=lambda var, eta: eta * var)),
        Mistake("eta_ignored", f"with eta > 0 the step adds noise sigma z, {SIGMA}, and takes sigma^2 off eps's term.",
                _ddim(sigma_of=lambda var, eta: 0.0)),
        *(Mistake("s_not_t_minus_1", S_NEXT, _ddim(ab_s_of=fn)) for fn in (
            lambda sch, t, s: float(sch.alpha_bar[t - 1]), lambda sch, t, s: float(sch.alpha_bar_prev[t]))),
        Mistake("clean_end", CLEAN_END, _ddim(ab_s_of=lambda sch, t, s: float(sch.alpha_bar[s]))),
        Mistake("direction_sigma", "the eps term is sqrt(1 - ab_s - sigma^2) eps: the noise's share sigma^2 comes off "
                "it.", _ddim(direction=lambda ab_s, sig: 1 - ab_s)),
        Mistake("sigma_formula", f"sigma is not eta itself: {SIGMA}.", _ddim(sigma_of=lambda var, eta: eta)),
        *(Mistake("x0_sqrt", "x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t): a square root is missing.",
                  _ddim(x0_of=lambda x_t, e, ab, n=n: (x_t - n(ab) * e) / ab)) for n in (ONE_MINUS, SQRT_ONE_MINUS)),
        Mistake("clean_end", CLEAN_END, error=r"(math domain error|complex).* s = -1"),
        Mistake("negative_root", f"a square root of a negative number: {SIGMA} keeps 1 - ab_s - sigma^2 >= 0.",
                error="math domain error|complex"),
        Mistake("z_none", "z is None when eta = 0 (sigma = 0): add sigma z only when sigma > 0.", error="NoneType")),
    group_hints={"when eta > 0": Mistake("eta_noise", f"look at the noise, {SIGMA}, and at + sigma z."),
                 "for strides > 1": Mistake("s_not_t_minus_1", S_NEXT), "at s = -1": Mistake("clean_end", CLEAN_END)})
def ddim_step(x_t: torch.Tensor, t: int, s: int, eps: torch.Tensor, eta: float = 0.0, z=None, *, schedule):
    """DDIM (Song et al. 2021, eq. 12) from t to an earlier s (s = -1: the clean end, alpha_bar = 1):
    x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t), sigma = eta sqrt((1 - ab_s) / (1 - ab_t) (1 - ab_t / ab_s)),
    x_s = sqrt(ab_s) x0_hat + sqrt(1 - ab_s - sigma^2) eps + sigma z (z only used when sigma > 0)."""
    ab_t = float(schedule.alpha_bar[t])
    ab_s = float(schedule.alpha_bar[s]) if s >= 0 else 1.0
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    x0_hat = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    x_s = math.sqrt(ab_s) * x0_hat + math.sqrt(max(1 - ab_s - sigma ** 2, 0.0)) * eps
    return x_s + sigma * z if sigma > 0 else x_s


@_solving("eps", "x0", 11)
def eps_from_x0(x_t: torch.Tensor, t: int, x0: torch.Tensor, *, schedule) -> torch.Tensor:
    """eps = (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t), the forward process solved for eps."""
    alpha_bar = float(schedule.alpha_bar[t])
    return (x_t - math.sqrt(alpha_bar) * x0) / math.sqrt(1 - alpha_bar)


# ----------------------------------------------------------------------------- the API

def result(name: str, answer: Callable, **context) -> CheckResult:
    """The verdict on `answer` for exercise `name`, without printing (context: e.g. schedule=schedule)."""
    return checks.result(EXERCISES, name, answer, context)


def check(name: str, answer: Callable, **context) -> Callable:
    """Print the verdict on `answer`; return it when right, else course_lib's version bound to the same context."""
    return checks.check(EXERCISES, name, answer, context)


def assert_solved(name: str) -> None:
    """Re-check the last answer given to check(name, ...); AssertionError with the hint unless it is right."""
    checks.assert_solved(EXERCISES, name)
