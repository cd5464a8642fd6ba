"""Speed of this project's model and training loop against the original course's, in one run.

    python -m benchmarks.bench            # the full benchmark (1 minute on 2 idle CPU cores, 7 when busy)
    python -m benchmarks.bench --quick    # a smoke run on tiny settings
    python -m benchmarks.bench --threads 1 --out benchmarks/RESULTS_1thread.md   # steadier on a shared machine

Measures, for the reference (benchmarks/reference.py) and for this project (course_lib: UNet with the
default ModelConfig, trained by `course_lib.training.train` itself, sampled by `course_lib.samplers.sample`):
training images/s at the same batch, seconds to sample sprites with DDPM (all T steps) and DDIM (25 steps), and
the project's seconds at DDPM's quality (the sampler that the committed evaluation report finds within 1.25x
DDPM's FID with the fewest model evaluations, sampled as the labs do: labels and guidance); each in fp32 and in
bf16 (unless the CPU emulates bf16) and compared in each model's fastest precision, the achieved GFLOP/s (FLOPs
from torch.utils.flop_counter) against a measured matmul peak, and the ratios. All runs' repeats are interleaved
so that a change in machine load hits them alike. The table goes to benchmarks/RESULTS.md (written atomically).
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from course_lib.config import ModelConfig, ScheduleConfig, TrainConfig
from course_lib.data import ImageDataset, draw_labels
from course_lib.report import FAST_BAR, FAST_METHOD, QUICK_STEPS, quality_vs_nfe, read_report
from course_lib.sprites import CLASS_SHARES
from course_lib.files import atomic_write
from course_lib.device import autocast, cpu_name, precision_probe
from course_lib.model import UNet, count_parameters
from course_lib.samplers import SAMPLERS, make_sampler, sample
from course_lib.schedules import NoiseSchedule
from course_lib.training import train

from . import reference

RESULTS = Path(__file__).with_name("RESULTS.md")
T = ScheduleConfig().T
EMULATED = 1 / 3  # a bf16 probe speed-up below this means bf16 is emulated: minutes per run, not measured
NO_BF16 = "not measured: this CPU emulates bf16 (the probe row), far slower than fp32"
BUSY_NOTE = "absolute numbers are pessimistic, the ratios (interleaved repeats) fairer"
THREADS_NOTE = ("; with other processes on the cores, the threads of one torch process wait on each other at every "
                "parallel region (each small op), which hurts a model of many small ops most: `--threads 1` is "
                "steadier on a shared machine")
KINDS = ("train", "ddpm", "ddim")
BAR, GOAL = 2.5, 3.0  # speed-ups over the reference: the bar each measurement must reach, and the goal
REPORT = Path(__file__).resolve().parents[1] / "weights" / "EVALUATION.json"


@dataclass(frozen=True)
class EqualQuality:
    """The committed report's fastest sampler at FAST_BAR x DDPM's FID on the context model's main path."""

    method: str
    steps: int
    nfe: int
    fid: float
    ddpm_fid: float
    guidance: float | None

    def label(self) -> str:
        return f"{SAMPLERS[self.method].title} {self.steps} steps ({self.nfe} model evaluations)"


def equal_quality(report: Path = REPORT, model: str = "context") -> EqualQuality | None:
    """The sampler with the fewest model evaluations whose FID the report finds within FAST_BAR x DDPM's,
    None without a report or such a sampler."""
    if not report.exists():
        return None
    q = quality_vs_nfe(report, model)
    found = [(nfe, method) for method, nfe in q["fewest"].items() if nfe is not None]
    if not found:
        return None
    nfe, method = min(found)
    curve = q["samplers"][method]
    i = curve["nfe"].index(nfe)
    return EqualQuality(method, curve["steps"][i], nfe, curve["fid"][i], q["ddpm_fid"], q["guidance"])


@dataclass(frozen=True)
class Settings:
    """warmup_steps: untimed training steps per run; train_steps: training steps per timed repeat; batch: the
    training batch of both models (the course's, so that images/s compare at equal batch); ddpm_steps: DDPM
    steps timed per repeat, scaled to all T steps; n_sample: sprites per sampling run."""

    repeats: int = 5
    sample_repeats: int = 3
    warmup_steps: int = 2
    train_steps: int = 3
    batch: int = TrainConfig().batch_size
    n_sample: int = 32
    ddpm_steps: int = 25
    ddim_steps: int = 25
    matmul_size: int = 2048
    dataset_size: int = 12800


QUICK = Settings(repeats=1, sample_repeats=1, warmup_steps=1, train_steps=1, batch=4, n_sample=2, ddpm_steps=2,
                 matmul_size=256, dataset_size=64)


def synthetic_sprites(n: int) -> ImageDataset:
    """Random 16x16 RGB bytes with one-hot labels of 5 classes: the timing does not depend on pixel values."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    context = F.one_hot(torch.randint(0, 5, (n,), generator=g), 5).float()
    return ImageDataset(images, context, tuple(f"class{i}" for i in range(5)), "bench-synthetic")


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def matmul_gflops(dtype: torch.dtype, n: int, repeats: int) -> float:
    """Best GFLOP/s of an n x n @ n x n torch.matmul (2 n^3 FLOPs) over `repeats` runs after one warm-up."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    return 2 * n ** 3 / min(timed(torch.matmul, a, b) for _ in range(repeats)) / 1e9


def forward_flops(model: torch.nn.Module, *inputs, batch: int) -> float:
    """FLOPs of one forward pass per image (convolutions, matmuls, attention; not norms or activations)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() / batch


class ReferenceRun:
    """The original course: its own loop (Adam) and its own samplers, in `precision` (bf16: inside autocast)."""

    name = "reference"

    def __init__(self, settings: Settings, dataset: ImageDataset, precision: str):
        torch.manual_seed(0)
        self.precision = precision
        self.model = reference.ContextUnet()
        self.optim = reference.make_optimizer(self.model)
        self.schedule = reference.Schedule(T)
        self.batch = settings.batch
        self.batches = dataset.sample_batches(self.batch, seed=1)
        self.flops = forward_flops(self.model.eval(), torch.randn(2, 3, 16, 16), torch.rand(2), torch.zeros(2, 5),
                                   batch=2)

    def train(self, steps: int) -> float:
        self.model.train()
        start = time.perf_counter()
        with autocast("cpu", self.precision == "bf16"):
            for _ in range(steps):
                x, c = next(self.batches)
                reference.train_step(self.model, self.optim, self.schedule, x, c)
        return time.perf_counter() - start

    def sample(self, kind: str, n: int, steps: int) -> float:
        self.model.eval()
        with autocast("cpu", self.precision == "bf16"):
            if kind == "ddpm":
                return timed(reference.sample_ddpm, self.model, self.schedule, n, steps=steps)
            return timed(reference.sample_ddim, self.model, self.schedule, n, steps)


class ProjectRun:
    """This project: `course_lib.training.train` itself (AdamW, grad clip, EMA: the loop of `make train`) in
    `precision`, resumed segment by segment; TrainResult.seconds counts only the steps' own time. Sampling is
    `course_lib.samplers.sample` as the course calls it, inside a bf16 autocast for precision bf16."""

    name = "project"

    def __init__(self, settings: Settings, dataset: ImageDataset, run_dir: Path, precision: str):
        total = settings.warmup_steps + settings.repeats * settings.train_steps
        self.config = TrainConfig(steps=total, batch_size=settings.batch, precision=precision)
        self.precision, self.batch, self.dataset, self.run_dir = precision, settings.batch, dataset, run_dir
        self.step, self.seconds = 0, 0.0
        self.model = UNet(ModelConfig()).eval()  # replaced by the EMA model after each training segment
        self.flops = forward_flops(self.model, torch.randn(2, 3, 16, 16), torch.tensor([0, T - 1]), torch.zeros(2, 5),
                                   batch=2)

    def train(self, steps: int) -> float:
        result = train(ModelConfig(), ScheduleConfig(), self.config, self.dataset, self.run_dir, progress=False,
                       stop_at=self.step + steps, name="bench")
        elapsed = result.seconds - self.seconds
        self.step, self.seconds, self.model = result.steps, result.seconds, result.ema
        return elapsed

    def sample(self, kind: str, n: int, steps: int, equal: EqualQuality | None = None) -> float:
        """Time `kind` (ddpm, ddim, or "equal": the sampler of `equal` with labels and its guidance)."""
        guided = {}
        if kind == "ddpm":  # time `steps` DDPM steps on a schedule of T = steps: each costs what one of 500 does
            sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=steps)), "ddpm")
        elif kind == "equal":
            sampler = make_sampler(NoiseSchedule(ScheduleConfig()), equal.method, steps=equal.steps)
            guided = dict(context=draw_labels(CLASS_SHARES, n), guidance=equal.guidance or 1.0)
        else:
            sampler = make_sampler(NoiseSchedule(ScheduleConfig()), kind, steps=steps)
        with autocast("cpu", self.precision == "bf16"):
            return timed(sample, self.model, sampler, n, seed=0, **guided)


def measure(settings: Settings, progress: bool = True, report: Path = REPORT) -> dict:
    """Run every measurement, each model in fp32 and (unless the CPU emulates it) in bf16; returns the raw
    timings (seconds per repeat) per model and precision, and the machine's state."""
    s, equal = settings, equal_quality(report)
    load_before, cpu_before, wall_before = os.getloadavg(), os.times(), time.perf_counter()
    probe = precision_probe("cpu")
    precisions = ["fp32"] + (["bf16"] if probe.speedup >= EMULATED else [])
    peaks = {p: matmul_gflops(torch.bfloat16 if p == "bf16" else torch.float32, s.matmul_size, 5) for p in precisions}
    steps = {"train": s.train_steps, "ddpm": s.ddpm_steps, "ddim": s.ddim_steps}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        dataset = synthetic_sprites(s.dataset_size)
        runs = [run for p in precisions for run in (ReferenceRun(s, dataset, p),
                                                     ProjectRun(s, dataset, Path(tmp) / p, p))]
        jobs = ([(run, "warmup") for run in runs] + [(run, "train") for _ in range(s.repeats) for run in runs]
                + [(run, "sample-warmup") for run in runs]
                + [(run, kind) for kind in KINDS[1:] for _ in range(s.sample_repeats) for run in runs]
                + [(run, "equal") for _ in range(s.sample_repeats if equal else 0) for run in runs
                   if isinstance(run, ProjectRun)])
        times = {run.name: {p: {} for p in precisions} for run in runs}
        for run, kind in tqdm(jobs, desc="bench", unit="job", disable=not progress):
            if kind == "warmup":
                run.train(s.warmup_steps)
            elif kind == "sample-warmup":
                run.sample("ddpm", s.n_sample, 2)
            elif kind == "equal":
                times[run.name][run.precision].setdefault(kind, []).append(run.sample(kind, s.n_sample, 0, equal))
            else:
                seconds = run.train(steps[kind]) if kind == "train" else run.sample(kind, s.n_sample, steps[kind])
                times[run.name][run.precision].setdefault(kind, []).append(seconds)
        models = {run.name: {"params": count_parameters(run.model), "flops": run.flops, "batch": run.batch}
                  for run in runs}
    cpu_after, wall = os.times(), time.perf_counter() - wall_before
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {"settings": asdict(s), "peaks": peaks, "times": times, "models": models, "probe": str(probe),
            "threads": torch.get_num_threads(), "load_before": load_before, "load_after": os.getloadavg(),
            "wall": wall, "cpu_share": cpu / (wall * torch.get_num_threads()),
            "equal": None if equal is None else asdict(equal)}


@dataclass(frozen=True)
class Stat:
    """The median of the repeats, their range, and the best one (highest rate or shortest time)."""

    median: float
    low: float
    high: float
    best: float

    @classmethod
    def of(cls, values: list[float], higher_is_better: bool) -> Stat:
        return cls(statistics.median(values), min(values), max(values), (max if higher_is_better else min)(values))

    def cell(self, fmt: str) -> str:
        return f"{self.median:{fmt}} ({self.low:{fmt}} to {self.high:{fmt}})"


def summarise(raw: dict) -> dict:
    """Per model and precision: training images/s and sampling seconds (DDPM scaled to all T steps); then per
    model each measurement in its fastest precision (`best`, with `precision[kind]`) and its GFLOP/s."""
    s, out = raw["settings"], {}
    for name, by_precision in raw["times"].items():
        m = raw["models"][name]
        stats = {}
        for precision, times in by_precision.items():
            stats[precision] = {"train": Stat.of([s["train_steps"] * m["batch"] / t for t in times["train"]], True)}
            for kind in KINDS[1:]:
                scale = T / s["ddpm_steps"] if kind == "ddpm" else 1
                stats[precision][kind] = Stat.of([v * scale for v in times[kind]], False)
            if "equal" in times:
                stats[precision]["equal"] = Stat.of(times["equal"], False)
        kinds = [kind for kind in (*KINDS, "equal") if kind in next(iter(stats.values()))]
        fastest = {kind: (max if kind == "train" else min)(stats, key=lambda p: stats[p][kind].median)
                   for kind in kinds}
        best = {kind: stats[p][kind] for kind, p in fastest.items()}
        out[name] = {"by_precision": stats, "precision": fastest, **best,
                     "train_gflops": 3 * m["flops"] * best["train"].median / 1e9,
                     "ddpm_gflops": m["flops"] * s["n_sample"] * T / best["ddpm"].median / 1e9}
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def machine_note(raw: dict) -> str:
    """Whether other processes ran, and whether this run still got its threads' CPU time."""
    share = f"this run got {100 * raw['cpu_share']:.0f} % of the CPU time of its {plural(raw['threads'], 'thread')}"
    if raw["load_before"][0] <= 0.5 and raw["cpu_share"] >= 0.9:
        return f"The machine was idle (load average {raw['load_before'][0]:.2f} before the run; {share})."
    if raw["cpu_share"] >= 0.9:
        return f"Other processes were running (see the load average), but {share}: the numbers should hold."
    return f"**The machine was busy**: {share}; {BUSY_NOTE}{THREADS_NOTE if raw['threads'] > 1 else ''}."


def compare(label: str, ref: Stat, proj: Stat, fmt: str, higher_is_better: bool, precisions=("", "")) -> tuple:
    """A table row: both medians with their ranges (and precisions), project / reference, and the speed-up against
    the 2.5x bar and the 3x goal (from the medians; from the best repeats in brackets)."""
    def speedup(r: float, p: float) -> float:
        return p / r if higher_is_better else r / p
    median = speedup(ref.median, proj.median)
    verdict = ("meets the 3x goal" if median >= GOAL else "meets the 2.5x bar" if median >= BAR
               else "misses the 2.5x bar")
    ref_p, proj_p = (f", {p}" if p else "" for p in precisions)
    return (label, ref.cell(fmt) + ref_p, proj.cell(fmt) + proj_p, f"{proj.median / ref.median:.2f}",
            f"{median:.2f}x (best repeats: {speedup(ref.best, proj.best):.2f}x); {verdict}")


def quality_note(report: Path = REPORT) -> str:
    """The shipped models' quality as the committed evaluation report states it (the bench measures speed only)."""
    if not report.exists():
        return f"no evaluation report at {report}"
    parts, r = [], read_report(report)
    for name in r["models"]:
        q = quality_vs_nfe(r, name, [FAST_METHOD])
        curve = q["samplers"].get(FAST_METHOD, {"steps": [], "fid": []})
        fid = dict(zip(curve["steps"], curve["fid"])).get(QUICK_STEPS)
        fast = f", DDIM {QUICK_STEPS} steps {fid:.1f}" if fid is not None else ""
        parts.append(f"`{name}`: FID DDPM {q['ddpm_steps']} steps {q['ddpm_fid']:.1f}{fast} (floor {q['floor']:.1f})")
    return "; ".join(parts)


def equal_quality_rows(raw: dict, summary: dict) -> list[tuple]:
    """The project's sampler at equal quality (`equal_quality`) against the reference's DDPM and DDIM."""
    eq, ref, proj = raw["equal"], summary["reference"], summary["project"]
    if eq is None:
        return []
    label = (f"Project at DDPM's quality: {EqualQuality(**eq).label()}, labels and guidance {eq['guidance']}, "
             f"{raw['settings']['n_sample']} sprites (s), against the reference's")
    return [compare(f"{label} {name}", ref[kind], proj["equal"], ".2f", False,
                    (ref["precision"][kind], proj["precision"]["equal"]))
            for kind, name in (("ddpm", f"DDPM {T}"), ("ddim", f"DDIM {raw['settings']['ddim_steps']}"))]


def equal_quality_note(raw: dict) -> str:
    eq = raw["equal"]
    if eq is None:
        return (f"- Equal quality: not measured; the evaluation report ({REPORT.name}) has no sampler within "
                f"{FAST_BAR:g}x DDPM's FID, or there is no report.")
    return (f"- Equal quality: from the committed evaluation report, the sampler with the fewest model evaluations "
            f"whose FID is within {FAST_BAR:g}x DDPM's on the context model's main path: {EqualQuality(**eq).label()}, "
            f"FID {eq['fid']:.2f} against DDPM's {eq['ddpm_fid']:.2f}. Timed as the labs sample: labels in the "
            "data's class mix and classifier-free guidance (two model evaluations per step, in one batch); the "
            "reference's quality is not measured.")


def render(raw: dict, summary: dict) -> str:
    """The Markdown report."""
    s, peaks, ref, proj, models = raw["settings"], raw["peaks"], summary["reference"], summary["project"], raw["models"]
    rm, pm = models["reference"], models["project"]
    scaled = f" [{s['ddpm_steps']} of {T} steps timed, x{T / s['ddpm_steps']:g}]" if s["ddpm_steps"] < T else ""
    labels = {"train": "Training throughput (images/s)",
              "ddpm": f"DDPM {T} steps, {s['n_sample']} sprites (s){scaled}",
              "ddim": f"DDIM {s['ddim_steps']} steps, {s['n_sample']} sprites (s)"}
    fmts = {"train": ".1f", "ddpm": ".1f", "ddim": ".2f"}
    tp = (ref["precision"]["train"], proj["precision"]["train"])
    rows = [
        ("Parameters", f"{rm['params'] / 1e6:.3f} M", f"{pm['params'] / 1e6:.3f} M",
         f"{pm['params'] / rm['params']:.2f}", ""),
        ("Forward MFLOP per 16x16 image", f"{rm['flops'] / 1e6:.1f}", f"{pm['flops'] / 1e6:.1f}",
         f"{pm['flops'] / rm['flops']:.2f}", ""),
        ("Training batch", str(rm["batch"]), str(pm["batch"]), "", ""),
        compare(labels["train"], ref["train"], proj["train"], fmts["train"], True, tp),
        ("Training GFLOP/s (3x forward FLOPs x images/s)", f"{ref['train_gflops']:.1f}", f"{proj['train_gflops']:.1f}",
         f"{proj['train_gflops'] / ref['train_gflops']:.2f}", ""),
        ("Training, % of the matmul peak of its precision",
         f"{100 * ref['train_gflops'] / peaks[tp[0]]:.0f} % of {tp[0]}",
         f"{100 * proj['train_gflops'] / peaks[tp[1]]:.0f} % of {tp[1]}", "", ""),
        *(compare(labels[k], ref[k], proj[k], fmts[k], False, (ref["precision"][k], proj["precision"][k]))
          for k in KINDS[1:]),
        (f"Sampling GFLOP/s (DDPM, {ref['precision']['ddpm']} / {proj['precision']['ddpm']})",
         f"{ref['ddpm_gflops']:.1f}", f"{proj['ddpm_gflops']:.1f}", f"{proj['ddpm_gflops'] / ref['ddpm_gflops']:.2f}",
         ""),
        *equal_quality_rows(raw, summary),
    ]
    precisions = list(peaks)
    per_precision = [f"| {labels[k]} | " + " | ".join(summary[side]["by_precision"][p][k].cell(fmts[k])
                                                    for side in ("reference", "project") for p in precisions) + " |"
                     for k in KINDS]
    bf16_peak = f"{peaks['bf16']:.1f} GFLOP/s" if "bf16" in peaks else NO_BF16
    load = "; ".join(f"{when} {', '.join(f'{v:.2f}' for v in raw[f'load_{when}'])}" for when in ("before", "after"))
    recipe_hours = reference.RECIPE_IMAGES / ref["train"].median / 3600
    lines = [
        "# Benchmark: this project against the original course", "",
        "| Machine | |", "|---|---|",
        f"| CPU | {cpu_name()} ({os.cpu_count()} cores) |",
        f"| Precision probe | {raw['probe']} |",
        f"| torch | {torch.__version__}, {plural(raw['threads'], 'thread')} for both models "
        f"({'torch default' if raw['default_threads'] else 'set by --threads'}) |",
        f"| Date | {datetime.datetime.now().astimezone().isoformat(timespec='minutes')} |",
        f"| Load average (1, 5, 15 min) | {load} |",
        f"| CPU share this run got | {100 * raw['cpu_share']:.0f} % of {plural(raw['threads'], 'thread')} over "
        f"{raw['wall']:.0f} s |",
        f"| Matmul peak fp32 ({s['matmul_size']}^3, best of 5) | {peaks['fp32']:.1f} GFLOP/s |",
        f"| Matmul peak bf16 ({s['matmul_size']}^3, best of 5) | {bf16_peak} |",
        "",
        machine_note(raw),
        "",
        "Each model in its fastest precision on this machine (both were measured in every precision listed below; "
        "bf16 means `torch.autocast` with bfloat16):",
        "",
        "| Measurement | Reference (original course) | This project | Project / reference | Speed-up |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "Every measurement in every precision:",
        "",
        "| Measurement | " + " | ".join(f"{side} {p}" for side in ("Reference", "Project") for p in precisions) + " |",
        "|---|" + "---|" * (2 * len(precisions)),
        *per_precision,
        "",
        f"Medians (min to max in brackets) of {s['repeats']} training repeats of {s['train_steps']} steps each, after "
        f"{s['warmup_steps']} untimed warm-up steps per run, and of {s['sample_repeats']} sampling repeats after an "
        "untimed warm-up; all runs' repeats alternate. Speed-up: project/reference for throughput, "
        "reference/project for sampling time; the bar (2.5x) and the goal (3x) are judged on the medians.",
        "",
        "- Reference: `benchmarks/reference.py`, the original ContextUnet (n_feat 64) and loop: Adam, "
        "BatchNorm, context masking, its own DDPM and DDIM (stride T/steps) samplers, unconditional.",
        "- Project: `course_lib` UNet with the default ModelConfig, trained by `course_lib.training.train` itself "
        "(AdamW, grad clip, Min-SNR loss weights, EMA, per TrainConfig defaults; resumed segment by segment, its own "
        "step timer), sampled with `course_lib.samplers.sample` as the course calls it (context None, guidance 1).",
        "- FLOPs from `torch.utils.flop_counter` (convolutions and matmuls; norms and activations not counted); "
        "training counts forward + backward as 3x the forward.",
        f"- Data: {s['dataset_size']} synthetic 16x16 RGB images held in memory, batched by "
        "`ImageDataset.sample_batches` for both (the timing does not depend on pixel values).",
        equal_quality_note(raw),
        f"- Quality. Project: {quality_note()}. Reference: not measured; its recipe "
        f"({reference.RECIPE_EPOCHS} epochs of {reference.RECIPE_DATASET} sprites) would take {recipe_hours:.1f} h "
        "at the throughput measured here.",
        "",
        "Reproduce with `make bench` (`.venv/bin/python -m benchmarks.bench`; `--quick` for a smoke run)"
        + ("." if raw["default_threads"] else f", with `--threads {raw['threads']}`."),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run of a few seconds")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"Markdown report (default: {RESULTS})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own default)")
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(args.threads or default_threads)
        raw = measure(QUICK if args.quick else Settings(), progress=not args.no_progress)
    finally:
        torch.set_num_threads(default_threads)
    raw["default_threads"] = args.threads in (None, default_threads)
    report = render(raw, summarise(raw))
    with atomic_write(args.out) as tmp:
        tmp.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
