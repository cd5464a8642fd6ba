"""Training the noise predictor: the loss and the loop.

The simplified objective of Ho et al. 2020 (eq. 14): pick a random timestep and noise,
make x_t in closed form, and regress the noise,

    L = E_{x_0, t, eps} || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t, c) ||^2.

`train` runs the loop with context masking, AdamW with warm-up and cosine decay, an EMA of
the weights, optional bfloat16 autocast, a progress bar, and a resumable state written
atomically every few minutes or steps, and on Ctrl-C or SIGTERM; before the first step it
checks that the run folder can be written and has room for the state. Every random draw of
step k comes from a generator seeded with (seed, k) (`seeding`), so a run that is stopped and
resumed ends with exactly the weights of an uninterrupted run. Exporting the weights and the `make train`
pipeline live in `pipeline`.
"""
from __future__ import annotations

import copy
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import load_weights, read_checkpoint_file, save_checkpoint, save_payload
from .config import ModelConfig, ScheduleConfig, TrainConfig
from .data import ImageDataset
from .device import autocast, use_bf16
from .files import check_writable
from .model import UNet
from .schedules import NoiseSchedule
from .seeding import derived_generator

STATE_FORMAT = "course_lib.train-state/1"
LOG_EVERY = 25  # steps between loss read-backs (each one waits for the device)


def mask_context(context: torch.Tensor, p_uncond: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Context masking for classifier-free guidance: replace each row by zeros ("no context")
    with probability p_uncond, so one model learns eps(x_t, t, c) and eps(x_t, t, 0)."""
    keep = torch.rand(context.shape[0], 1, generator=generator, device=context.device) >= p_uncond
    return context * keep


def min_snr_weight(schedule: NoiseSchedule, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weights of the eps loss (Hang et al. 2023), w_t = min(SNR(t), gamma) / SNR(t):
    1 where SNR(t) <= gamma (noisy steps), gamma / SNR(t) below 1 on the nearly clean ones."""
    snr = schedule.signal_to_noise().to(t.device)[t]
    return (snr.clamp(max=gamma) / snr).float()


def diffusion_loss(model: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, context: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, min_snr_gamma: float | None = None) -> torch.Tensor:
    """Mean squared error between the true noise eps and eps_theta(x_t, t, c) at uniformly drawn t,
    L = mean_i w_(t_i) ||eps_i - eps_theta(x_(t_i), t_i, c_i)||^2 / (C H W), with w = 1 (Ho et al. 2020) or,
    given min_snr_gamma, the Min-SNR weights w_t = min(SNR(t), gamma) / SNR(t).
    t and eps come from `generator` (on its own device) and are moved to x0's device."""
    gen_device = generator.device if generator is not None else x0.device
    t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator, device=gen_device).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=gen_device).to(x0.device, x0.dtype)
    x_t = schedule.q_sample(x0, t, eps)
    if min_snr_gamma is None:
        return F.mse_loss(model(x_t, t, context).float(), eps)
    per_image = (model(x_t, t, context).float() - eps).pow(2).mean(dim=(1, 2, 3))
    return (min_snr_weight(schedule, t, min_snr_gamma) * per_image).mean()


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr over cfg.warmup_steps, then cosine decay to 0 at cfg.steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def ema_decay(step: int, cfg: TrainConfig) -> float:
    """EMA decay with a warm-up, min(decay, (1 + step) / (10 + step)), so early averages forget the random init."""
    return min(cfg.ema_decay, (1 + step) / (10 + step))


def final_loss(losses: list[float], last: int = 100) -> float:
    """The loss a run is reported by: the mean of its last `last` steps (one step's loss is too noisy)."""
    tail = losses[-last:]
    return sum(tail) / len(tail) if tail else math.nan


@dataclass
class TrainResult:
    """What a finished (or resumed-to-the-end) run leaves: the EMA model and its history."""

    ema: UNet
    losses: list[float]
    steps: int
    seconds: float
    images_per_second: float
    run_dir: Path
    precision: str = "fp32"
    snapshots: dict[int, Path] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return final_loss(self.losses)


class GracefulInterrupt:
    """Turn the first Ctrl-C (SIGINT) or SIGTERM (a job scheduler, `kill`, a closing terminal) into a flag
    checked between steps, so a step is never cut in half and the state is saved; a second one acts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: str | None = None  # the name of the signal that asked to stop
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.requested = signal.Signals(signum).name
        self.__exit__()

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def state_bytes(model: nn.Module) -> int:
    """About the size of a saved training state: the weights, their EMA and AdamW's two moments, four float32
    numbers per parameter, with a margin (25 % and 1 MB) for buffers, the losses and the file format."""
    return int(4 * 4 * sum(p.numel() for p in model.parameters()) * 1.25) + 2 ** 20


def check_dataset_fits(model_config: ModelConfig, dataset: ImageDataset) -> None:
    """The dataset's images and context width must be what the model is built for."""
    m = model_config
    if dataset.context_dim != m.context_dim:
        raise ValueError(f"the dataset {dataset.name!r} has context width {dataset.context_dim} but the model was "
                         f"configured with context_dim={m.context_dim}")
    if (dataset.channels, dataset.image_size) != (m.channels, m.image_size):
        raise ValueError(f"the dataset has {dataset.channels}x{dataset.image_size}x{dataset.image_size} images but "
                         f"the model expects {m.channels}x{m.image_size}x{m.image_size}")


class LossLog:
    """Losses stay on the device until `flush` reads them back in one go (every LOG_EVERY steps), which
    also advances the progress bar and stops the run on a non-finite loss."""

    def __init__(self, losses: list[float], bar, name: str, cfg: TrainConfig):
        self.losses, self.bar, self.name, self.cfg = losses, bar, name, cfg
        self.pending: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor, step: int, seconds: float) -> None:
        self.pending.append(loss.detach())
        if len(self.pending) == LOG_EVERY:
            self.flush(step, seconds)

    def flush(self, step: int, seconds: float) -> None:
        if not self.pending:
            return
        values = torch.stack(self.pending).tolist()
        self.pending.clear()
        if not all(math.isfinite(v) for v in values):
            raise FloatingPointError(
                f"the loss of {self.name} became {values[-1]} near step {step}; nothing was saved after the last "
                f"good checkpoint. Lower the learning rate (now {self.cfg.lr}) or train in float32 "
                f"(precision='fp32'), then run again to resume.")
        self.losses.extend(values)
        self.bar.update(len(values))
        self.bar.set_postfix(loss=f"{sum(values) / len(values):.4f}",
                             img_s=f"{step * self.cfg.batch_size / seconds:.0f}")


def train_step(model: UNet, ema: UNet, optimizer: torch.optim.Optimizer, schedule: NoiseSchedule, batch,
               step: int, cfg: TrainConfig, bf16: bool) -> torch.Tensor:
    """One optimiser step on a batch (x0, c): mask the context, set the learning rate, take the loss and its
    gradient (clipped), step AdamW, and move the EMA toward the new weights. Returns the loss (on the device)."""
    g = derived_generator(cfg.seed, step)
    x0, c = batch
    c = mask_context(c, cfg.p_uncond, g).to(x0.device) if c.shape[1] else None
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(step, cfg)
    with autocast(x0.device, bf16):
        loss = diffusion_loss(model, schedule, x0, c, generator=g, min_snr_gamma=cfg.min_snr_gamma)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - ema_decay(step, cfg))
    return loss


def train(model_config: ModelConfig, schedule_config: ScheduleConfig, train_config: TrainConfig,
          dataset: ImageDataset, run_dir: str | Path, device: str | torch.device = "cpu", progress: bool = True,
          stop_at: int | None = None, name: str = "model") -> TrainResult:
    """Train (or resume training) a U-Net on `dataset`; the resumable state lives in run_dir/state.pt.

    stop_at: stop after this step as if interrupted (the state is saved); used to test resuming.
    Raises OSError before the first step when run_dir cannot be written or lacks room for two states (the new
    one is written beside the old), FloatingPointError, before anything is saved, when the loss stops being
    finite, and KeyboardInterrupt after saving the state on Ctrl-C or SIGTERM.
    """
    cfg, device, state_path = train_config, torch.device(device), Path(run_dir) / "state.pt"
    check_dataset_fits(model_config, dataset)
    configs = {"model": model_config.to_dict(), "schedule": schedule_config.to_dict(), "train": cfg.to_dict(),
               "dataset": dataset.name, "dataset_digest": dataset.digest}
    torch.manual_seed(cfg.seed)
    model = UNet(model_config).to(device)
    check_writable(state_path.parent, 2 * state_bytes(model))
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = NoiseSchedule(schedule_config)
    step, losses, seconds = resume_state(state_path, configs, model, ema, optimizer)

    bar = tqdm(total=cfg.steps, initial=step, desc=name, disable=not progress, unit="step")
    log = LossLog(losses, bar, name, cfg)
    snapshots = {s: state_path.with_name(f"snapshot_{s:06d}.pt") for s in cfg.snapshot_steps}
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    batches = dataset.sample_batches(cfg.batch_size, seed=cfg.seed, start_step=step, device=device)
    bf16 = use_bf16(cfg.precision, device)
    last_save = time.monotonic()
    model.train()
    with GracefulInterrupt() as interrupt:
        while step < end and not interrupt.requested:
            started = time.perf_counter()
            loss = train_step(model, ema, optimizer, schedule, next(batches), step, cfg, bf16)
            step += 1
            seconds += time.perf_counter() - started
            log.add(loss, step, seconds)
            if step in snapshots:
                log.flush(step, seconds)
                save_checkpoint(snapshots[step], ema, schedule_config, meta={"step": step, **configs})
            if step < end and (step % cfg.checkpoint_every == 0 or
                               time.monotonic() - last_save > cfg.checkpoint_seconds):
                log.flush(step, seconds)
                save_state(state_path, configs, step, losses, seconds, model, ema, optimizer)
                last_save = time.monotonic()
        log.flush(step, seconds)
        save_state(state_path, configs, step, losses, seconds, model, ema, optimizer)
    bar.close()
    if interrupt.requested:
        print(f"interrupted ({interrupt.requested}): {name} saved at step {step} in {state_path}; "
              f"run the same command again to resume")
        raise KeyboardInterrupt
    return TrainResult(ema=ema.eval(), losses=losses, steps=step, seconds=seconds,
                       images_per_second=step * cfg.batch_size / seconds if seconds else 0.0,
                       run_dir=state_path.parent, precision="bf16" if bf16 else "fp32",
                       snapshots={s: p for s, p in snapshots.items() if p.exists()})


def save_state(path: Path, configs: dict, step: int, losses: list[float], seconds: float, model: UNet, ema: UNet,
               optimizer: torch.optim.Optimizer) -> None:
    """Write everything a resumed run needs, atomically: a failed write leaves the previous state as it was."""
    save_payload({"format": STATE_FORMAT, "step": step, "losses": losses, "seconds": seconds, "configs": configs,
                  "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict()}, path)


def resume_state(path: Path, configs: dict, model: UNet, ema: UNet,
                 optimizer: torch.optim.Optimizer) -> tuple[int, list[float], float]:
    """Load a saved state into the model, EMA and optimiser when `path` exists; returns (step, losses, seconds)
    to continue from ((0, [], 0.0) for a fresh run). A state of a run with other settings is refused."""
    if not path.exists():
        return 0, [], 0.0
    state = read_checkpoint_file(path, STATE_FORMAT)
    if state["configs"] != configs:
        changed = sorted(k for k in configs if state["configs"].get(k) != configs[k])
        raise ValueError(f"{path} holds a run with different settings ({', '.join(changed)}); "
                         f"delete {path.parent} to start afresh, or use another run folder")
    load_weights(model, state["model"], str(path))
    load_weights(ema, state["ema"], str(path))
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], list(state["losses"]), state["seconds"]
