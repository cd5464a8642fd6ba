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
take to the feature net. The Markdown report (weights/EVALUATION.md), EVALUATION.json and the picture
pixel_art.png beside it hold the same numbers; `read_report` and `quality_vs_steps` read them back for
the labs without recomputing anything.
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
from .config import DEFAULT_AUTOGUIDANCE, DEFAULT_GUIDANCE, WEIGHTS_DIR
from .data import load_sprites
from .device import autocast, describe_machine, module_device, pick_device, use_bf16
from .features import (IMAGE_SHAPE, INCEPTION_SKIPPED, extract_features, inception_feature_fn,
                       load_feature_net)
from .files import atomic_write
from .images import as_model_space, quantize
from .metrics import (COLOUR_BIN, MAX_COLOUR_RATIO, MIN_EXACT_WHITE, NEAR_COPY_FACTOR, NEAR_WHITE, class_accuracy,
                      distinct_per_label, fid, mean_sd, near_copy_stats, near_copy_threshold, nearest_distances,
                      pixel_art_stats)
from .samplers import SAMPLERS, make_sampler, sample, sampler_options
from .seeding import derived_seed
from .viz import comparison_figure, save_figure

QUICK_STEPS = 25  # the step count of the extra rows (unconditional, autoguided) for samplers that take one
SEED_BATCH = 500  # images per random stream: batch b of sampling seed k starts from derived_seed(k, b)
MODEL_BATCH = 250  # the most images the model sees in one call (see generate)
REFERENCE_METHOD, FAST_METHOD = "ddpm", "ddim"  # the bars' rows: all T steps, and QUICK_STEPS steps
FLOOR_BAR, FAST_BAR, ACCURACY_BAR, EXCESS_BAR = 2.0, 1.25, 0.95, 2.0  # x floor, x DDPM, per label, points
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
                   guidance: float = DEFAULT_GUIDANCE, ddim_steps=(10, 25, 50, 100), batch_size: int = SEED_BATCH,
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
    ddim_steps: the step counts of the samplers that take one (`evaluation_runs`).
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
        models[name] = entry = {"path": str(path), "context_dim": cfg.context_dim, "T": ckpt.schedule.T,
                                "mean_image_start": ckpt.schedule.x0_mean is not None, "runs": []}
        for mode, method, steps in evaluation_runs(labelled, guide is not None, ddim_steps, ckpt.schedule.T):
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
                run["guide"] = str(guides[name])
            run.update(measure(xs, held.context if cond else None))
            if mode == main and (method, steps) == fast:
                pictures[f"{name}: {method.upper()} {steps}" + (f", labels w={w}" if cond else "")] = (xs[0], run)
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
                           "guidance": guidance, "ddim_steps": list(ddim_steps), "batch_size": batch_size,
                           "model_batch": model_batch, "bf16": bf16, "device": str(device), "data_dir": str(data_dir),
                           "dataset_digest": train.digest, "feature_net": str(feature_net_path),
                           "feature_net_meta": net.meta, "torch": torch.__version__,
                           "machine": describe_machine(device)},
              "reference": reference, "memorisation": memorisation, "pixel_art": pixel_art,
              "inception": "computed" if inception is not None else INCEPTION_SKIPPED,
              "models": models, "seconds": times}
    result["bars"] = quality_bars(result)
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


def _title(run: dict) -> str:
    return f"{run['sampler'].upper()}-{run['steps']}"


def quality_bars(r: dict) -> dict[str, list[dict]]:
    """The team's bars on each model's main path, from the FID means: FID(DDPM) <= FLOOR_BAR x floor,
    FID(DDIM, QUICK_STEPS) <= FAST_BAR x FID(DDPM), for label models class accuracy >= ACCURACY_BAR for
    every label at DDIM, and a near-copy excess <= EXCESS_BAR points on both rows.
    {model: [{"bar", "value", "sd", "limit", "unit", "met"}]}; unit "share" is a lower bound, the others upper."""
    bars = {}
    for name, m in r["models"].items():
        main = [run for run in m["runs"] if run["mode"] == m["runs"][0]["mode"]]
        ref = next((run for run in main if run["sampler"] == REFERENCE_METHOD), None)
        fast = next((x for x in main if (x["sampler"], x["steps"]) == (FAST_METHOD, min(QUICK_STEPS, m["T"]))), None)
        out = []
        if ref:
            out.append({"bar": f"{_title(ref)} FID <= {FLOOR_BAR:g} x floor", "value": ref["fid"],
                        "sd": ref["fid_sd"], "limit": FLOOR_BAR * r["reference"]["floor_fid"], "unit": "FID"})
        if ref and fast:
            out.append({"bar": f"{_title(fast)} FID <= {FAST_BAR:g} x {_title(ref)} FID", "value": fast["fid"],
                        "sd": fast["fid_sd"], "limit": FAST_BAR * ref["fid"], "unit": "FID"})
        if fast and "class_accuracy" in fast:
            worst = min((k for k in fast["class_accuracy"] if k != "all"), key=fast["class_accuracy"].get)
            out.append({"bar": f"{_title(fast)} class accuracy >= {ACCURACY_BAR:.0%} for every label (lowest: "
                               f"{worst})", "value": fast["class_accuracy"][worst], "sd": None,
                        "limit": ACCURACY_BAR, "unit": "share"})
        out += [{"bar": f"{_title(run)} near-copy excess <= {EXCESS_BAR:g} points",
                 "value": 100 * run["near_copy_excess"], "sd": None, "limit": EXCESS_BAR, "unit": "points"}
                for run in (ref, fast) if run]
        bars[name] = [{**b, "met": b["value"] >= b["limit"] if b["unit"] == "share" else b["value"] <= b["limit"]}
                      for b in out]
    return bars


def _pm(mean: float, sd: float | None, digits: int = 3) -> str:
    return f"{mean:.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}")


def _context(run: dict) -> str:
    return {"cond": f"labels, w={run['guidance']}",
            "autoguided": f"none, guided by {Path(run.get('guide', '')).stem}, w={run['guidance']}"}.get(run["mode"],
                                                                                                      "none")


def _bar_cells(b: dict) -> str:
    """The value and limit cells of one bar."""
    if b["unit"] == "FID":
        return f"{_pm(b['value'], b['sd'])} | {b['limit']:.3f}"
    if b["unit"] == "share":
        return f"{b['value']:.1%} | {b['limit']:.0%}"
    return f"{b['value']:+.1f} | {b['limit']:g}"


def markdown_report(r: dict) -> str:
    """The Markdown page of a run_evaluation result."""
    s, ref, mem, px = r["settings"], r["reference"], r["memorisation"], r["pixel_art"]
    inc = "floor_inception_fid" in ref
    start_mu = ", ".join(name for name, m in r["models"].items() if m.get("mean_image_start")) or "none"
    seeds, side = s["seeds"], s["seeds"][:s["side_seeds"]]
    lines = [
        "# Evaluation of the course's weights", "",
        f"Generated by `course_lib.evaluation.run_evaluation`: n = {s['n']} samples per row and sampling seed; "
        f"sampling seeds {', '.join(map(str, seeds))} for every row of a model's main path (with labels for a "
        f"labelled model, unconditional otherwise), seed{'s' if len(side) > 1 else ''} {', '.join(map(str, side))} "
        f"for the other rows; seed {s['seed']} for the reference split and the memorisation baseline. Guidance "
        f"{s['guidance']} for labelled samples, random streams of {s['batch_size']} images, model batches of at "
        f"most {s['model_batch']}, {'bfloat16 autocast' if s['bf16'] else 'float32'} sampling on {s['device']}. "
        f"The same numbers are in EVALUATION.json.", "", f"Machine: {s['machine']}.", "",
        "## Reference: real data against real data", "",
        "FID is biased upwards at small n, so every FID here uses n samples against the same n reference "
        "sprites (test half A, drawn with the seed): the floor compares the other n test sprites (half B) "
        "with half A, so a model whose samples were as good as fresh data would score about the floor. "
        "Against all test sprites the models' FIDs would drop but the floor could not (it needs two disjoint "
        "sets), and the ratios would flatter the models.", "",
        "| comparison | sprite-feature FID |" + (" Inception FID |" if inc else ""),
        "|---|---|" + ("---|" if inc else ""),
        f"| floor: test half B vs test half A | {ref['floor_fid']:.3f} |"
        + (f" {ref['floor_inception_fid']:.3f} |" if inc else ""),
        f"| {s['n']} training sprites vs test half A | {ref['train_vs_test_fid']:.3f} |" + (" |" if inc else ""), "",
        r["inception"] if not inc else "Inception FID: torchvision's Inception-v3 pool features, from the local "
                                       "weights file (never downloaded).", "",
        "## Bars", "",
        f"Each model's main path against the team's bars: FID means (± sd over the seeds), class accuracy and "
        f"near-copy excess of all seeds pooled, at DDPM (all T steps) and DDIM at {QUICK_STEPS} steps (T if "
        "fewer).", "",
        "| model | bar | value | limit | met |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {b['bar']} | {_bar_cells(b)} | {'yes' if b['met'] else '**no**'} |"
              for name, bars in r["bars"].items() for b in bars]
    lines += [
        "", "## Models", "",
        "FID against test half A, mean ± sd over the row's sampling seeds (sd with k - 1 normalisation; the "
        "per-seed values are in EVALUATION.json); x floor = FID / floor. The other columns pool the samples of "
        "all the row's seeds. NFE: model evaluations per sample (Heun evaluates twice per step). Near-copies: "
        "share of samples whose nearest training sprite is closer than tau (see Memorisation); excess: that "
        "share minus the held-out sprites' share, in percentage points; nearest: median distance to the nearest "
        "training sprite. Sampling starts from x_T = sqrt(alpha_bar_T) mu + sqrt(1 - alpha_bar_T) z, with mu "
        "the training data's mean image, for the models whose checkpoint carries mu "
        "(`NoiseSchedule.x_T_from_noise`), and from z ~ N(0, I) otherwise. Starting from the mean image: "
        f"{start_mu}. Context none: context zeros; guided by a snapshot: autoguidance, eps = eps_guide + "
        "w (eps - eps_guide), the guide being an earlier snapshot of the same model (Karras et al. 2024)."]
    for name, m in r["models"].items():
        kind = f"{m['context_dim']} labels" if m["context_dim"] else "no labels"
        lines += ["", f"### {name}", "", f"`{m['path']}`: {kind}, T = {m['T']}.", "",
                  "| context | sampler | steps | NFE | seeds | FID | x floor |" + (" Inception FID |" if inc else "")
                  + " near-copies | excess | nearest | class accuracy | seconds |",
                  "|---|---|---|---|---|---|---|" + ("---|" if inc else "") + "---|---|---|---|---|"]
        for run in m["runs"]:
            acc = run.get("class_accuracy", {}).get("all")
            lines.append(f"| {_context(run)} | {run['sampler'].upper()} | {run['steps']} | {run['nfe']} | "
                         f"{', '.join(map(str, run['seeds']))} | {_pm(run['fid'], run['fid_sd'])} | "
                         f"{_pm(run['fid_ratio'], run['fid_ratio_sd'], 2)} |"
                         + (f" {_pm(run['inception_fid'], run['inception_fid_sd'])} |" if inc else "")
                         + f" {run['near_copy_share']:.1%} | {100 * run['near_copy_excess']:+.1f} | "
                         f"{run['median_distance']:.2f} | {'-' if acc is None else f'{acc:.1%}'} | {run['seconds']} |")
    labelled = [(name, run) for name, m in r["models"].items() for run in m["runs"] if "class_accuracy" in run]
    if labelled:
        lines += ["", "## Class accuracy per label", "",
                  "Share of the samples generated with each label (labels drawn in the test split's class mix, "
                  "all the row's seeds pooled) that the feature net's label head classifies as that label.", "",
                  "| model | sampler | steps | " + " | ".join(sprites.LABEL_NAMES) + " |",
                  "|---|---|---|" + "---|" * len(sprites.LABEL_NAMES)]
        lines += [f"| {name} | {run['sampler'].upper()} | {run['steps']} | "
                  + " | ".join(f"{run['class_accuracy'][k]:.1%}" if k in run["class_accuracy"] else "-"
                               for k in sprites.LABEL_NAMES) + " |"
                  for name, run in labelled]
    diverse = {name: m["diversity"] for name, m in r["models"].items() if "diversity" in m}
    if diverse:
        lines += ["", "## Diversity per label", "",
                  "Per label, the number of distinct templates and of distinct palettes the feature net's template "
                  "and palette heads predict among the samples of that label, against as many held-out sprites of "
                  "that label (test half B, whose labels the samples were drawn with).", "",
                  "| model | samples | label | sprites | templates: samples / data | palettes: samples / data |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {name} | {d['sampler'].upper()} {d['steps']}, w={d['guidance']}, seed {d['seed']} | {label} | "
                  f"{c['sprites']} | {c['template']} / {d['data'][label]['template']} | "
                  f"{c['palette']} / {d['data'][label]['palette']} |"
                  for name, d in diverse.items() for label, c in d["samples"].items()]
    lines += ["", "## Pixel-art fidelity", "",
              "Sprites are a few flat colours on an exact white background. Colours: distinct 8-bit RGB colours per "
              f"sprite; binned: the same with each channel cut to value // {COLOUR_BIN} (32 levels), so shades "
              f"within {COLOUR_BIN} levels merge; median / mean over the sprites. Exact white: among the near-white "
              f"pixels (every channel >= {NEAR_WHITE}), the share that is exactly (255, 255, 255). Samples of all "
              f"the row's seeds pooled; the data: test half B. Goals: binned colours (mean) at most "
              f"{px['max_colour_ratio']:g} x the data's, exact white at least {px['min_exact_white']:.0%}.", "",
              f"![held-out sprites beside samples, seed {seeds[0]}: {'; '.join(px['picture_rows'])}]"
              f"({px['picture']})", "",
              "| source | colours median / mean | binned median / mean | binned x data | exact white | goals |",
              "|---|---|---|---|---|---|"]
    rows = [("held-out sprites (test half B)", px["data"])] + [
        (f"{name}, {_context(run)}, {run['sampler'].upper()} {run['steps']}", run["pixel_art"])
        for name, m in r["models"].items() for run in m["runs"]]
    for source, p in rows:
        white = "-" if p["exact_white"] is None else f"{p['exact_white']:.1%}"
        goals = "-" if "goals_met" not in p else "met" if p["goals_met"] else "**not met**"
        lines.append(f"| {source} | {p['colours_median']:g} / {p['colours_mean']:.1f} | "
                     f"{p['binned_colours_median']:g} / {p['binned_colours_mean']:.1f} | "
                     f"{p.get('colour_ratio', 1):.2f} | {white} | {goals} |")
    lines += ["", "## Memorisation", "",
              f"tau = {mem['factor']} x the median distance from a training sprite to its nearest other training "
              f"sprite = {mem['threshold']:.3f} (L2 over the 768 model-space values; one pixel turned from black to "
              f"white is 3.46). Held-out test sprites, which no model has seen, are near-copies at a rate of "
              f"{mem['test_share']:.1%} (median distance to their nearest training sprite "
              f"{mem['test_median_distance']:.2f}): the procedural set repeats near-twins (same template, palette and "
              "pose, different colour jitter). That is the baseline: a model that generalises like fresh data "
              "sits near it, memorisation shows as a share well above it, and a copier scores 100%. So judge a "
              "model by its excess over the baseline (a few points at most), not by the share alone.", "",
              "## Wall time (seconds)", "", "| part | seconds |", "|---|---|"]
    lines += [f"| {part} | {sec} |" for part, sec in r["seconds"].items()]
    meta = s.get("feature_net_meta") or {}
    if meta.get("test_accuracy"):
        lines += ["", "Feature net: held-out accuracy " + ", ".join(f"{k} {v:.1%}" for k, v in
                                                                    meta["test_accuracy"].items()) + "."]
    return "\n".join(lines) + "\n"


def read_report(report=None) -> dict:
    """The numbers of a committed evaluation (default: weights/EVALUATION.json), as run_evaluation returned them."""
    path = Path(report) if report is not None else WEIGHTS_DIR / "EVALUATION.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: `python -m course_lib evaluate` (make evaluate) writes the "
                                f"evaluation report")
    return json.loads(path.read_text())


def quality_vs_steps(report=None, model: str = "context") -> dict:
    """FID against sampling steps for one model, read from a committed EVALUATION.json (default:
    weights/EVALUATION.json), never recomputed. Uses the model's main mode (labels and guidance for a
    labelled model). Returns {"steps": [DDIM step counts, ascending], "fid": [their mean FIDs over the
    sampling seeds], "fid_sd": [their sds, None for one seed], "ddpm_steps", "ddpm_fid", "ddpm_fid_sd",
    "floor", "n", "guidance"}."""
    r = read_report(report)
    if model not in r["models"]:
        raise ValueError(f"{report or 'the report'} has no model {model!r}; it evaluated {sorted(r['models'])}")
    runs = r["models"][model]["runs"]
    main = runs[0]["mode"]
    ddim = sorted((run["steps"], run["fid"], run.get("fid_sd")) for run in runs
                  if run["mode"] == main and run["sampler"] == "ddim")
    ddpm = next(run for run in runs if run["mode"] == main and run["sampler"] == "ddpm")
    return {"steps": [k for k, _, _ in ddim], "fid": [f for _, f, _ in ddim], "fid_sd": [sd for _, _, sd in ddim],
            "ddpm_steps": ddpm["steps"], "ddpm_fid": ddpm["fid"], "ddpm_fid_sd": ddpm.get("fid_sd"),
            "floor": r["reference"]["floor_fid"], "n": r["settings"]["n"], "guidance": ddpm["guidance"]}
