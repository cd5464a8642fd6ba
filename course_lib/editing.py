"""Editing sprites with a trained noise predictor: SDEdit, inpainting, DDIM inversion and interpolation.

A model that predicts eps(x_t, t, c) knows how any noisy image continues towards the data, not only pure
noise. Each edit below starts the reverse process somewhere other than x_T ~ N(0, I), or constrains it:

- SDEdit (Meng et al. 2022): noise a guide (a sprite, or a sketch of colour blocks) part of the way with
  q(x_t0 | x_0) and denoise from there: the result keeps the guide's layout and colours and gains the data's detail.
- Inpainting (Lugmayr et al. 2022, RePaint's replacement): at every step the region to keep is overwritten
  by the known image noised to the current timestep, so the model only draws the rest, in harmony with it.
- DDIM inversion (Song et al. 2021, eq. 12 run from t towards T with eta = 0): the x_T from which
  deterministic DDIM draws a given sprite; two such x_T interpolated on the sphere (slerp) decode to a
  path of sprites between the two.

The reverse steps are the samplers' own (`Sampler.step`, `predict_x0`, `predict_eps` with guidance) and the
noising is the schedule's `q_sample`. Everything is batched and runs on the model's device; the noise comes
from a seeded CPU generator (`samplers.draw_noise`), so one seed gives the same edits on every device, and
no loop reads a value back from the device. Images are in model space [-1, 1] (`images.to_model_space`).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .samplers import (DDIMSampler, Sampler, check_guidance, context_batch, draw_noise, eval_mode, make_sampler,
                       predict_eps)
from .schedules import NoiseSchedule

# The samplers an edit can run: the second-order ones (dpmpp2m, heun) carry state from the step before and
# must start at T-1, while SDEdit starts part-way.
EDIT_METHODS = ("ddpm", "ddim")


def check_images(x, model: nn.Module, what: str = "image") -> torch.Tensor:
    """One image (C, S, S) or a batch (n, C, S, S) of the model's size, floating point in model space [-1, 1],
    as a batch on the model's device and dtype; a ValueError says what to fix otherwise."""
    cfg = model.config
    shape = (cfg.channels, cfg.image_size, cfg.image_size)
    got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
    if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4) or tuple(x.shape[-3:]) != shape:
        raise ValueError(f"the {what} must be a tensor of shape {shape} or (n, {', '.join(map(str, shape))}) for "
                         f"this model, got {got}")
    if not x.is_floating_point():
        raise ValueError(f"the {what} holds {x.dtype} pixels; convert them to model space [-1, 1] with "
                         f"images.to_model_space")
    if not torch.isfinite(x).all() or x.abs().max() > 1:
        raise ValueError(f"the {what} must lie in model space [-1, 1], got values from {x.min().item():.3g} to "
                         f"{x.max().item():.3g}; clip samples with .clamp(-1, 1), map pixels with "
                         f"images.to_model_space")
    param = next(model.parameters())
    return (x if x.dim() == 4 else x[None]).to(device=param.device, dtype=param.dtype)


def check_strength(strength) -> None:
    """SDEdit's strength is a number in [0, 1]: the share of the reverse process that is run again."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise ValueError(f"strength={strength!r} must be a number from 0 (return the guide) to 1 (noise it to "
                         f"the last timestep, then sample)")


def check_mask(mask, n: int, size: int, device: torch.device) -> torch.Tensor:
    """A mask of 0 (keep) and 1 (regenerate), (S, S) for every image or (n, S, S), as (1 or n, 1, S, S)."""
    mask = torch.as_tensor(mask)
    if tuple(mask.shape) not in ((size, size), (n, size, size)):
        raise ValueError(f"the mask must have shape ({size}, {size}) (one for every image) or ({n}, {size}, {size}), "
                         f"got {tuple(mask.shape)}")
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("the mask must hold only 0 (keep) and 1 (regenerate); threshold a soft mask, e.g. "
                         "(mask > 0.5).float()")
    return mask.reshape(-1, 1, size, size).to(device=device, dtype=torch.float32)


def edit_sampler(schedule: NoiseSchedule, method: str = "ddim", steps: int | None = None) -> Sampler:
    """The sampler an edit runs: DDPM (all T steps) or DDIM (`steps`, default 25, deterministic)."""
    if method not in EDIT_METHODS:
        raise ValueError(f"method={method!r}: edits run {' or '.join(EDIT_METHODS)} (the second-order samplers "
                         f"must start at the last timestep)")
    return make_sampler(schedule, method, steps=steps)


@torch.no_grad()
def denoise(model: nn.Module, sampler: Sampler, x: torch.Tensor, timesteps: list[int], generator: torch.Generator,
            context=None, guidance: float = 1.0, keep: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """The reverse process from x at timesteps[0] along `timesteps` (the tail of sampler.timesteps) to x_0:

        eps = predict_eps(model, x_t, t, c, w);  x_t <- sampler.step(eps, t, x_t, z).x_prev,

    the loop of `samplers.sample`, started part-way; z ~ N(0, I) from `generator` where the sampler needs it.
    context: None or a batch (n, K) on x's device (`samplers.context_batch`). keep(i, x) returns x with its kept
    region replaced, before step i. The model runs in eval mode."""
    with eval_mode(model):
        for i, t in enumerate(tqdm(timesteps, desc="editing", disable=not progress, leave=False)):
            x = keep(i, x) if keep else x
            eps = predict_eps(model, x, t, context, guidance)
            z = draw_noise(tuple(x.shape), generator, x.device) if sampler.needs_noise(t) else None
            x = sampler.step(eps, t, x, z).x_prev
    return x


def finished(x: torch.Tensor) -> torch.Tensor:
    """The edited images on the CPU (float32, not clipped); a FloatingPointError instead of NaN pictures."""
    x = x.float().cpu()
    if not torch.isfinite(x).all():
        raise FloatingPointError("editing produced NaN or infinite values: the checkpoint's weights are damaged "
                                 "(restore them) or the guidance scale is far too large")
    return x


def sdedit(model: nn.Module, schedule: NoiseSchedule, guide: torch.Tensor, strength: float, method: str = "ddim",
           steps: int | None = None, context=None, guidance: float = 1.0, seed: int = 0,
           progress: bool = False) -> torch.Tensor:
    """SDEdit (Meng et al. 2022): noise the guide x_0 (a sprite or a sketch, (C, S, S) or a batch) to t0,

        x_t0 = sqrt(alpha_bar_t0) x_0 + sqrt(1 - alpha_bar_t0) eps,  eps ~ N(0, I)   (q(x_t0 | x_0), `q_sample`),

    then run the sampler's remaining steps from t0 down to 0, with context c and guidance scale w if given.
    t0 is the largest of the sampler's timesteps at or below strength * (T - 1): DDPM starts at exactly
    round(strength * (T - 1)); DDIM with S steps runs the last (about) strength * S of its steps. Strength 0
    returns the guide; 1 noises it to T-1, where only sqrt(alpha_bar_(T-1)) of it (8% in the course's
    schedule) is left: from the data's mean image that is exactly how `sample` starts. In between, the
    lower the strength, the closer the result stays to the guide; the higher, the more it looks like data.
    Returns (n, C, S, S) on the CPU; seed fixes the noise."""
    check_strength(strength)
    x0 = check_images(guide, model, "guide")
    sampler = edit_sampler(schedule, method, steps)
    context = context_batch(context, len(x0), model, x0.device)
    check_guidance(guidance)
    if strength == 0:
        return finished(x0.clone())
    timesteps = [t for t in sampler.timesteps if t <= round(strength * (schedule.T - 1))]
    generator = torch.Generator().manual_seed(seed)
    eps = draw_noise(tuple(x0.shape), generator, x0.device)
    x = schedule.q_sample(x0, torch.full((len(x0),), timesteps[0], device=x0.device), eps)
    return finished(denoise(model, sampler, x, timesteps, generator, context, guidance, progress=progress))


def inpaint(model: nn.Module, schedule: NoiseSchedule, known: torch.Tensor, mask, method: str = "ddim",
            steps: int | None = None, context=None, guidance: float = 1.0, seed: int = 0,
            progress: bool = False) -> torch.Tensor:
    """Inpainting by replacement (RePaint, Lugmayr et al. 2022, without its resampling): with a mask m of
    1 (regenerate) and 0 (keep), before every step at timestep t

        x_t <- m * x_t + (1 - m) * x_t^known,   x_t^known = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps_t,

    the known image x_0 noised afresh to t (`q_sample`), so the model sees the kept region at the noise level it
    expects and draws the rest to fit it; after the last step the kept region is x_0 itself, exactly.
    RePaint's resampling (each step undone and redone r times) is left out: on 16 held-out sprites with their
    right half or centre regenerated, r = 3 or 5 did not bring the new region reliably closer to the real one
    (mean squared error 0.42 -> 0.40 and 0.19 -> 0.21 at DDIM 50, r = 3; 0.38 -> 0.52 and 0.19 -> 0.13 at
    DDIM 25, r = 5), for r times the model evaluations, and DDPM's 500 steps did no better than DDIM's 25.
    known: (C, S, S) or a batch; mask: (S, S) for all or (n, S, S). Returns (n, C, S, S) on the CPU."""
    x0 = check_images(known, model, "known image")
    m = check_mask(mask, len(x0), model.config.image_size, x0.device)
    sampler = edit_sampler(schedule, method, steps)
    context = context_batch(context, len(x0), model, x0.device)
    check_guidance(guidance)
    ts = sampler.timesteps
    generator = torch.Generator().manual_seed(seed)
    x = schedule.x_T_from_noise(draw_noise(tuple(x0.shape), generator, x0.device))

    def keep(i: int, x: torch.Tensor) -> torch.Tensor:
        t = torch.full((len(x0),), ts[i], device=x0.device)
        return m * x + (1 - m) * schedule.q_sample(x0, t, draw_noise(tuple(x0.shape), generator, x0.device))

    x = denoise(model, sampler, x, ts, generator, context, guidance, keep=keep, progress=progress)
    return finished(m * x + (1 - m) * x0)


@torch.no_grad()
def ddim_invert(model: nn.Module, schedule: NoiseSchedule, images: torch.Tensor, steps: int = 50, context=None,
                guidance: float = 1.0) -> torch.Tensor:
    """DDIM inversion: the x_T from which deterministic DDIM (eta = 0, `steps` steps) draws `images`. DDIM's
    update (Song et al. 2021, eq. 12) run the other way, from each timestep t to the next larger s of
    ddim_timesteps(T, steps), starting at the clean image (alpha_bar = 1) with t = 0's prediction:

        x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t),
        x_s = sqrt(alpha_bar_s) x0_hat + sqrt(1 - alpha_bar_s) eps,

    with eps = eps_theta(x_t, t, c): the noise predicted at x_t stands in for the one at x_s, which decoding uses,
    so the round trip is exact only as the steps get small. Returns x_T (n, C, S, S) on the CPU;
    `sample(model, DDIMSampler(schedule, steps), n, x_T=x_T)` decodes it."""
    x = check_images(images, model)
    sampler = DDIMSampler(schedule, steps)
    context = context_batch(context, len(x), model, x.device)
    check_guidance(guidance)
    abar = schedule.alpha_bar.tolist()
    up = sampler.timesteps[::-1]                                  # 0 < ... < T-1
    with eval_mode(model):
        for t, s in zip([None] + up[:-1], up):                    # t = None: the clean image, predicted at t = 0
            eps = predict_eps(model, x, t or 0, context, guidance)
            x0_hat = x if t is None else sampler.predict_x0(eps, t, x)
            x = math.sqrt(abar[s]) * x0_hat + math.sqrt(1 - abar[s]) * eps
    return finished(x)


def slerp(z0: torch.Tensor, z1: torch.Tensor, weights) -> torch.Tensor:
    """Spherical interpolation between two tensors of one shape (Shoemake 1985), as Song et al. (2021, sec. 5.3)
    interpolate between two x_T:

        slerp(z0, z1; a) = sin((1 - a) theta) / sin(theta) z0 + sin(a theta) / sin(theta) z1,
        cos(theta) = <z0, z1> / (|z0| |z1|).

    Gaussian noise lives near a sphere of radius sqrt(d); a straight line between two such points passes
    inside it (halfway, |z| shrinks by about 1/sqrt(2)), where the model never saw x_T, while slerp keeps the
    norm of equal-norm ends. Returns one interpolant per weight a (a = 0: z0, 1: z1), stacked: (k, *z0.shape).
    Parallel ends (theta = 0) fall back to the straight line."""
    if z0.shape != z1.shape:
        raise ValueError(f"slerp needs two tensors of one shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    a = torch.as_tensor(weights, dtype=z0.dtype, device=z0.device).reshape(-1, *[1] * z0.dim())
    if not torch.isfinite(a).all():
        raise ValueError("slerp weights must be finite numbers, e.g. torch.linspace(0, 1, 9)")
    cos = ((z0 * z1).sum() / (z0.norm() * z1.norm())).clamp(-1, 1)
    theta = torch.arccos(cos)
    if theta < 1e-4:
        return (1 - a) * z0 + a * z1
    return (torch.sin((1 - a) * theta) * z0 + torch.sin(a * theta) * z1) / torch.sin(theta)


def sketch(rows, palette: dict | None = None, size: int = 16) -> torch.Tensor:
    """A coarse sprite drawn with blocks of colour, the kind of guide SDEdit turns into a sprite: `rows` is a
    square grid of k rows of k entries, k dividing `size` (2, 4, 8 or 16), each entry a colour as matplotlib
    reads it ("white", "#ff8800", an (r, g, b) of floats in [0, 1]), or, with `palette`, a key of it; so a
    row can be a string: sketch(["wrrw", ...], {"w": "white", "r": "red"}). Each entry becomes a block of
    size/k x size/k pixels (nearest-neighbour enlargement). Returns (3, size, size) in model space."""
    from matplotlib.colors import to_rgb

    from .images import to_model_space

    k = len(rows)
    if k == 0 or size % k or any(len(row) != k for row in rows):
        raise ValueError(f"a sketch is a square grid of k rows of k colours, k dividing {size} (2, 4, 8 or 16); "
                         f"got {k} rows of lengths {[len(row) for row in rows]}")
    rgb = []
    for row in rows:
        for entry in row:
            if palette is not None and entry not in palette:
                raise ValueError(f"{entry!r} is not in the palette; its keys are {', '.join(map(repr, palette))}")
            colour = palette[entry] if palette is not None else entry
            try:
                rgb.append(to_rgb(colour))
            except ValueError:
                raise ValueError(f"{colour!r} is not a colour; use a name such as 'white', a hex code such as "
                                 f"'#ff8800', or an (r, g, b) of floats in [0, 1]") from None
    pixels = (torch.tensor(rgb) * 255).round().to(torch.uint8).T.reshape(3, k, k)
    block = size // k
    return to_model_space(pixels.repeat_interleave(block, 1).repeat_interleave(block, 2))


def read_picture(path, size: int = 16, mode: str = "RGB") -> np.ndarray:
    """A size x size picture (H, W[, C] uint8) from an image file of size x size pixels or an exact whole-number
    enlargement of one (every k x k block one colour, as the course draws sprites): every k-th pixel.
    Transparent pixels count as white, the sprites' background."""
    from PIL import Image

    with Image.open(path) as picture:
        rgba = picture.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert(mode)
    pixels = np.asarray(flat)
    h, w = pixels.shape[:2]
    if h != w or h % size:
        raise ValueError(f"{path} is {w}x{h} pixels: give a {size}x{size} sprite or an exact enlargement of one "
                         f"({2 * size}x{2 * size}, {4 * size}x{4 * size}, ...), not a grid of several")
    k = h // size
    small = pixels[::k, ::k]
    if not np.array_equal(small.repeat(k, 0).repeat(k, 1), pixels):
        raise ValueError(f"{path} is {w}x{h} pixels but not an exact {k}x enlargement of a {size}x{size} sprite "
                         f"(each {k}x{k} block must be one colour): enlarge with nearest neighbour, or give the "
                         f"{size}x{size} sprite")
    return small


def read_sprite(path, size: int = 16, channels: int = 3) -> torch.Tensor:
    """A sprite file (`read_picture`) in model space, (channels, size, size)."""
    from .images import to_model_space  # here, not above: the command line starts without torchvision

    pixels = torch.from_numpy(read_picture(path, size, "RGB" if channels == 3 else "L").copy())
    return to_model_space(pixels.permute(2, 0, 1) if channels == 3 else pixels[None])


def read_mask(path, size: int = 16) -> torch.Tensor:
    """An inpainting mask file (`read_picture`): white = regenerate (1), black = keep (0), nothing else."""
    grey = read_picture(path, size, "L")
    if not np.isin(grey, (0, 255)).all():
        raise ValueError(f"{path} holds grey or coloured pixels; a mask is pure white (regenerate) and pure black "
                         f"(keep) only: draw it without smoothing (anti-aliasing)")
    return torch.from_numpy(grey == 255).float()
