"""The evaluation report: the team's bars, the Markdown page, and reading the numbers back.

`evaluation.run_evaluation` measures; this module only turns its result (the dict saved as
weights/EVALUATION.json) into weights/EVALUATION.md and into the curves the labs and the benchmark show,
so that nothing is recomputed to draw them.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import sprites
from .config import WEIGHTS_DIR
from .metrics import COLOUR_BIN, NEAR_WHITE
from .samplers import SAMPLERS

QUICK_STEPS = 25  # the step count of the extra rows (unconditional, autoguided) for samplers that take one
REFERENCE_METHOD, FAST_METHOD = "ddpm", "ddim"  # the bars' rows: all T steps, and QUICK_STEPS steps
FLOOR_BAR, FAST_BAR, ACCURACY_BAR, EXCESS_BAR = 2.0, 1.25, 0.95, 2.0  # x floor, x DDPM, per label, points
CURVES = "fid_vs_nfe.png"  # the picture of FID against model evaluations, beside the report


def _title(run: dict) -> str:
    return f"{SAMPLERS[run['sampler']].title}-{run['steps']}"


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


def nfe_section(r: dict) -> list[str]:
    """The Markdown lines of FID against model evaluations: the picture, then per model and sampler the fewest
    NFE within FAST_BAR x DDPM's FID, then every point."""
    curves = {name: quality_vs_nfe(r, name) for name in r["models"]}
    lines = ["", "## Quality against model evaluations", "",
             f"Each model's main path: FID (mean ± sd over the seeds) against the model evaluations per sprite (NFE; "
             f"Heun evaluates twice per step, the others once), against DDPM over all T steps. Limit: {FAST_BAR:g} x "
             "DDPM's FID.", "", f"![FID against NFE per model]({CURVES})", "",
             "| model | sampler | fewest NFE within the limit | limit |", "|---|---|---|---|"]
    lines += [f"| {name} | {SAMPLERS[m].title} | {'none measured' if k is None else k} | {q['limit']:.3f} |"
              for name, q in curves.items() for m, k in q["fewest"].items()]
    lines += ["", "| model | sampler | steps | NFE | FID | x DDPM |", "|---|---|---|---|---|---|"]
    for name, q in curves.items():
        lines.append(f"| {name} | DDPM | {q['ddpm_steps']} | {q['ddpm_steps']} | "
                     f"{_pm(q['ddpm_fid'], q['ddpm_fid_sd'])} | 1.00 |")
        lines += [f"| {name} | {SAMPLERS[m].title} | {k} | {e} | {_pm(f, sd)} | {f / q['ddpm_fid']:.2f} |"
                  for m, c in q["samplers"].items()
                  for k, e, f, sd in zip(c["steps"], c["nfe"], c["fid"], c["fid_sd"])]
    return lines


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
    lines += nfe_section(r)
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
            lines.append(f"| {_context(run)} | {SAMPLERS[run['sampler']].title} | {run['steps']} | {run['nfe']} | "
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
        lines += [f"| {name} | {SAMPLERS[run['sampler']].title} | {run['steps']} | "
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
        for name, d in diverse.items():
            samples = f"{SAMPLERS[d['sampler']].title} {d['steps']}, w={d['guidance']}, seed {d['seed']}"
            lines += [f"| {name} | {samples} | {label} | {c['sprites']} | {c['template']} / "
                      f"{d['data'][label]['template']} | {c['palette']} / {d['data'][label]['palette']} |"
                      for label, c in d["samples"].items()]
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
        (f"{name}, {_context(run)}, {SAMPLERS[run['sampler']].title} {run['steps']}", run["pixel_art"])
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
    """The numbers of a committed evaluation (default: weights/EVALUATION.json), as run_evaluation returned them;
    a dict is taken as those numbers already read."""
    if isinstance(report, dict):
        return report
    path = Path(report) if report is not None else WEIGHTS_DIR / "EVALUATION.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: `python -m course_lib evaluate` (make evaluate) writes the "
                                f"evaluation report")
    return json.loads(path.read_text())


def nfe_of(run: dict) -> int:
    """A row's model evaluations per sample; a row without "nfe" predates the second-order samplers, so it is
    DDPM's or DDIM's, one evaluation per step."""
    return run.get("nfe", run["steps"])


def quality_vs_nfe(report=None, model: str = "context", samplers=None) -> dict:
    """FID against the number of model evaluations (NFE) of every sampler (or of `samplers`, methods of SAMPLERS),
    for one model's main mode (labels and guidance for a labelled model), read from a committed EVALUATION.json
    (default: weights/EVALUATION.json) or its dict, never recomputed. NFE, not steps, is the cost: Heun evaluates
    the model twice per step.
    Returns {"samplers": {method: {"nfe", "steps", "fid", "fid_sd"}, ascending in NFE, for the samplers that take
    a step count}, "missing" (those samplers without rows in the report), "ddpm_steps", "ddpm_fid",
    "ddpm_fid_sd", "limit" (FAST_BAR x the DDPM FID), "fewest" ({method:
    the fewest NFE whose FID is within the limit, None if none}), "floor", "n", "guidance"}."""
    wanted = set(SAMPLERS) if samplers is None else set(samplers)
    if wanted - set(SAMPLERS):
        raise ValueError(f"unknown samplers {sorted(wanted - set(SAMPLERS))}; choose from {sorted(SAMPLERS)}")
    r = read_report(report)
    if model not in r["models"]:
        raise ValueError(f"{report or 'the report'} has no model {model!r}; it evaluated {sorted(r['models'])}")
    runs = r["models"][model]["runs"]
    main = [run for run in runs if run["mode"] == runs[0]["mode"]]
    ddpm = next(run for run in main if run["sampler"] == REFERENCE_METHOD)
    curves = {}
    for run in sorted((run for run in main if run is not ddpm and run["sampler"] in wanted), key=nfe_of):
        curve = curves.setdefault(run["sampler"], {"nfe": [], "steps": [], "fid": [], "fid_sd": []})
        for key, value in (("nfe", nfe_of(run)), ("steps", run["steps"]), ("fid", run["fid"]),
                           ("fid_sd", run.get("fid_sd"))):
            curve[key].append(value)
    limit = FAST_BAR * ddpm["fid"]
    fewest = {m: next((k for k, f in zip(c["nfe"], c["fid"]) if f <= limit), None) for m, c in curves.items()}
    missing = [m for m in SAMPLERS if m in wanted and m not in curves and m != REFERENCE_METHOD]
    return {"samplers": curves, "missing": missing, "ddpm_steps": ddpm["steps"], "ddpm_fid": ddpm["fid"],
            "ddpm_fid_sd": ddpm.get("fid_sd"), "limit": limit, "fewest": fewest,
            "floor": r["reference"]["floor_fid"], "n": r["settings"]["n"], "guidance": ddpm["guidance"]}

