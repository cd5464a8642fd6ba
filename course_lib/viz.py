"""Plots the course draws with matplotlib (headless-safe: figures are built with the Figure API)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .files import atomic_write
from .samplers import FINAL_FRAME


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


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    return path


def draw_grid(ax, x, nrow: int = 8, title: str = "") -> None:
    """Draw a batch in model space as one grid on `ax` (clipped, never rescaled per image)."""
    from .images import grid_to_numpy, image_grid

    ax.imshow(grid_to_numpy(image_grid(x, nrow=nrow)), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def grid_inches(n: int, nrow: int, scale: float = 0.45) -> tuple[float, float]:
    """Figure size of a grid of n 16-px images with nrow per row: scale inches per 8 pixels."""
    rows = -(-n // nrow)
    return scale * (min(n, nrow) * 17 + 1) / 8, scale * (rows * 17 + 1) / 8


def show_images(x, nrow: int = 8, title: str = "", scale: float = 0.45) -> None:
    """Show a batch in model space as one grid."""
    import matplotlib.pyplot as plt

    w, h = grid_inches(len(x), nrow, scale)
    _, ax = plt.subplots(figsize=(w, h + (0.4 if title else 0)))
    draw_grid(ax, x, nrow, title)
    plt.show()


def show_side_by_side(batches: dict, nrow: int = 8, scale: float = 0.45) -> None:
    """Grids next to each other, one per entry of `batches` (title -> batch)."""
    import matplotlib.pyplot as plt

    w, h = grid_inches(len(next(iter(batches.values()))), nrow, scale)
    fig, axes = plt.subplots(1, len(batches), figsize=(len(batches) * w, h + 0.5), squeeze=False)
    for ax, (title, batch) in zip(axes[0], batches.items()):
        draw_grid(ax, batch, nrow, title)
    fig.tight_layout()
    plt.show()


def show_rows(rows: dict, scale: float = 0.45) -> None:
    """One labelled row per entry of `rows` (label -> batch), e.g. samples per context."""
    import matplotlib.pyplot as plt

    n = max(len(b) for b in rows.values())
    w, h = grid_inches(n, n, scale)
    fig, axes = plt.subplots(len(rows), 1, figsize=(w + 1.6, len(rows) * h), squeeze=False)
    for ax, (label, batch) in zip(axes[:, 0], rows.items()):
        draw_grid(ax, batch, n)
        ax.text(-4, 9, label, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(left=1.6 / (w + 1.6), right=0.99, top=0.99, bottom=0.01, hspace=0.08)
    plt.show()


def frame_title(t: int, label: str = "x_t") -> str:
    """The caption of one frame of a sampling trajectory: "`label` at t = ..." or, for the final images
    (timestep FINAL_FRAME), "final images"."""
    return "final images" if t == FINAL_FRAME else f"{label} at t = {t}"


def animate_frames(frames, frame_timesteps: list[int], nrow: int = 8, interval_ms: int = 120, scale: float = 0.45,
                   label: str = "x_t"):
    """An HTML animation (matplotlib's to_jshtml: plays in any notebook viewer, no kernel needed) of
    frames (F, B, C, H, W) in model space, each titled by `frame_title` with its timestep."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib import animation

    from .images import grid_to_numpy, image_grid

    grids = [grid_to_numpy(image_grid(f, nrow=nrow)) for f in frames]
    w, h = grid_inches(len(frames[0]), nrow, scale)
    fig, ax = plt.subplots(figsize=(w, h + 0.4), dpi=80)
    picture = ax.imshow(grids[0], interpolation="nearest")
    ax.set_axis_off()

    def draw(i):
        picture.set_data(grids[i])
        ax.set_title(frame_title(frame_timesteps[i], label))
        return [picture]

    anim = animation.FuncAnimation(fig, draw, frames=len(grids), interval=interval_ms)
    html = HTML(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return html
