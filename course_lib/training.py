"""Training the noise predictor.

The simplified objective of Ho et al. 2020 (eq. 14): pick a random timestep and noise,
make x_t in closed form, and regress the noise,

    L = E_{x_0, t, eps} || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t, c) ||^2.

`train` runs the loop with context masking, AdamW with warm-up and cosine decay, an EMA of
the weights, optional bfloat16 autocast, progress bars, and a resumable state written
atomically every few minutes and on Ctrl-C. Every random draw of step k comes from
generators seeded with (seed, k), so a run that is stopped and resumed ends with exactly
the weights of an uninterrupted run.
"""
from __future__ import annotations

import copy
import math
import os
import platform
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import load_checkpoint, load_weights, read_checkpoint_file, save_checkpoint, write_manifest
from .config import ModelConfig, Recipe, ScheduleConfig, TrainConfig, course_recipe
from .data import ImageDataset
from .files import atomic_write
from .model import UNet
from .samplers import autocast_bf16, has_native_bf16
from .schedules import NoiseSchedule
from .viz import loss_curve_figure, save_figure

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


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator for every random draw of one training step."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


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


class GracefulInterrupt:
    """Turn the first Ctrl-C (SIGINT) into a flag checked between steps, so a step is never cut in half;
    a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(model_config: ModelConfig, schedule_config: ScheduleConfig, train_config: TrainConfig,
          dataset: ImageDataset, run_dir: str | Path, device: str | torch.device = "cpu", progress: bool = True,
          stop_at: int | None = None, name: str = "model") -> TrainResult:
    """Train (or resume training) a U-Net on `dataset`; the resumable state lives in run_dir/state.pt.

    stop_at: stop after this step as if interrupted (the state is saved); used to test resuming.
    Raises FloatingPointError, before anything is saved, when the loss stops being finite,
    and KeyboardInterrupt after saving the state when Ctrl-C was pressed.
    """
    cfg, device, run_dir = train_config, torch.device(device), Path(run_dir)
    state_path = run_dir / "state.pt"
    if dataset.context_dim != model_config.context_dim:
        raise ValueError(f"the dataset {dataset.name!r} has context width {dataset.context_dim} but the model was "
                         f"configured with context_dim={model_config.context_dim}")
    if (dataset.channels, dataset.image_size) != (model_config.channels, model_config.image_size):
        raise ValueError(f"the dataset has {dataset.channels}x{dataset.image_size}x{dataset.image_size} images but "
                         f"the model expects {model_config.channels}x{model_config.image_size}x{model_config.image_size}")
    configs = {"model": model_config.to_dict(), "schedule": schedule_config.to_dict(), "train": cfg.to_dict(),
               "dataset": dataset.name, "dataset_digest": dataset.digest}

    torch.manual_seed(cfg.seed)
    model = UNet(model_config).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = NoiseSchedule(schedule_config)
    step, losses, seconds = 0, [], 0.0
    if state_path.exists():
        state = read_checkpoint_file(state_path, STATE_FORMAT)
        if state["configs"] != configs:
            changed = sorted(k for k in configs if state["configs"].get(k) != configs[k])
            raise ValueError(f"{state_path} holds a run with different settings ({', '.join(changed)}); "
                             f"delete {run_dir} to start afresh, or use another run folder")
        load_weights(model, state["model"], str(state_path))
        load_weights(ema, state["ema"], str(state_path))
        optimizer.load_state_dict(state["optimizer"])
        step, losses, seconds = state["step"], list(state["losses"]), state["seconds"]

    pending: list[torch.Tensor] = []
    bar = tqdm(total=cfg.steps, initial=step, desc=name, disable=not progress, unit="step")

    def flush():
        """Read the pending losses back from the device; stop on a non-finite one."""
        if not pending:
            return
        values = torch.stack(pending).tolist()
        pending.clear()
        if not all(math.isfinite(v) for v in values):
            raise FloatingPointError(
                f"the loss of {name} became {values[-1]} near step {step}; nothing was saved after the last good "
                f"checkpoint. Lower the learning rate (now {cfg.lr}) or train in float32 (precision='fp32'), then run "
                f"again to resume.")
        losses.extend(values)
        bar.update(len(values))
        bar.set_postfix(loss=f"{sum(values) / len(values):.4f}", img_s=f"{step * cfg.batch_size / seconds:.0f}")

    def save_state():
        flush()
        payload = {"format": STATE_FORMAT, "step": step, "losses": losses, "seconds": seconds, "configs": configs,
                   "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict()}
        with atomic_write(state_path) as tmp:
            torch.save(payload, tmp)

    snapshots = {s: run_dir / f"snapshot_{s:06d}.pt" for s in cfg.snapshot_steps}
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    batches = dataset.sample_batches(cfg.batch_size, seed=cfg.seed, start_step=step, device=device)
    bf16 = autocast_bf16(device, cfg.precision)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    last_save = time.monotonic()
    model.train()
    with GracefulInterrupt() as interrupt:
        while step < end and not interrupt.requested:
            started = time.perf_counter()
            g = step_generator(cfg.seed, step)
            x0, c = next(batches)
            c = mask_context(c, cfg.p_uncond, g).to(device) if c.shape[1] else None
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, cfg)
            with autocast:
                loss = diffusion_loss(model, schedule, x0, c, generator=g, min_snr_gamma=cfg.min_snr_gamma)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            with torch.no_grad():
                torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - ema_decay(step, cfg))
            pending.append(loss.detach())
            step += 1
            seconds += time.perf_counter() - started
            if len(pending) == LOG_EVERY:
                flush()
            if step in snapshots:
                flush()
                save_checkpoint(snapshots[step], ema, schedule_config, meta={"step": step, **configs})
            if time.monotonic() - last_save > cfg.checkpoint_seconds:
                save_state()
                last_save = time.monotonic()
        save_state()
    bar.close()
    if interrupt.requested:
        print(f"interrupted: {name} saved at step {step} in {state_path}; run the same command again to resume")
        raise KeyboardInterrupt
    return TrainResult(ema=ema.eval(), losses=losses, steps=step, seconds=seconds,
                       images_per_second=step * cfg.batch_size / seconds if seconds else 0.0, run_dir=run_dir,
                       precision="bf16" if bf16 else "fp32",
                       snapshots={s: p for s, p in snapshots.items() if p.exists()})


def export_weights(result: TrainResult, recipe: Recipe, out_dir: str | Path, dataset: ImageDataset,
                   dtype: torch.dtype = torch.float16) -> list[Path]:
    """Write the EMA weights (out_dir/NAME.pt), the snapshots (NAME_step_XXXXXX.pt) in `dtype`, and the
    loss curve (NAME_loss.png). Every file carries its configs, the dataset digest, steps and seed, and the
    dataset's mean image (where sampling starts, `NoiseSchedule.x_T_from_noise`)."""
    out_dir = Path(out_dir)
    x0_mean = dataset.mean_image()
    tail = result.losses[-100:]
    meta = {"name": recipe.name, "dataset": dataset.name, "dataset_digest": dataset.digest, "seed": recipe.train.seed,
            "steps": result.steps, "train": recipe.train.to_dict(), "final_loss": round(sum(tail) / len(tail), 5),
            "images_per_second": round(result.images_per_second, 1), "train_seconds": round(result.seconds, 1),
            "precision": result.precision}
    written = [save_checkpoint(out_dir / f"{recipe.name}.pt", result.ema, recipe.schedule, meta=meta, dtype=dtype,
                               x0_mean=x0_mean)]
    for step, path in sorted(result.snapshots.items()):
        snapshot = load_checkpoint(path)
        written.append(save_checkpoint(out_dir / f"{recipe.name}_step_{step:06d}.pt", snapshot.model, recipe.schedule,
                                       meta={**meta, "steps": step}, dtype=dtype, x0_mean=x0_mean))
    loss = "eps loss" if recipe.train.min_snr_gamma is None else f"Min-SNR-{recipe.train.min_snr_gamma:g} eps loss"
    fig = loss_curve_figure(result.losses, title=f"{recipe.name}: {loss} ({dataset.name})")
    written.append(save_figure(fig, out_dir / f"{recipe.name}_loss.png"))
    return written


def train_recipe(recipe: Recipe, dataset: ImageDataset, out_dir: str | Path = "weights", run_root: str | Path = "runs",
                 device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Train (resuming if possible), export the weights, refresh the MANIFEST; returns the stage's log row."""
    started = time.perf_counter()
    result = train(recipe.model, recipe.schedule, recipe.train, dataset, Path(run_root) / recipe.name, device=device,
                   progress=progress, name=recipe.name)
    files = export_weights(result, recipe, out_dir, dataset)
    write_manifest(out_dir)
    tail = result.losses[-100:]
    return {"stage": f"diffusion model `{recipe.name}`", "steps": result.steps, "batch": recipe.train.batch_size,
            "wall_seconds": round(time.perf_counter() - started, 1), "train_seconds": round(result.seconds, 1),
            "images_per_second": round(result.images_per_second, 1), "final_loss": round(sum(tail) / len(tail), 4),
            "precision": result.precision, "files": [p.name for p in files]}


def describe_machine(device: torch.device | str = "cpu") -> str:
    """CPU model, cores and threads (and the GPU when training on one), for logs and benchmark tables."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    cpu = models[0] if models else platform.processor() or "unknown CPU"
    bf16 = "native bf16" if has_native_bf16("cpu") else "no native bf16"
    text = (f"{cpu} ({torch.backends.cpu.get_cpu_capability()}, {bf16}), {os.cpu_count()} cores, "
            f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    if torch.device(device).type == "cuda":
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def train_course(out_dir: str | Path = "weights", data_dir: str | Path = "data", run_root: str | Path = "runs",
                 device: str | torch.device = "cpu", steps: int | None = None, progress: bool = True) -> Path:
    """`make train`: rebuild every file the labs load, from data/, and log each stage to out_dir/TRAINING_LOG.md.
    Stages: the evaluation's sprite feature network, then the context model (resumable)."""
    from .data import load_sprites
    from .evaluation import build_feature_net, load_feature_net

    started = time.perf_counter()
    out_dir = Path(out_dir)
    dataset = load_sprites(data_dir, "train", verify=True)
    rows = []

    features = out_dir / "features.pt"
    t0 = time.perf_counter()
    try:
        reused = load_feature_net(features).meta.get("dataset_digest") == dataset.digest
    except (FileNotFoundError, ValueError):
        reused = False
    if not reused:
        build_feature_net(data_dir, features, progress=progress, device=device)
    rows.append({"stage": "sprite feature network (evaluation)" + (" (reused: same dataset)" if reused else ""),
                 "wall_seconds": round(time.perf_counter() - t0, 1), "files": [features.name]})

    recipe = course_recipe() if steps is None else course_recipe(steps)
    rows.append(train_recipe(recipe, dataset, out_dir, run_root, device, progress))
    total = time.perf_counter() - started
    write_manifest(out_dir)

    lines = ["# Training log", "",
             f"`make train` on {describe_machine(device)}, device {device}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Dataset: {dataset.name}, {len(dataset)} images, digest `{dataset.digest}`.", "",
             "| stage | steps | batch | precision | wall time | training time | images/s | "
             "final loss (mean of last 100) | files |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r.get('steps', '')} | {r.get('batch', '')} | {r.get('precision', 'fp32')} | "
                     f"{r['wall_seconds']:.0f} s | {r.get('train_seconds', '')} | {r.get('images_per_second', '')} | "
                     f"{r.get('final_loss', '')} | {', '.join(r['files'])} |")
    lines += ["", f"Total wall time: {total / 60:.1f} min. A resumed run counts only the time of its last "
                  "invocation here; the model's training time (`training time`) adds up across resumes."]
    log = out_dir / "TRAINING_LOG.md"
    with atomic_write(log) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return log
