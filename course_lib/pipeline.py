"""`make train`: rebuild every file the labs load, stage by stage, and log it.

Stages: the evaluation's sprite feature network (reused when it was trained on the same
dataset), then each diffusion model of the course (`config.course_recipe`), trained by
`training.train` (resumable from runs/) and exported by `export_weights` with its snapshots
and loss curve. The folder's MANIFEST (sha256 of every checkpoint) and TRAINING_LOG.md (the
machine, each stage's time, throughput, precision and final loss) are rewritten at the end.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from .checkpoints import load_checkpoint, save_checkpoint, write_manifest
from .config import Recipe, course_recipe
from .data import ImageDataset, load_sprites
from .device import describe_machine
from .features import build_feature_net, load_feature_net
from .files import atomic_write
from .training import TrainResult, train
from .viz import loss_curve_figure, save_figure


def export_weights(result: TrainResult, recipe: Recipe, out_dir: str | Path, dataset: ImageDataset,
                   dtype: torch.dtype = torch.float16) -> list[Path]:
    """Write the EMA weights (out_dir/NAME.pt), the snapshots (NAME_step_XXXXXX.pt) in `dtype`, and the
    loss curve (NAME_loss.png). Every file carries its configs, the dataset's name, digest and label names,
    steps and seed, and the dataset's mean image (where sampling starts, `NoiseSchedule.x_T_from_noise`)."""
    out_dir = Path(out_dir)
    x0_mean = dataset.mean_image()
    meta = {"name": recipe.name, "dataset": dataset.name, "dataset_digest": dataset.digest,
            "label_names": list(dataset.label_names), "seed": recipe.train.seed, "steps": result.steps,
            "train": recipe.train.to_dict(), "final_loss": round(result.final_loss, 5),
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
    return {"stage": f"diffusion model `{recipe.name}`", "steps": result.steps, "batch": recipe.train.batch_size,
            "wall_seconds": round(time.perf_counter() - started, 1), "train_seconds": round(result.seconds, 1),
            "images_per_second": round(result.images_per_second, 1), "final_loss": round(result.final_loss, 4),
            "precision": result.precision, "files": [p.name for p in files]}


def feature_net_stage(out_dir: Path, data_dir: str | Path, dataset: ImageDataset, device, progress: bool) -> dict:
    """Train the evaluation's feature network unless out_dir/features.pt was trained on this very dataset."""
    features, started = out_dir / "features.pt", time.perf_counter()
    try:
        reused = load_feature_net(features).meta.get("dataset_digest") == dataset.digest
    except (FileNotFoundError, ValueError):
        reused = False
    if not reused:
        build_feature_net(data_dir, features, progress=progress, device=device)
    return {"stage": "sprite feature network (evaluation)" + (" (reused: same dataset)" if reused else ""),
            "wall_seconds": round(time.perf_counter() - started, 1), "files": [features.name]}


def training_log(rows: list[dict], dataset: ImageDataset, device, total_seconds: float) -> str:
    """TRAINING_LOG.md: the machine, the dataset, and one table row per stage."""
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
    lines += ["", f"Total wall time: {total_seconds / 60:.1f} min. A resumed run counts only the time of its last "
                  "invocation here; the model's training time (`training time`) adds up across resumes."]
    return "\n".join(lines) + "\n"


def train_course(out_dir: str | Path = "weights", data_dir: str | Path = "data", run_root: str | Path = "runs",
                 device: str | torch.device = "cpu", steps: int | None = None, progress: bool = True) -> Path:
    """`make train` (`python -m course_lib train`): rebuild every file the labs load from data/, and log each
    stage to out_dir/TRAINING_LOG.md."""
    started, out_dir = time.perf_counter(), Path(out_dir)
    dataset = load_sprites(data_dir, "train", verify=True)
    recipe = course_recipe() if steps is None else course_recipe(steps)
    rows = [feature_net_stage(out_dir, data_dir, dataset, device, progress),
            train_recipe(recipe, dataset, out_dir, run_root, device, progress)]
    write_manifest(out_dir)
    log = out_dir / "TRAINING_LOG.md"
    with atomic_write(log) as tmp:
        tmp.write_text(training_log(rows, dataset, device, time.perf_counter() - started))
    return log
