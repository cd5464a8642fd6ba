"""`make train`: rebuild every file the labs load, stage by stage, and log it.

Stages: the evaluation's sprite feature network (reused when it was trained on the same
dataset), then each diffusion model of the course (`config.course_recipe`), trained by
`training.train` (resumable from runs/) and exported by `export_weights` with its snapshots
and loss curve. Before the first stage `check_plan` checks what a run needs, so that it fails
in seconds rather than hours in. Each stage records the sha256 of the checkpoints it wrote in
the folder's MANIFEST; TRAINING_LOG.md (the machine, each stage's time, throughput, precision
and final loss) is written at the end.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import torch

from .checkpoints import check_manifest, load_checkpoint, save_checkpoint, update_manifest
from .config import DATA_DIR, RUNS_DIR, TRAINED_DIR, WEIGHTS_DIR, Recipe, course_recipe
from .data import ImageDataset, load_sprites
from .device import describe_machine
from .features import build_feature_net, load_feature_net
from .files import atomic_write, check_writable
from .model import UNet
from .training import TrainResult, check_dataset_fits, state_bytes, train
from .viz import loss_curve_figure, save_figure


def export_weights(result: TrainResult, recipe: Recipe, out_dir: str | Path, dataset: ImageDataset,
                   dtype: torch.dtype = torch.float16) -> list[Path]:
    """Write the EMA weights (out_dir/NAME.pt), the snapshots (NAME_step_XXXXXX.pt) in `dtype`, and the
    loss curve (NAME_loss.png). Every file carries its configs, the dataset's name, digest, label names and class mix,
    steps and seed, and the dataset's mean image (where sampling starts, `NoiseSchedule.x_T_from_noise`)."""
    out_dir = Path(out_dir)
    x0_mean = dataset.mean_image()
    meta = {"name": recipe.name, "dataset": dataset.name, "dataset_digest": dataset.digest,
            "label_names": list(dataset.label_names),
            "label_shares": dataset.context.mean(0).tolist(), "seed": recipe.train.seed, "steps": result.steps,
            "train": recipe.train.to_dict(), "final_loss": round(result.final_loss, 5),
            "images_per_second": round(result.images_per_second, 1), "train_seconds": round(result.seconds, 1),
            "precision": result.precision}
    written = [save_checkpoint(out_dir / f"{recipe.name}.pt", result.ema, recipe.schedule, meta=meta, dtype=dtype,
                               x0_mean=x0_mean)]
    for step, path in sorted(result.snapshots.items()):
        snapshot = load_checkpoint(path)
        written.append(save_checkpoint(out_dir / snapshot_name(recipe, step), snapshot.model, recipe.schedule,
                                       meta={**meta, "steps": step}, dtype=dtype, x0_mean=x0_mean))
    loss = "eps loss" if recipe.train.min_snr_gamma is None else f"Min-SNR-{recipe.train.min_snr_gamma:g} eps loss"
    fig = loss_curve_figure(result.losses, title=f"{recipe.name}: {loss} ({dataset.name})")
    written.append(save_figure(fig, out_dir / f"{recipe.name}_loss.png"))
    return written


def snapshot_name(recipe: Recipe, step: int) -> str:
    """The file of a recipe's EMA snapshot after `step` steps, NAME_step_XXXXXX.pt."""
    return f"{recipe.name}_step_{step:06d}.pt"


def default_name(dataset: ImageDataset) -> str:
    """The checkpoint name of a run on `dataset` when none is given: the dataset's name, for an image folder the
    folder's own (the last part of its path), with anything but letters, digits, _ . - replaced by _."""
    name = dataset.name
    if name.startswith("folder:"):
        name = Path(name.removeprefix("folder:")).resolve().name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "images"


def dataset_for(recipe: Recipe, dataset: ImageDataset) -> ImageDataset:
    """The data a recipe trains on: a model without context (context_dim=0) learns from the images alone."""
    return dataset.unlabelled() if recipe.model.context_dim == 0 and dataset.context_dim else dataset


def check_plan(recipe: Recipe, dataset: ImageDataset, out_dir: str | Path, run_root: str | Path,
               replace_shipped: bool = False) -> None:
    """What a run needs, checked before its first stage: the recipe's name is a plain file name and its model
    fits the dataset; every checkpoint that out_dir's MANIFEST lists still matches it; no checkpoint of the
    shipped weights (config.WEIGHTS_DIR) is replaced unless replace_shipped; both folders can be written, the
    run folder with room for two training states (the new one is written beside the old)."""
    out_dir = Path(out_dir)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", recipe.name):
        raise ValueError(f"name {recipe.name!r} must be a plain file name (letters, digits, _ . -), e.g. my_sprites")
    check_dataset_fits(recipe.model, dataset_for(recipe, dataset))
    check_manifest(out_dir)
    names = [f"{recipe.name}.pt"] + [snapshot_name(recipe, s) for s in recipe.train.snapshot_steps]
    shipped = [n for n in names if (out_dir / n).exists()] if out_dir.resolve() == WEIGHTS_DIR.resolve() else []
    if shipped and not replace_shipped:
        raise ValueError(f"refusing to replace the shipped {', '.join(shipped)} in {out_dir}: train into another "
                         f"folder (--out) or under another --name, or pass --force to replace them")
    check_writable(out_dir)
    check_writable(Path(run_root) / recipe.name, 2 * state_bytes(UNet(recipe.model)))


def train_recipe(recipe: Recipe, dataset: ImageDataset, out_dir: str | Path = TRAINED_DIR,
                 run_root: str | Path = RUNS_DIR, device: str | torch.device = "cpu", progress: bool = True,
                 force: bool = False) -> dict:
    """Check the plan, then train (resuming if possible) and export; returns the stage's log row.
    force: replace checkpoints of the shipped weights (`python -m course_lib train` rebuilds them without it)."""
    check_plan(recipe, dataset, out_dir, run_root, replace_shipped=force)
    return recipe_stage(recipe, dataset, out_dir, run_root, device, progress)


def recipe_stage(recipe: Recipe, dataset: ImageDataset, out_dir: str | Path, run_root: str | Path,
                 device: str | torch.device, progress: bool) -> dict:
    """Train (resuming if possible), export the weights, record them in the MANIFEST; returns the stage's log row."""
    started = time.perf_counter()
    dataset = dataset_for(recipe, dataset)
    result = train(recipe.model, recipe.schedule, recipe.train, dataset, Path(run_root) / recipe.name, device=device,
                   progress=progress, name=recipe.name)
    files = export_weights(result, recipe, out_dir, dataset)
    update_manifest(out_dir, [p for p in files if p.suffix == ".pt"])
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
        update_manifest(out_dir, [features])
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


def train_course(out_dir: str | Path = WEIGHTS_DIR, data_dir: str | Path = DATA_DIR, run_root: str | Path = RUNS_DIR,
                 device: str | torch.device = "cpu", steps: int | None = None, progress: bool = True) -> Path:
    """`make train` (`python -m course_lib train`): rebuild every file the labs load from data/ (the shipped
    weights included: that is its purpose), and log each stage to out_dir/TRAINING_LOG.md."""
    started, out_dir = time.perf_counter(), Path(out_dir)
    recipe = course_recipe() if steps is None else course_recipe(steps)
    dataset = load_sprites(data_dir, "train", verify=True)
    check_plan(recipe, dataset, out_dir, run_root, replace_shipped=True)
    rows = [feature_net_stage(out_dir, data_dir, dataset, device, progress),
            recipe_stage(recipe, dataset, out_dir, run_root, device, progress)]
    log = out_dir / "TRAINING_LOG.md"
    with atomic_write(log) as tmp:
        tmp.write_text(training_log(rows, dataset, device, time.perf_counter() - started))
    return log
