"""Where the model runs, and in which precision.

`pick_device` takes the fastest device present. Precision is one of `config.PRECISIONS`:
"fp32", "bf16" (bfloat16 autocast: matmuls and convolutions in bf16, the rest in float32)
or "auto". Whether bf16 is faster than float32 depends on the hardware in ways its feature
flags do not tell: a CPU may compute bf16 natively (about twice as fast), emulate it (an
order of magnitude slower), or have the instructions yet run them slower than float32.
So "auto" measures instead of guessing: `precision_probe` times the forward and backward
pass of the course's U-Net on a small batch in both precisions, alternating, once per
process and device type, and "auto" means bf16 exactly where bf16 ran at least
`BF16_MARGIN` times faster. The probe's numbers are logged (logger "course_lib.device")
and written into the training log and the evaluation report through `describe_machine`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from .config import ModelConfig, ScheduleConfig, check_precision
from .model import UNet

log = logging.getLogger(__name__)

# bf16 must beat float32 by this factor in the probe: a tie is not worth bf16's rounding.
BF16_MARGIN = 1.1
PROBE_BATCH = 32
PROBE_ROUNDS = 3


def pick_device() -> torch.device:
    """The fastest device here: CUDA, then Apple MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device a model's parameters live on."""
    return next(module.parameters()).device


@dataclass(frozen=True)
class PrecisionProbe:
    """Seconds for one forward and backward pass of the probe convolutions in each precision."""

    device: str
    fp32_seconds: float
    bf16_seconds: float

    @property
    def speedup(self) -> float:
        """How many times faster bf16 ran than float32 (below 1: slower)."""
        return self.fp32_seconds / self.bf16_seconds

    @property
    def bf16_faster(self) -> bool:
        return self.speedup >= BF16_MARGIN

    def __str__(self) -> str:
        return (f"bf16 probe on {self.device}: {self.speedup:.2f}x float32's speed "
                f"({1e3 * self.bf16_seconds:.1f} ms against {1e3 * self.fp32_seconds:.1f} ms) -> "
                f"{'bf16' if self.bf16_faster else 'fp32'}")


def _time_pass(model: UNet, batch: tuple[torch.Tensor, ...], bf16: bool) -> float:
    """Seconds for one forward and backward pass of the model in the given precision."""
    x, t, c = batch
    start = time.perf_counter()
    with autocast(x.device, bf16):
        loss = model(x, t, c).float().square().mean()
    loss.backward()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start


@cache
def _probe(device_type: str) -> PrecisionProbe:
    device = torch.device(device_type)
    with torch.random.fork_rng(devices=[]):  # the probe leaves the global random state as it was
        torch.manual_seed(0)
        config = ModelConfig()
        model = UNet(config).to(device)
        x = torch.randn(PROBE_BATCH, config.channels, config.image_size, config.image_size, device=device)
        t = torch.randint(0, ScheduleConfig().T, (PROBE_BATCH,), device=device)
        c = torch.zeros(PROBE_BATCH, config.context_dim, device=device)
        times = {False: [], True: []}
        for _ in range(PROBE_ROUNDS + 1):  # the first round warms up (kernel choice, allocation) and is dropped
            for bf16 in times:
                times[bf16].append(_time_pass(model, (x, t, c), bf16))
            if times[True][-1] > 3 * times[False][-1]:  # clearly slower (emulated): no need to measure more
                break
    probe = PrecisionProbe(device_type, min(times[False][1:] or times[False]), min(times[True][1:] or times[True]))
    log.info("%s", probe)
    return probe


def precision_probe(device: torch.device | str) -> PrecisionProbe | None:
    """The (cached) timing of bf16 against float32 on this device type; None where bf16 autocast is
    not offered (Apple MPS and other backends run float32)."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return None
    return _probe(device.type) if device.type in ("cpu", "cuda") else None


def use_bf16(precision: str, device: torch.device | str) -> bool:
    """Resolve a precision setting to: run under bfloat16 autocast on `device`? "auto" asks the probe."""
    check_precision(precision)
    if precision != "auto":
        return precision == "bf16"
    probe = precision_probe(device)
    return probe is not None and probe.bf16_faster


def autocast(device: torch.device | str, bf16: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on `device` when `bf16`, else a context that changes nothing."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@cache
def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine(device: torch.device | str = "cpu") -> str:
    """CPU model, vector extensions, cores and threads, the GPU when running on one, and the bf16 probe's
    verdict for `device`: one line for logs, reports and benchmark tables."""
    device = torch.device(device)
    text = (f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}), {os.cpu_count()} cores, "
            f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    if device.type == "cuda":
        text += f", GPU {torch.cuda.get_device_name(device)}"
    probe = precision_probe(device)
    return text + (f"; {probe}" if probe is not None else "")
