"""The course's evaluation run: sample every checkpoint, measure the samples, write the report.

`run_evaluation` fixes one sample count n and draws, with the run's `seed`, two disjoint halves of the
test split. Half A is the reference every FID is measured against. Half B gives the floor,
FID(half B, half A): a model whose samples were as good as fresh data would score about the floor.
FID is biased upwards at small n (`metrics`), so every FID of one report uses n samples against the
same n reference sprites. Half B also gives the labels of the labelled samples, so that they come in
the data's class mix, which FID sees too, and the memorisation baseline: fresh sprites' near-copy share.

Each checkpoint is sampled with every sampler of `samplers.SAMPLERS` (`evaluation_runs`), once per
sampling seed k of `seeds`: batch b of seed k starts from `seeding.derived_seed(k, b)`, so all samplers
start from the same x_T and a rerun reproduces the numbers. A row's FID is the mean and sample sd of
its per-seed FIDs (`metrics.mean_sd`); its other measures pool the samples of all its seeds. Samples
are quantised to the 8-bit pixels they would be saved as (`images.quantize`), the path real sprites
take to the feature net. The Markdown report (weights/EVALUATION.md), EVALUATION.json and the pictures
pixel_art.png and fid_vs_nfe.png beside it hold the same numbers; `report` renders the page and reads the
numbers back for the labs without recomputing anything.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import sprites
from .checkpoints import load_checkpoint
from .config import DEFAULT_AUTOGUIDANCE, DEFAULT_GUIDANCE, EVALUATION_STEP_COUNTS, PROJECT_ROOT
from .data import load_sprites
from .device import autocast, describe_machine, module_device, pick_device, use_bf16
from .features import (IMAGE_SHAPE, INCEPTION_SKIPPED, extract_features, inception_feature_fn,
                       load_feature_net)
from .files import atomic_write
from .images import as_model_space, quantize
from .metrics import (MAX_COLOUR_RATIO, MIN_EXACT_WHITE, NEAR_COPY_FACTOR, class_accuracy, distinct_per_label, fid,
                      mean_sd, near_copy_stats, near_copy_threshold, nearest_distances, pixel_art_stats)
from .report import CURVES, FAST_METHOD, QUICK_STEPS, markdown_report, quality_bars, quality_vs_nfe
from .samplers import SAMPLERS, make_sampler, sample, sampler_options
from .seeding import derived_seed
from .viz import comparison_figure, fid_vs_nfe_figure, save_figure

SEED_BATCH = 500  # images per random stream: batch b of sampling seed k starts from derived_seed(k, b)
MODEL_BATCH = 250  # the most images the model sees in one call (see generate)
PICTURE = "pixel_art.png"
PICTURE_SPRITES, PICTURE_SCALE = 32, 5


class ChunkedModel(nn.Module):
    """`model` run on at most `max_batch` images per call: forward(x, t, c) concatenates model(x[i:j], t[i:j],
    c[i:j]) over consecutive chunks. In eval mode each image's prediction depends on that image alone, so
    chunks change only the floating-point rounding of batched kernels. Exposes the model's `config`."""

    def __init__(self, model: nn.Module, max_batch: int):
        super().__init__()
        self.model, self.max_batch, self.config = model, max_batch, model.config
        self.train(model.training)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        def rows(v, i):
            return v[i:i + self.max_batch] if isinstance(v, torch.Tensor) and v.dim() and len(v) == len(x) else v
        return torch.cat([self.model(x[i:i + self.max_batch], *(rows(a, i) for a in args),
                                     **{k: rows(v, i) for k, v in kwargs.items()})
                          for i in range(0, len(x), self.max_batch)])


@torch.no_grad()
def generate(model: nn.Module, sampler, n: int, context: torch.Tensor | None = None, guidance: float = 1.0,
             seed: int = 0, batch_size: int = SEED_BATCH, bf16: bool = False, progress: bool = False,
             desc: str = "sampling", guide: nn.Module | None = None, model_batch: int = MODEL_BATCH) -> torch.Tensor:
    """n samples, quantised to 8-bit pixels (model space). Batch b (images b * batch_size onwards) starts from
    the seed derived_seed(seed, b), so every sampler starts from the same x_T and a rerun reproduces the
    numbers: the images depend on (seed, batch_size), which fix the random streams.

    model_batch caps the batch the model (and the guide) evaluates per call, whatever batch_size and
    guidance do: classifier-free guidance runs the model on a doubled batch (the labelled and the
    context-free halves), so a chunk of batch_size images would reach the model as 2 x batch_size. A
    CPU samples fastest per image at a middling model batch (too small wastes the vector units, too large
    overflows the caches), and MODEL_BATCH sits in the middle of the range where the course's machine is
    fastest: guided or not, and at any batch_size, the model then runs at that size. The cap changes
    no image beyond floating-point rounding (`ChunkedModel`; rarely, a pixel by one 8-bit level), so a
    device where larger batches are faster may raise it and reproduce a report up to that rounding."""
    device, out = module_device(model), []
    model = ChunkedModel(model, model_batch)
    guide = None if guide is None else ChunkedModel(guide, model_batch)
    for b, start in enumerate(tqdm(range(0, n, batch_size), desc=desc, disable=not progress, unit="batch")):
        ctx = None if context is None else context[start:start + batch_size]
        with autocast(device, bf16):
            x = sample(model, sampler, min(batch_size, n - start), context=ctx, guidance=guidance, guide=guide,
                       seed=derived_seed(seed, b), progress=progress).images
        out.append(quantize(x))
    return torch.cat(out)


def takes_steps(method: str) -> bool:
    """Whether the sampler SAMPLERS[method] runs a chosen number of steps (DDIM) rather than all T (DDPM)."""
    return "steps" in sampler_options(method)


def evaluation_runs(labelled: bool, guided: bool, step_counts, T: int) -> list[tuple[str, str, int | None]]:
    """(mode, method, steps) of every row of one model, the methods being the keys of `samplers.SAMPLERS`.
    In the model's main mode (cond for label models, else uncond): every sampler, those that take a step
    count at each of step_counts and QUICK_STEPS (at most T). Then each sampler once (at QUICK_STEPS where
    it takes a count) unconditionally (context zeros) for label models, and unconditionally with
    autoguidance for models that have a guide."""
    quick = min(QUICK_STEPS, T)
    counts = [k for k in sorted(set(step_counts) | {quick}) if k <= T]

    def settings(step_choices):
        return [(m, k) for m in SAMPLERS for k in (step_choices if takes_steps(m) else [None])]

    main = "cond" if labelled else "uncond"
    extra_modes = (["uncond"] if labelled else []) + (["autoguided"] if guided else [])
    return [(main, m, k) for m, k in settings(counts)] + [(mode, m, k) for mode in extra_modes
                                                          for m, k in settings([quick])]


def shown_path(path) -> str:
    """A file as the report names it: relative to the project when inside it, so that a report reads the same
    whichever folder the project was cloned to."""
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _checked_paths(weights: dict, guides: dict | None) -> tuple[dict[str, Path], dict[str, Path]]:
    paths = {name: Path(p) for name, p in weights.items()}
    guides = {name: Path(p) for name, p in (guides or {}).items()}
    unknown = sorted(set(guides) - set(paths))
    if unknown:
        raise ValueError(f"guides given for {unknown}, which are not among the evaluated weights {sorted(paths)}")
    missing = [f"{name}: {p}" for name, p in [*paths.items(), *guides.items()] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoints not found ({'; '.join(missing)}): fix the paths, or rebuild the course's "
                                f"weights with `python -m course_lib train` (make train)")
    return paths, guides


def _checked_seeds(seeds, side_seeds: int) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) < len(seeds) or any(isinstance(k, bool) or not isinstance(k, int) or k < 0
                                                        for k in seeds):
        raise ValueError(f"seeds={seeds!r} must be one or more distinct integers >= 0")
    if isinstance(side_seeds, bool) or not isinstance(side_seeds, int) or side_seeds < 1:
        raise ValueError(f"side_seeds={side_seeds!r} must be an integer >= 1")
    return seeds


def run_evaluation(weights: dict, feature_net_path, data_dir="data", n: int = 1000, seed: int = 0,
                   out="weights/EVALUATION.md", device=None, progress: bool = True,
                   guidance: float = DEFAULT_GUIDANCE, step_counts=EVALUATION_STEP_COUNTS, batch_size: int = SEED_BATCH,
                   precision: str = "auto", guides: dict | None = None, autoguidance: float = DEFAULT_AUTOGUIDANCE,
                   seeds=(0, 1, 2), side_seeds: int = 1, model_batch: int = MODEL_BATCH) -> dict:
    """Evaluate checkpoints {name: path} at one sample count n and write `out` (Markdown), EVALUATION.json
    and pixel_art.png beside it (atomically). Returns the JSON's dict. See the module docstrings of
    `evaluation` (the run) and `metrics` (the measures).

    seed: the reference split and the memorisation baseline. seeds: the sampling seeds; every row of a
    model's main path (labels for a label model, else unconditional) is sampled once per seed, the other
    rows (context zeros, autoguided: diagnostics, among them the slowest rows) with the first side_seeds.
    guidance: classifier-free guidance of the labelled samples. guides: {name: path of a weaker snapshot}
    adds unconditional rows autoguided by it with scale `autoguidance` (`samplers.predict_eps`).
    step_counts: the step counts of the samplers that take one (`evaluation_runs`).
    batch_size: images per random stream; model_batch: the most images per model call (`generate`).
    precision: "auto" samples under bfloat16 autocast where `device.use_bf16` finds bf16 faster than
    float32 on this device, in float32 elsewhere; "bf16" or "fp32" force one. bf16 rounding shifts the
    FIDs a little, so compare reports made at one precision."""
    started = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2 (FID needs a covariance)")
    seeds = _checked_seeds(seeds, side_seeds)
    paths, guides = _checked_paths(weights, guides)
    device = torch.device(device) if device is not None else pick_device()
    bf16 = use_bf16(precision, device)
    net = load_feature_net(feature_net_path, device)
    train, test = load_sprites(data_dir, "train"), load_sprites(data_dir, "test")
    if 2 * n > len(test):
        raise ValueError(f"n={n} needs two disjoint halves of the test split, but it has only {len(test)} sprites: "
                         f"use n <= {len(test) // 2}")
    times: dict[str, float] = {}
    inception = inception_feature_fn(device)
    extractors = {"fid": lambda x: extract_features(net, x)}
    if inception is not None:
        extractors["inception_fid"] = inception

    def tick(part: str, since: float) -> float:
        times[part] = round(time.perf_counter() - since, 1)
        return time.perf_counter()

    t = time.perf_counter()
    perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    ref, held = test.subset(perm[:n]), test.subset(perm[n:2 * n])
    train_n = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]]
    ref_feats = {key: f(ref.images) for key, f in extractors.items()}
    reference = {f"floor_{key}": fid(f(held.images), ref_feats[key]) for key, f in extractors.items()}
    reference["train_vs_test_fid"] = fid(extract_features(net, train_n), ref_feats["fid"])
    floor = reference["floor_fid"]
    data_pixels = pixel_art_stats(held.images)
    t = tick("reference FIDs", t)
    tau = near_copy_threshold(train.images, seed=seed, progress=progress)
    baseline = near_copy_stats(nearest_distances(held.images, train.images, progress=progress), tau)
    memorisation = {"threshold": tau, "factor": NEAR_COPY_FACTOR, "test_share": baseline.share,
                    "test_median_distance": baseline.median_distance}
    t = tick("memorisation baseline", t)

    def measure(xs: list[torch.Tensor], labels: torch.Tensor | None) -> dict:
        """Per-seed FIDs as mean, sd and values; near-copies, class accuracy and fidelity of all seeds pooled."""
        row = {}
        for key, f in extractors.items():
            values = [fid(f(x), ref_feats[key]) for x in xs]
            row[key], row[f"{key}_sd"] = mean_sd(values)
            row[f"{key}s"] = values
        pooled = torch.cat(xs)
        copies = near_copy_stats(nearest_distances(pooled, train.images), tau)
        row.update(fid_ratio=row["fid"] / floor, fid_ratio_sd=None if row["fid_sd"] is None else row["fid_sd"] / floor,
                   near_copy_share=copies.share, near_copy_excess=copies.share - baseline.share,
                   median_distance=copies.median_distance)
        if labels is not None:
            row["class_accuracy"] = class_accuracy(net, pooled, labels.repeat(len(xs), 1))
        return {**row, "pixel_art": pixel_art_stats(pooled, data_pixels)}

    models, pictures = {}, {}
    for name, path in paths.items():
        ckpt = load_checkpoint(path, device)
        cfg = ckpt.model.config
        if (cfg.channels, cfg.image_size) != IMAGE_SHAPE[:2]:
            raise ValueError(f"{path} generates {cfg.channels}x{cfg.image_size}x{cfg.image_size} images; the feature "
                             f"net evaluates 3x16x16 sprites only")
        labelled = cfg.context_dim == len(sprites.LABEL_NAMES)
        guide = load_checkpoint(guides[name], device).model if name in guides else None
        main, fast = "cond" if labelled else "uncond", (FAST_METHOD, min(QUICK_STEPS, ckpt.schedule.T))
        models[name] = entry = {"path": shown_path(path), "context_dim": cfg.context_dim, "T": ckpt.schedule.T,
                                "mean_image_start": ckpt.schedule.x0_mean is not None, "runs": []}
        for mode, method, steps in evaluation_runs(labelled, guide is not None, step_counts, ckpt.schedule.T):
            t = time.perf_counter()
            sampler = make_sampler(ckpt.schedule, method, steps=steps)
            cond, guided = mode == "cond", mode == "autoguided"
            w = guidance if cond else autoguidance if guided else 1.0
            row_seeds = list(seeds if mode == main else seeds[:side_seeds])
            nfe = len(sampler.timesteps)
            label = f"{name} {mode} {method} {steps or nfe}"
            xs = [generate(ckpt.model, sampler, n, held.context if cond else None, w, k, batch_size, bf16, progress,
                           desc=f"{label} seed {k}", guide=guide if guided else None, model_batch=model_batch)
                  for k in row_seeds]
            run = {"mode": mode, "sampler": method, "steps": steps or nfe, "nfe": nfe,
                   "guidance": w if cond or guided else None, "seeds": row_seeds}
            if guided:
                run["guide"] = shown_path(guides[name])
            run.update(measure(xs, held.context if cond else None))
            if mode == main and (method, steps) == fast:
                title = f"{name}: {SAMPLERS[method].title} {steps}" + (f", labels w={w}" if cond else "")
                pictures[title] = (xs[0], run)
                if cond:
                    entry["diversity"] = {"sampler": method, "steps": steps, "seed": row_seeds[0], "guidance": w,
                                          "samples": distinct_per_label(net, xs[0], held.context),
                                          "data": distinct_per_label(net, held.images, held.context)}
            run["seconds"] = round(time.perf_counter() - t, 1)
            times[label] = run["seconds"]
            entry["runs"].append(run)

    out = Path(out)
    pixel_art = {"data": data_pixels, "max_colour_ratio": MAX_COLOUR_RATIO, "min_exact_white": MIN_EXACT_WHITE,
                 "picture": PICTURE, "picture_rows": list(pictures)}
    write_pixel_art(out.with_name(PICTURE), held.images, data_pixels, pictures)
    times["total"] = round(time.perf_counter() - started, 1)
    result = {"settings": {"n": n, "seed": seed, "seeds": list(seeds), "side_seeds": min(side_seeds, len(seeds)),
                           "guidance": guidance, "step_counts": list(step_counts), "batch_size": batch_size,
                           "model_batch": model_batch, "bf16": bf16, "device": str(device),
                           "data_dir": shown_path(data_dir),
                           "dataset_digest": train.digest, "feature_net": shown_path(feature_net_path),
                           "feature_net_meta": net.meta, "torch": torch.__version__,
                           "machine": describe_machine(device)},
              "reference": reference, "memorisation": memorisation, "pixel_art": pixel_art,
              "inception": "computed" if inception is not None else INCEPTION_SKIPPED,
              "models": models, "seconds": times}
    result["bars"] = quality_bars(result)
    save_figure(fid_vs_nfe_figure({name: quality_vs_nfe(result, name) for name in models}), out.with_name(CURVES))
    with atomic_write(out) as tmp:
        tmp.write_text(markdown_report(result))
    with atomic_write(out.with_name("EVALUATION.json")) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _fidelity_caption(stats: dict) -> str:
    white = stats["exact_white"]
    return f"binned colours {stats['binned_colours_mean']:.1f}, exact white {'-' if white is None else f'{white:.0%}'}"


def write_pixel_art(path, held_images: torch.Tensor, data_stats: dict, pictures: dict) -> Path:
    """pixel_art.png: the first PICTURE_SPRITES held-out sprites beside the first as many samples of each
    entry of pictures {title: (samples, their row)}, the labelled samples having the held-out sprites' labels;
    every sprite pixel PICTURE_SCALE x PICTURE_SCALE screen pixels, in its exact colour."""
    batches = {"held-out sprites": as_model_space(held_images[:PICTURE_SPRITES])}
    captions = {"held-out sprites": _fidelity_caption(data_stats)}
    for title, (x, run) in pictures.items():
        batches[title], captions[title] = x[:PICTURE_SPRITES], _fidelity_caption(run["pixel_art"])
    return save_figure(comparison_figure(batches, captions, nrow=8, scale=PICTURE_SCALE), path)
