"""Every setting of the course in one place, as dataclasses.

A checkpoint stores `ModelConfig` and `ScheduleConfig` beside the weights
(`to_dict` / `from_dict`), so a model is always rebuilt with the exact
architecture and noise schedule it was trained with.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

# The project's folders, found from the installed package, so the labs work from any directory.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = PROJECT_ROOT / "weights"  # the shipped checkpoints the labs load
DATA_DIR = PROJECT_ROOT / "data"
RUNS_DIR = PROJECT_ROOT / "runs"        # resumable training states
TRAINED_DIR = PROJECT_ROOT / "trained"  # checkpoints of models trained on other data

SUPPORTED_IMAGE_SIZES = (16, 28, 32, 64)
SUPPORTED_CHANNELS = (1, 3)
# How the up path doubles the resolution (`model.Upsample`).
UPSAMPLE_ORDERS = ("conv_then_nearest", "nearest_then_conv")
# "auto": bfloat16 autocast where a timing probe finds it faster than float32 on the device (`device.use_bf16`).
PRECISIONS = ("auto", "bf16", "fp32")


def check_precision(precision: str) -> None:
    """Raise a clear error unless `precision` is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(map(repr, PRECISIONS))} "
                         f"(auto: bf16 where it is measured faster than float32 on this machine)")


class _Serialisable:
    """to_dict / from_dict through plain JSON-safe types (tuples become lists)."""

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} got unknown fields {unknown}; known fields are {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class ModelConfig(_Serialisable):
    """The U-Net noise predictor eps_theta(x_t, t, c).

    image_size, channels: the images it denoises (16 px RGB for the sprites).
    base_channels, channel_mults: width at each resolution; len(channel_mults) levels,
        the image is halved between levels (16 -> 8 -> 4 for three levels).
    blocks_per_level: residual blocks per level on the way down (one more on the way up).
    attention_levels: indices of the levels whose residual blocks get a self-attention layer; the middle
        block (at the lowest resolution) always has one.
    context_dim: width of the context vector c (5 one-hot labels for the sprites,
        10 for MNIST digits, 0 for none). An all-zeros c means "no context".
    groups: GroupNorm groups. dropout: in the residual blocks.
    upsample: "conv_then_nearest" runs the up path's 3x3 convolution at the low resolution and then
        repeats every pixel 2x2 (a quarter of the convolution's work); "nearest_then_conv" repeats first
        and convolves at the high resolution, as in Ho et al. 2020.
    """

    image_size: int = 16
    channels: int = 3
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    blocks_per_level: int = 1
    attention_levels: tuple[int, ...] = ()
    context_dim: int = 5
    groups: int = 8
    dropout: float = 0.0
    upsample: str = "conv_then_nearest"

    @classmethod
    def from_dict(cls, d: dict):
        """Files written before `upsample` existed all repeated pixels first, then convolved."""
        return super().from_dict({"upsample": "nearest_then_conv", **d})

    def __post_init__(self):
        if self.upsample not in UPSAMPLE_ORDERS:
            raise ValueError(f"upsample={self.upsample!r} must be one of {', '.join(map(repr, UPSAMPLE_ORDERS))}")
        if self.image_size not in SUPPORTED_IMAGE_SIZES:
            raise ValueError(f"image_size={self.image_size} is not supported; use one of {SUPPORTED_IMAGE_SIZES}")
        if self.channels not in SUPPORTED_CHANNELS:
            raise ValueError(f"channels={self.channels} is not supported; use 1 (grey) or 3 (RGB)")
        if not self.channel_mults or any(m < 1 for m in self.channel_mults):
            raise ValueError(f"channel_mults={self.channel_mults} must be a non-empty tuple of positive integers")
        if self.image_size % 2 ** (len(self.channel_mults) - 1):
            raise ValueError(
                f"image_size={self.image_size} cannot be halved {len(self.channel_mults) - 1} times; "
                f"use fewer levels in channel_mults={self.channel_mults}")
        bad = [i for i in self.attention_levels if not 0 <= i < len(self.channel_mults)]
        if bad:
            raise ValueError(f"attention_levels {bad} out of range for {len(self.channel_mults)} levels")
        widths = [self.base_channels * m for m in self.channel_mults]
        if any(w % self.groups for w in widths):
            raise ValueError(f"channel widths {widths} must all be divisible by groups={self.groups}")
        if self.context_dim < 0 or self.blocks_per_level < 1:
            raise ValueError("context_dim must be >= 0 and blocks_per_level >= 1")


@dataclass(frozen=True)
class ScheduleConfig(_Serialisable):
    """The noise schedule of the forward process.

    name: a key of `schedules.BETA_SCHEDULES`: "linear" (beta from beta_start to beta_end, as in
        Ho et al. 2020 and the original course: 1e-4 to 0.02 over T=500) or "cosine" (Nichol & Dhariwal 2021).
    T: number of diffusion steps; timesteps are t = 0, ..., T-1 (t = 0 is the
        least noisy step, x_0 is the data).
    cosine_s: the small offset s of the cosine schedule.
    """

    name: str = "linear"
    T: int = 500
    beta_start: float = 1e-4
    beta_end: float = 0.02
    cosine_s: float = 0.008

    def __post_init__(self):
        if not isinstance(self.T, int) or self.T < 1:
            raise ValueError(f"T={self.T!r} must be a positive integer number of diffusion steps")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {self.beta_start} and {self.beta_end}")


@dataclass(frozen=True)
class TrainConfig(_Serialisable):
    """One training run of the noise predictor.

    steps, batch_size: optimiser steps and images per step.
    lr, warmup_steps: AdamW learning rate, reached linearly over the warm-up, then a cosine decay to 0.
    ema_decay: the weights the course ships are an exponential moving average of the trained
        ones, theta_ema <- decay * theta_ema + (1 - decay) * theta.
    p_uncond: context masking, the chance that a training image's context is replaced by zeros
        ("no context"); it teaches one model both eps(x_t, t, c) and eps(x_t, t, 0), which
        classifier-free guidance needs.
    min_snr_gamma: Min-SNR-gamma loss weighting (Hang et al. 2023): image i's squared error is weighted by
        w_t = min(SNR(t), gamma) / SNR(t), so the many nearly clean timesteps (SNR above gamma, t below
        about 95 of 500) stop dominating the gradient; None trains on the plain eps loss of Ho et al.
    precision: "auto" (bfloat16 autocast where a short timing probe finds it faster than float32 on the
        device at hand, float32 elsewhere; see `device`), "bf16" or "fp32".
    snapshot_steps: steps after which the EMA weights are also saved, for lab 2's "how samples improve".
    checkpoint_seconds, checkpoint_every: the resumable training state is written every checkpoint_seconds
        and every checkpoint_every steps, whichever comes first (and on Ctrl-C or SIGTERM).
    """

    steps: int = 10000
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    p_uncond: float = 0.1
    min_snr_gamma: float | None = 5.0
    precision: str = "auto"
    seed: int = 0
    snapshot_steps: tuple[int, ...] = ()
    checkpoint_seconds: float = 180.0
    checkpoint_every: int = 500

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError(f"steps={self.steps}, batch_size={self.batch_size} and "
                             f"checkpoint_every={self.checkpoint_every} must be positive")
        if not 0 <= self.p_uncond < 1:
            raise ValueError(f"p_uncond={self.p_uncond} must lie in [0, 1)")
        if self.min_snr_gamma is not None and not self.min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma={self.min_snr_gamma} must be positive, or None for the plain eps loss")
        check_precision(self.precision)
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay={self.ema_decay} must lie in [0, 1)")
        bad = [s for s in self.snapshot_steps if not 1 <= s <= self.steps]
        if bad:
            raise ValueError(f"snapshot_steps {bad} must lie in 1..steps={self.steps}")


@dataclass(frozen=True)
class Recipe:
    """A named training run: the model, its schedule and how it is trained.
    `course_recipe()` is the run whose weights the labs load."""

    name: str
    model: ModelConfig
    schedule: ScheduleConfig
    train: TrainConfig


# The guidance scale w the labs and the evaluation use by default (eps_u + w (eps_c - eps_u)).
DEFAULT_GUIDANCE = 2.0
# The scale w of autoguidance (eps_guide + w (eps - eps_guide)) for unconditional samples, the guide being
# the model's last shipped snapshot. Chosen by FID on DDIM 25 (weights/EVALUATION.md has the scores).
DEFAULT_AUTOGUIDANCE = 2.5
# The step counts `make evaluate` runs every sampler that takes one at: the few-evaluation end of the FID-against-
# NFE curve (Heun evaluates 2 steps - 1 times) and the labs' 25.
EVALUATION_STEP_COUNTS = (6, 8, 12, 25)


# The course's recipes keep EMA snapshots after 1/30, 1/6 and 1/3 of their steps, so they need 30 steps at least.
COURSE_MIN_STEPS = 30


def course_snapshot_steps(steps: int) -> tuple[int, ...]:
    """The steps after which a course recipe keeps an EMA snapshot: 1/30, 1/6 and 1/3 of its `steps`."""
    if steps < COURSE_MIN_STEPS:
        raise ValueError(f"the course recipes need at least {COURSE_MIN_STEPS} steps (they keep snapshots after "
                         f"1/30, 1/6 and 1/3 of them); got steps={steps}")
    return steps // 30, steps // 6, steps // 3


def course_recipe(steps: int = 9000) -> Recipe:
    """The shipped context model: context-masked, so with context zeros it is also the unconditional
    model; EMA snapshots early, after a sixth and after a third of training, for lab 2."""
    return Recipe(name="context", model=ModelConfig(), schedule=ScheduleConfig(),
                  train=TrainConfig(steps=steps, snapshot_steps=course_snapshot_steps(steps)))
