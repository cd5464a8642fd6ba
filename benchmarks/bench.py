"""Speed of this project's model and training loop against the original course's, in one run.

    python -m benchmarks.bench            # the full benchmark (1 minute on 2 idle CPU cores, 7 when busy)
    python -m benchmarks.bench --quick    # a smoke run on tiny settings
    python -m benchmarks.bench --threads 1 --out benchmarks/RESULTS_1thread.md   # steadier on a shared machine

Measures, for the reference (benchmarks/reference.py) and for this project (course_lib: UNet with the
default ModelConfig, trained by `course_lib.training.train` itself, sampled by `course_lib.samplers.sample`):
training images/s, seconds to sample sprites with DDPM (all T steps) and DDIM (25 steps), the achieved
GFLOP/s (FLOPs from torch.utils.flop_counter) against a measured matmul peak, and the ratios. The two
models' repeats are interleaved so that a change in machine load hits both alike. The table goes to
benchmarks/RESULTS.md (written atomically).
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
from course_lib.data import ImageDataset
from course_lib.files import atomic_write
from course_lib.device import cpu_name, precision_probe, use_bf16
from course_lib.model import UNet, count_parameters
from course_lib.samplers import make_sampler, sample
from course_lib.schedules import NoiseSchedule
from course_lib.training import train

from . import reference

RESULTS = Path(__file__).with_name("RESULTS.md")
T = ScheduleConfig().T
SLOWER_BF16 = "not measured: the bf16 probe found bf16 no faster than fp32 on this CPU (see the probe row)"
BUSY_NOTE = "absolute numbers are pessimistic, the ratios (interleaved repeats) fairer"
THREADS_NOTE = ("; with other processes on the cores, the threads of one torch process wait on each other at every "
                "parallel region (each small op), which hurts a model of many small ops most: `--threads 1` is "
                "steadier on a shared machine")


@dataclass(frozen=True)
class Settings:
    """warmup_steps: untimed training steps per model; train_steps: training steps per timed repeat;
    ddpm_steps: DDPM steps timed per repeat, scaled to all T steps; n_sample: sprites per sampling run."""

    repeats: int = 5
    sample_repeats: int = 3
    warmup_steps: int = 2
    train_steps: int = 3
    ref_batch: int = 100
    project_batch: int = TrainConfig().batch_size
    n_sample: int = 32
    ddpm_steps: int = 25
    ddim_steps: int = 25
    matmul_size: int = 2048
    dataset_size: int = 12800


QUICK = Settings(repeats=1, sample_repeats=1, warmup_steps=1, train_steps=1, ref_batch=4, project_batch=4,
                 n_sample=2, ddpm_steps=2, matmul_size=256, dataset_size=64)


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
    """The original course: its own fp32 loop (Adam, batch 100) and its own samplers."""

    name, precision, sample_kinds = "reference", "fp32", ("ddpm", "ddim")

    def __init__(self, settings: Settings, dataset: ImageDataset):
        torch.manual_seed(0)
        self.model = reference.ContextUnet()
        self.optim = reference.make_optimizer(self.model)
        self.schedule = reference.Schedule(T)
        self.batch = settings.ref_batch
        self.batches = dataset.sample_batches(self.batch, seed=1)
        self.flops = forward_flops(self.model.eval(), torch.randn(2, 3, 16, 16), torch.rand(2), torch.zeros(2, 5),
                                   batch=2)

    def train(self, steps: int) -> float:
        self.model.train()
        start = time.perf_counter()
        for _ in range(steps):
            x, c = next(self.batches)
            reference.train_step(self.model, self.optim, self.schedule, x, c)
        return time.perf_counter() - start

    def sample(self, kind: str, n: int, steps: int) -> float:
        self.model.eval()
        if kind == "ddpm":
            return timed(reference.sample_ddpm, self.model, self.schedule, n, steps=steps)
        return timed(reference.sample_ddim, self.model, self.schedule, n, steps)


class ProjectRun:
    """This project: `course_lib.training.train` itself (AdamW, bf16 autocast where the precision probe finds
    bf16 faster than float32, float32 elsewhere, grad clip, EMA: the loop of `make train`), resumed segment
    by segment; TrainResult.seconds counts only the steps' own time. Sampling is `course_lib.samplers.sample`
    as the course calls it (fp32); the "ddim-bf16" kind runs the same call inside a bf16 autocast, a what-if
    (DDIM only: a DDPM step costs the same as a DDIM step), measured only where bf16 is the faster precision.
    `bf16` is measure()'s one decision for both, `device.use_bf16("auto", "cpu")`."""

    name = "project"

    def __init__(self, settings: Settings, dataset: ImageDataset, run_dir: Path, bf16: bool):
        self.sample_kinds = ("ddpm", "ddim", "ddim-bf16") if bf16 else ("ddpm", "ddim")
        total = settings.warmup_steps + settings.repeats * settings.train_steps
        self.config = TrainConfig(steps=total, batch_size=settings.project_batch, precision="bf16" if bf16 else "fp32")
        self.precision = "bf16 autocast" if bf16 else "fp32"
        self.batch, self.dataset, self.run_dir = settings.project_batch, dataset, run_dir
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

    def sample(self, kind: str, n: int, steps: int) -> float:
        method, _, precision = kind.partition("-")
        if method == "ddpm":  # time `steps` DDPM steps on a schedule of T = steps: each costs what one of 500 does
            sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=steps)), "ddpm")
        else:
            sampler = make_sampler(NoiseSchedule(ScheduleConfig()), method, steps=steps)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            return timed(sample, self.model, sampler, n, seed=0)


def measure(settings: Settings, progress: bool = True) -> dict:
    """Run every measurement; returns the raw timings (seconds per repeat) and the machine's state."""
    s = settings
    load_before, cpu_before, wall_before = os.getloadavg(), os.times(), time.perf_counter()
    bf16 = use_bf16("auto", "cpu")  # a slower bf16 (emulated: minutes single-threaded) is not measured
    peaks = {"fp32": matmul_gflops(torch.float32, s.matmul_size, 5)}
    if bf16:
        peaks["bf16"] = matmul_gflops(torch.bfloat16, s.matmul_size, 5)
    steps = {"train": s.train_steps, "ddpm": s.ddpm_steps, "ddim": s.ddim_steps}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        dataset = synthetic_sprites(s.dataset_size)
        runs = [ReferenceRun(s, dataset), ProjectRun(s, dataset, Path(tmp), bf16)]
        kinds = dict.fromkeys(kind for run in runs for kind in run.sample_kinds)
        jobs = ([(run, "warmup") for run in runs] + [(run, "train") for _ in range(s.repeats) for run in runs]
                + [(run, "sample-warmup") for run in runs]
                + [(run, kind) for kind in kinds for _ in range(s.sample_repeats) for run in runs
                   if kind in run.sample_kinds])
        times = {run.name: {} for run in runs}
        for run, kind in tqdm(jobs, desc="bench", unit="job", disable=not progress):
            if kind == "warmup":
                run.train(s.warmup_steps)
            elif kind == "sample-warmup":
                run.sample("ddpm", s.n_sample, 2)
            else:
                method = kind.partition("-")[0]
                seconds = run.train(steps[kind]) if kind == "train" else run.sample(kind, s.n_sample, steps[method])
                times[run.name].setdefault(kind, []).append(seconds)
        models = {run.name: {"params": count_parameters(run.model), "flops": run.flops, "batch": run.batch,
                             "precision": run.precision} for run in runs}
    cpu_after, wall = os.times(), time.perf_counter() - wall_before
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {"settings": asdict(s), "peaks": peaks, "times": times, "models": models,
            "probe": str(precision_probe("cpu")),
            "threads": torch.get_num_threads(), "load_before": load_before, "load_after": os.getloadavg(),
            "wall": wall, "cpu_share": cpu / (wall * torch.get_num_threads())}


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
    """Per model: training images/s, sampling seconds (DDPM scaled to all T steps), and GFLOP/s."""
    s, out = raw["settings"], {}
    for name, times in raw["times"].items():
        m = raw["models"][name]
        out[name] = stats = {"train": Stat.of([s["train_steps"] * m["batch"] / t for t in times["train"]], True)}
        for kind, values in times.items():
            if kind != "train":
                scale = T / s["ddpm_steps"] if kind.startswith("ddpm") else 1
                stats[kind] = Stat.of([v * scale for v in values], False)
        stats["train_gflops"] = 3 * m["flops"] * stats["train"].median / 1e9
        stats["ddpm_gflops"] = m["flops"] * s["n_sample"] * T / stats["ddpm"].median / 1e9
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


def compare(label: str, ref: Stat, proj: Stat, fmt: str, higher_is_better: bool) -> tuple[str, ...]:
    """A table row: both medians with their ranges, project / reference, and the speed-up against the 3x goal
    (from the medians; from the best repeats in brackets)."""
    def speedup(r: float, p: float) -> float:
        return p / r if higher_is_better else r / p
    median = speedup(ref.median, proj.median)
    return (label, ref.cell(fmt), proj.cell(fmt), f"{proj.median / ref.median:.2f}",
            f"{median:.2f}x (best repeats: {speedup(ref.best, proj.best):.2f}x); "
            f"{'meets' if median >= 3 else 'misses'} the 3x goal")


def render(raw: dict, summary: dict) -> str:
    """The Markdown report."""
    s, peaks, ref, proj, models = raw["settings"], raw["peaks"], summary["reference"], summary["project"], raw["models"]
    rm, pm = models["reference"], models["project"]
    proj_peak = "bf16" if "bf16" in pm["precision"] else "fp32"
    scaled = f" [{s['ddpm_steps']} of {T} steps timed, x{T / s['ddpm_steps']:g}]" if s["ddpm_steps"] < T else ""
    ddpm = f"DDPM {T} steps, {s['n_sample']} sprites (s){scaled}"
    ddim = f"DDIM {s['ddim_steps']} steps, {s['n_sample']} sprites (s)"
    what_if = f"What-if: {ddim}, project in bf16 autocast"
    rows = [
        ("Parameters", f"{rm['params'] / 1e6:.3f} M", f"{pm['params'] / 1e6:.3f} M",
         f"{pm['params'] / rm['params']:.2f}", ""),
        ("Forward MFLOP per 16x16 image", f"{rm['flops'] / 1e6:.1f}", f"{pm['flops'] / 1e6:.1f}",
         f"{pm['flops'] / rm['flops']:.2f}", ""),
        ("Training precision, batch", f"{rm['precision']}, {rm['batch']}", f"{pm['precision']}, {pm['batch']}", "", ""),
        compare("Training throughput (images/s)", ref["train"], proj["train"], ".1f", True),
        ("Training GFLOP/s (3x forward FLOPs x images/s)", f"{ref['train_gflops']:.1f}", f"{proj['train_gflops']:.1f}",
         f"{proj['train_gflops'] / ref['train_gflops']:.2f}", ""),
        ("Training, % of the matmul peak of its precision",
         f"{100 * ref['train_gflops'] / peaks['fp32']:.0f} % of fp32",
         f"{100 * proj['train_gflops'] / peaks[proj_peak]:.0f} % of {proj_peak}", "", ""),
        compare(ddpm, ref["ddpm"], proj["ddpm"], ".1f", False),
        compare(ddim, ref["ddim"], proj["ddim"], ".2f", False),
        ("Sampling GFLOP/s (fp32, DDPM)", f"{ref['ddpm_gflops']:.1f}", f"{proj['ddpm_gflops']:.1f}",
         f"{proj['ddpm_gflops'] / ref['ddpm_gflops']:.2f}", ""),
        compare(what_if, ref["ddim"], proj["ddim-bf16"], ".2f", False) if "ddim-bf16" in proj
        else (what_if, ref["ddim"].cell(".2f"), SLOWER_BF16, "", ""),
    ]
    bf16_peak = f"{peaks['bf16']:.1f} GFLOP/s" if "bf16" in peaks else SLOWER_BF16
    load = "; ".join(f"{when} {', '.join(f'{v:.2f}' for v in raw[f'load_{when}'])}" for when in ("before", "after"))
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
        "| Measurement | Reference (original course) | This project | Project / reference | Speed-up |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        f"Medians (min to max in brackets) of {s['repeats']} training repeats of {s['train_steps']} steps each, after "
        f"{s['warmup_steps']} untimed warm-up steps per model, and of {s['sample_repeats']} sampling repeats after an "
        "untimed warm-up; the two models' repeats alternate. Speed-up: project/reference for throughput, "
        "reference/project for sampling time; the goal is judged on the medians.",
        "",
        "- Reference: `benchmarks/reference.py`, the original ContextUnet (n_feat 64) and loop: Adam, fp32, "
        "BatchNorm, context masking, its own DDPM and DDIM (stride T/steps) samplers, unconditional.",
        "- Project: `course_lib` UNet with the default ModelConfig, trained by `course_lib.training.train` itself "
        "(AdamW, bf16 autocast where the precision probe finds bf16 faster, fp32 elsewhere (see the precision row), "
        "grad clip, "
        "Min-SNR loss weights, EMA, per TrainConfig defaults; resumed segment by segment, its own step "
        "timer), sampled with `course_lib.samplers.sample` as the course calls it (fp32, context None, guidance 1). "
        "The what-if row runs the same `sample` call inside `torch.autocast('cpu', dtype=torch.bfloat16)`.",
        "- FLOPs from `torch.utils.flop_counter` (convolutions and matmuls; norms and activations not counted); "
        "training counts forward + backward as 3x the forward.",
        f"- Data: {s['dataset_size']} synthetic 16x16 RGB images held in memory, batched by "
        "`ImageDataset.sample_batches` for both (the timing does not depend on pixel values).",
        "- Quality is not compared here (see the evaluation report): the reference model's FID cannot be measured "
        "without training it for about 6 hours.",
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
