"""Plots the course draws with matplotlib (headless-safe: figures are built with the Figure API)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .files import atomic_write


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over `window` values (shorter at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def loss_curve_figure(losses: list[float], title: str = "training loss", window: int = 100) -> Figure:
    """The per-step eps-prediction loss (faint) and its moving average, on a log scale."""
    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.subplots()
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.6, label="per step")
    ax.plot(steps, moving_average(losses, window), color="tab:blue", linewidth=1.6, label=f"mean of {window}")
    ax.set(yscale="log", xlabel="step", ylabel="MSE(eps, eps_theta)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    return path
