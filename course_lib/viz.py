"""Plots the course draws with matplotlib (headless-safe: figures are built with the Figure API)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from .files import atomic_write
from .images import grid_picture
from .samplers import FINAL_FRAME, SAMPLERS


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over `window` values (shorter at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def loss_curve_figure(losses: list[float], title: str = "training loss", window: int = 100) -> Figure:
    """The per-step training loss (faint) and its moving average, on a log scale."""
    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.subplots()
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.6, label="per step")
    ax.plot(steps, moving_average(losses, window), color="tab:blue", linewidth=1.6, label=f"mean of {window}")
    ax.set(yscale="log", xlabel="step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def fid_vs_nfe_figure(curves: dict[str, dict]) -> Figure:
    """One panel per model {name: report.quality_vs_nfe(...)}: each sampler's FID (mean, with the sd over the
    sampling seeds as error bars) against its number of model evaluations (log scale), DDPM over all T steps as a
    dashed line, its FAST_BAR band (the `limit`) dotted, and the floor (fresh data against fresh data) grey."""
    fig = Figure(figsize=(5.2 * len(curves), 3.6), dpi=100)
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, q) in zip(axes, curves.items()):
        for method, c in q["samplers"].items():
            ax.errorbar(c["nfe"], c["fid"], yerr=[sd or 0.0 for sd in c["fid_sd"]], marker="o", capsize=3,
                        label=SAMPLERS[method].title)
        ax.axhline(q["ddpm_fid"], color="black", linestyle="--", linewidth=1, label=f"DDPM {q['ddpm_steps']}")
        ax.axhline(q["limit"], color="black", linestyle=":", linewidth=1,
                   label=f"limit: {q['limit'] / q['ddpm_fid']:.2f} x DDPM")
        ax.axhline(q["floor"], color="grey", linewidth=1, label="floor")
        missing = f"\nno rows in this report for {', '.join(q['missing'])}" if q.get("missing") else ""
        ax.set(xscale="log", xlabel="model evaluations per sprite (NFE)", ylabel="FID", title=name + missing)
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # plain numbers: 5, 10, 20, 50, ...
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    return path


# Pictures are pixel art: every figure below is laid out in screen pixels (DPI pixels per inch), and each
# sprite pixel becomes `scale` x `scale` screen pixels with nearest-neighbour drawing, never smoothed.
DPI = 100
TITLE_PX = 30  # room for a title above a grid
GAP_PX = 24    # between grids side by side, and between rows
LABEL_PX = 140  # room for row labels left of the grids


def grid_pixels(x, nrow: int = 8):
    """The grid of a batch in model space as 8-bit RGB, (H, W, 3) uint8: exactly the colours a saved PNG has."""
    import numpy as np

    return np.asarray(grid_picture(x, nrow, scale=1))


def pixel_figure(width_px: int, height_px: int):
    """A pyplot figure of exactly width_px x height_px screen pixels."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)


def place_grid(fig, grid, left_px: int, top_px: int, scale: int, title: str = ""):
    """Draw `grid` with its top-left corner at (left_px, top_px) of `fig`, each of its pixels scale x scale
    screen pixels; the title goes above it. Returns the axes."""
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"scale={scale!r} must be a whole number >= 1 (screen pixels per sprite pixel)")
    fig_w, fig_h = fig.get_size_inches() * DPI
    h, w = grid.shape[0] * scale, grid.shape[1] * scale
    ax = fig.add_axes((left_px / fig_w, 1 - (top_px + h) / fig_h, w / fig_w, h / fig_h))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def show_images(x, nrow: int = 8, title: str = "", scale: int = 4) -> None:
    """Show a batch in model space as one grid, each sprite pixel `scale` x `scale` screen pixels."""
    import matplotlib.pyplot as plt

    grid, top = grid_pixels(x, nrow), TITLE_PX if title else 0
    fig = pixel_figure(grid.shape[1] * scale, grid.shape[0] * scale + top)
    place_grid(fig, grid, 0, top, scale, title)
    plt.show()


def show_side_by_side(batches: dict, nrow: int = 8, scale: int = 4) -> None:
    """Grids next to each other, one per entry of `batches` (title -> batch)."""
    import matplotlib.pyplot as plt

    comparison_figure(batches, nrow=nrow, scale=scale, figure=pixel_figure)
    plt.show()


def show_rows(rows: dict, scale: int = 4) -> None:
    """One labelled row per entry of `rows` (label -> batch), e.g. samples per context."""
    import matplotlib.pyplot as plt

    grids = {label: grid_pixels(batch, len(batch)) for label, batch in rows.items()}
    width = LABEL_PX + max(g.shape[1] for g in grids.values()) * scale
    fig = pixel_figure(width, sum(g.shape[0] * scale for g in grids.values()) + GAP_PX * (len(grids) - 1))
    fig_h, top = fig.get_size_inches()[1] * DPI, 0
    for label, grid in grids.items():
        place_grid(fig, grid, LABEL_PX, top, scale)
        fig.text((LABEL_PX - 10) / width, 1 - (top + grid.shape[0] * scale / 2) / fig_h, label, ha="right",
                 va="center", fontsize=11)
        top += grid.shape[0] * scale + GAP_PX
    plt.show()


def frame_title(t: int, label: str = "x_t") -> str:
    """The caption of one frame of a sampling trajectory: "`label` at t = ..." or, for the final images
    (timestep FINAL_FRAME), "final images"."""
    return "final images" if t == FINAL_FRAME else f"{label} at t = {t}"


def animate_frames(frames, frame_timesteps: list[int], nrow: int = 8, interval_ms: int = 120, scale: int = 4,
                   label: str = "x_t", row_labels: list[str] | None = None):
    """An HTML animation (matplotlib's to_jshtml: plays in any notebook viewer, no kernel needed) of
    frames (F, B, C, H, W) in model space, each titled by `frame_title` with its timestep; each sprite pixel
    is `scale` x `scale` screen pixels. row_labels: a name written left of each row of the grid."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib import animation

    grids = [grid_pixels(f, nrow) for f in frames]
    left = LABEL_PX if row_labels else 0
    fig = pixel_figure(left + grids[0].shape[1] * scale, grids[0].shape[0] * scale + TITLE_PX)
    ax = place_grid(fig, grids[0], left, TITLE_PX, scale, frame_title(frame_timesteps[0], label))
    fig_w, fig_h = fig.get_size_inches() * DPI
    row_px = (frames.shape[-1] + 1) * scale  # a sprite and the 1-pixel gap below it
    for r, name in enumerate(row_labels or []):
        fig.text((left - 10) / fig_w, 1 - (TITLE_PX + scale + r * row_px + row_px / 2) / fig_h, name, ha="right",
                 va="center", fontsize=11)
    picture = ax.get_images()[0]

    def draw(i):
        picture.set_data(grids[i])
        ax.set_title(frame_title(frame_timesteps[i], label), fontsize=11)
        return [picture]

    anim = animation.FuncAnimation(fig, draw, frames=len(grids), interval=interval_ms)
    html = HTML(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return html


CAPTION_PX = 24  # room for a caption below a grid


def comparison_figure(batches: dict, captions: dict | None = None, nrow: int = 8, scale: int = 4,
                      figure=None) -> Figure:
    """Grids side by side, one per entry of `batches` (title -> batch in model space), each sprite pixel
    scale x scale screen pixels, the title above and captions[title] (if any) below each grid.
    figure(width_px, height_px) makes the figure: by default one without pyplot, to be written with save_figure."""
    grids = {title: grid_pixels(batch, nrow) for title, batch in batches.items()}
    width = sum(g.shape[1] * scale for g in grids.values()) + GAP_PX * (len(grids) - 1)
    height = TITLE_PX + max(g.shape[0] for g in grids.values()) * scale + (CAPTION_PX if captions else 0)
    fig = (figure or (lambda w, h: Figure(figsize=(w / DPI, h / DPI), dpi=DPI)))(width, height)
    left = 0
    for title, grid in grids.items():
        place_grid(fig, grid, left, TITLE_PX, scale, title)
        if title in (captions or {}):
            fig.text((left + grid.shape[1] * scale / 2) / width, CAPTION_PX / 2 / height, captions[title],
                     ha="center", va="center", fontsize=10)
        left += grid.shape[1] * scale + GAP_PX
    return fig


def show_quality_vs_nfe(report, model: str = "context", samplers=None) -> dict[str, list[tuple[int, float]]]:
    """Show one model's FID against NFE (`fid_vs_nfe_figure` of `report.quality_vs_nfe`), read from an evaluation
    report, never recomputed; samplers: the methods to draw (default: every one the report has) beside DDPM.
    Returns {sampler: [(nfe, fid), ...]} of what is drawn."""
    from IPython.display import display

    from .report import quality_vs_nfe

    q = quality_vs_nfe(report, model, samplers)
    display(fid_vs_nfe_figure({model: q}))
    return {method: list(zip(c["nfe"], c["fid"])) for method, c in q["samplers"].items()}
