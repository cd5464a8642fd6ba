"""The course's evaluation run: sample every checkpoint, measure the samples, write the report.

`run_evaluation` fixes one sample count n and draws, with the run's seed, two disjoint halves of the
test split. Half A is the reference every FID is measured against. Half B gives the floor,
FID(half B, half A): a model whose samples were as good as fresh data would score about the floor.
FID is biased upwards at small n (`metrics`), so every FID of one report uses n samples against the
same n reference sprites. Half B also gives the labels of the labelled samples, so that they come in
the data's class mix, which FID sees too, and the memorisation baseline: fresh sprites' near-copy share.

Each checkpoint is sampled with every sampler of `samplers.SAMPLERS` (`evaluation_runs`). Batch b of
every row starts from the seed `seeding.derived_seed(seed, b)`, so all samplers start from the same
x_T and a rerun reproduces the numbers; samples are quantised to the 8-bit pixels they would be saved
as (`images.quantize`), the path real sprites take to the feature net. The Markdown report
(weights/EVALUATION.md) and EVALUATION.json beside it hold the same numbers; `read_report` and
`quality_vs_steps` read them back for the labs without recomputing anything.
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
from .images import quantize
from .metrics import (NEAR_COPY_FACTOR, class_accuracy, fid, near_copy_stats, near_copy_threshold,
                      nearest_distances)
from .samplers import SAMPLERS, make_sampler, sample, sampler_options
from .seeding import derived_seed

QUICK_STEPS = 25  # the step count of the extra rows (unconditional, autoguided) for samplers that take one


@torch.no_grad()
def generate(model: nn.Module, sampler, n: int, context: torch.Tensor | None = None, guidance: float = 1.0,
             seed: int = 0, batch_size: int = 500, bf16: bool = False, progress: bool = False,
             desc: str = "sampling", guide: nn.Module | None = None) -> torch.Tensor:
    """n samples, quantised to 8-bit pixels (model space), in batches; batch b uses seed derived_seed(seed, b),
    so every sampler starts from the same x_T and a rerun reproduces the numbers."""
    device, out = module_device(model), []
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


def run_evaluation(weights: dict, feature_net_path, data_dir="data", n: int = 1000, seed: int = 0,
                   out="weights/EVALUATION.md", device=None, progress: bool = True,
                   guidance: float = DEFAULT_GUIDANCE, ddim_steps=(10, 25, 50, 100), batch_size: int = 500,
                   precision: str = "auto", guides: dict | None = None,
                   autoguidance: float = DEFAULT_AUTOGUIDANCE) -> dict:
    """Evaluate checkpoints {name: path} at one sample count n and write `out` (Markdown) and EVALUATION.json
    beside it (atomically). Returns the JSON's dict. See the module docstrings of `evaluation` (the run) and
    `metrics` (the measures).

    guidance: classifier-free guidance of the labelled samples. guides: {name: path of a weaker snapshot}
    adds unconditional rows autoguided by it with scale `autoguidance` (`samplers.predict_eps`).
    ddim_steps: the step counts of the samplers that take one (`evaluation_runs`).
    precision: "auto" samples under bfloat16 autocast where `device.use_bf16` finds bf16 faster than
    float32 on this device, in float32 elsewhere; "bf16" or "fp32" force one. bf16 rounding shifts the
    FIDs a little, so compare reports made at one precision."""
    started = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2 (FID needs a covariance)")
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
    t = tick("reference FIDs", t)
    tau = near_copy_threshold(train.images, seed=seed, progress=progress)
    baseline = near_copy_stats(nearest_distances(held.images, train.images, progress=progress), tau)
    memorisation = {"threshold": tau, "factor": NEAR_COPY_FACTOR, "test_share": baseline.share,
                    "test_median_distance": baseline.median_distance}
    t = tick("memorisation baseline", t)

    models = {}
    for name, path in paths.items():
        ckpt = load_checkpoint(path, device)
        cfg = ckpt.model.config
        if (cfg.channels, cfg.image_size) != IMAGE_SHAPE[:2]:
            raise ValueError(f"{path} generates {cfg.channels}x{cfg.image_size}x{cfg.image_size} images; the feature "
                             f"net evaluates 3x16x16 sprites only")
        labelled = cfg.context_dim == len(sprites.LABEL_NAMES)
        guide = load_checkpoint(guides[name], device).model if name in guides else None
        runs = []
        for mode, method, steps in evaluation_runs(labelled, guide is not None, ddim_steps, ckpt.schedule.T):
            t = time.perf_counter()
            sampler = make_sampler(ckpt.schedule, method, steps=steps)
            cond, guided = mode == "cond", mode == "autoguided"
            w = guidance if cond else autoguidance if guided else 1.0
            label = f"{name} {mode} {method} {len(sampler.timesteps)}"
            x = generate(ckpt.model, sampler, n, held.context if cond else None, w, seed, batch_size, bf16, progress,
                         desc=label, guide=guide if guided else None)
            run = {"mode": mode, "sampler": method, "steps": len(sampler.timesteps),
                   "guidance": w if cond or guided else None}
            if guided:
                run["guide"] = str(guides[name])
            run.update({key: fid(f(x), ref_feats[key]) for key, f in extractors.items()})
            copies = near_copy_stats(nearest_distances(x, train.images), tau)
            run.update(fid_ratio=run["fid"] / reference["floor_fid"], near_copy_share=copies.share,
                       near_copy_excess=copies.share - baseline.share, median_distance=copies.median_distance)
            if cond:
                run["class_accuracy"] = class_accuracy(net, x, held.context)
            run["seconds"] = round(time.perf_counter() - t, 1)
            times[label] = run["seconds"]
            runs.append(run)
        models[name] = {"path": str(path), "context_dim": cfg.context_dim, "T": ckpt.schedule.T,
                        "mean_image_start": ckpt.schedule.x0_mean is not None, "runs": runs}

    times["total"] = round(time.perf_counter() - started, 1)
    result = {"settings": {"n": n, "seed": seed, "guidance": guidance, "ddim_steps": list(ddim_steps),
                           "batch_size": batch_size, "bf16": bf16, "device": str(device), "data_dir": str(data_dir),
                           "dataset_digest": train.digest, "feature_net": str(feature_net_path),
                           "feature_net_meta": net.meta, "torch": torch.__version__,
                           "machine": describe_machine(device)},
              "reference": reference, "memorisation": memorisation,
              "inception": "computed" if inception is not None else INCEPTION_SKIPPED,
              "models": models, "seconds": times}
    out = Path(out)
    with atomic_write(out) as tmp:
        tmp.write_text(markdown_report(result))
    with atomic_write(out.with_name("EVALUATION.json")) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def markdown_report(r: dict) -> str:
    """The Markdown page of a run_evaluation result."""
    s, ref, mem = r["settings"], r["reference"], r["memorisation"]
    inc = "floor_inception_fid" in ref
    start_mu = ", ".join(name for name, m in r["models"].items() if m.get("mean_image_start")) or "none"
    lines = [
        "# Evaluation of the course's weights", "",
        f"Generated by `course_lib.evaluation.run_evaluation`: n = {s['n']} samples per row, seed {s['seed']}, "
        f"guidance {s['guidance']} for labelled samples, batches of {s['batch_size']}, "
        f"{'bfloat16 autocast' if s['bf16'] else 'float32'} sampling on {s['device']}. "
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
        "## Models", "",
        "FID against test half A; x floor = FID / floor. Near-copies: share of samples whose nearest training "
        "sprite is closer than tau (see Memorisation); excess: that share minus the held-out sprites' share, in "
        "percentage points; nearest: median distance to the nearest training sprite. Sampling starts from "
        "x_T = sqrt(alpha_bar_T) mu + sqrt(1 - alpha_bar_T) z, with mu the training data's mean image, for "
        "the models whose checkpoint carries mu (`NoiseSchedule.x_T_from_noise`), and from z ~ N(0, I) "
        f"otherwise. Starting from the mean image: {start_mu}. Context none: context zeros; guided by a "
        "snapshot: autoguidance, eps = eps_guide + w (eps - eps_guide), the guide being an earlier snapshot of "
        "the same model (Karras et al. 2024).", "",
        "| model | context | sampler | steps | FID | x floor |" + (" Inception FID |" if inc else "")
        + " near-copies | excess | nearest | class accuracy | seconds |",
        "|---|---|---|---|---|---|" + ("---|" if inc else "") + "---|---|---|---|---|"]
    for name, m in r["models"].items():
        for run in m["runs"]:
            acc = run.get("class_accuracy", {}).get("all")
            context = {"cond": f"labels, w={run['guidance']}",
                       "autoguided": f"none, guided by {Path(run.get('guide', '')).stem}, w={run['guidance']}"}
            lines.append(f"| {name} | {context.get(run['mode'], 'none')} | "
                         f"{run['sampler'].upper()} | {run['steps']} | {run['fid']:.3f} | {run['fid_ratio']:.2f} |"
                         + (f" {run['inception_fid']:.3f} |" if inc else "")
                         + f" {run['near_copy_share']:.1%} | {100 * run['near_copy_excess']:+.1f} | "
                         f"{run['median_distance']:.2f} | "
                         f"{'-' if acc is None else f'{acc:.1%}'} | {run['seconds']} |")
    labelled = [(name, run) for name, m in r["models"].items() for run in m["runs"] if "class_accuracy" in run]
    if labelled:
        lines += ["", "## Class accuracy per label", "",
                  "Share of the samples generated with each label (labels drawn in the test split's class mix) "
                  "that the feature net's label head classifies as that label.", "",
                  "| model | sampler | steps | " + " | ".join(sprites.LABEL_NAMES) + " |",
                  "|---|---|---|" + "---|" * len(sprites.LABEL_NAMES)]
        lines += [f"| {name} | {run['sampler'].upper()} | {run['steps']} | "
                  + " | ".join(f"{run['class_accuracy'][k]:.1%}" if k in run["class_accuracy"] else "-"
                               for k in sprites.LABEL_NAMES) + " |"
                  for name, run in labelled]
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
    labelled model). Returns {"steps": [DDIM step counts, ascending], "fid": [their FIDs], "ddpm_steps",
    "ddpm_fid", "floor", "n", "guidance"}."""
    r = read_report(report)
    if model not in r["models"]:
        raise ValueError(f"{report or 'the report'} has no model {model!r}; it evaluated {sorted(r['models'])}")
    runs = r["models"][model]["runs"]
    main = runs[0]["mode"]
    ddim = sorted((run["steps"], run["fid"]) for run in runs if run["mode"] == main and run["sampler"] == "ddim")
    ddpm = next(run for run in runs if run["mode"] == main and run["sampler"] == "ddpm")
    return {"steps": [k for k, _ in ddim], "fid": [f for _, f in ddim], "ddpm_steps": ddpm["steps"],
            "ddpm_fid": ddpm["fid"], "floor": r["reference"]["floor_fid"], "n": r["settings"]["n"],
            "guidance": ddpm["guidance"]}
