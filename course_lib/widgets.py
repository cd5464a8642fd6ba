"""Interactive explorers for the labs, built on one class.

An `ImageExplorer` is a row of ipywidgets controls above a picture: whenever a control
changes, it calls `render(**values)`, which returns a batch of images in model space, and
shows them as a grid. Every lab's widget (the trajectory scrubber, the forward-process
slider, the checkpoint selector, the context and guidance sliders, the DDIM steps and eta
sliders) is an `ImageExplorer` with different controls and a different `render`.
"""
from __future__ import annotations

import io
from typing import Callable

import ipywidgets as W
import torch

from .config import DEFAULT_GUIDANCE
from .images import grid_picture
from .samplers import DDIMSampler, sample
from .viz import frame_title


# Pixel art stays crisp in the browser: the picture is shown at exactly its own size (already enlarged by a
# whole number in grid_png), and should the browser scale it anyway (zoom, high-DPI screens), without smoothing.
PIXEL_ART_CLASS = "course-pixel-art"
PIXEL_ART_STYLE = f"<style>.{PIXEL_ART_CLASS} {{ image-rendering: pixelated; }}</style>"


def grid_png(x: torch.Tensor, nrow: int = 8, scale: int = 4) -> bytes:
    """PNG bytes of a grid of a batch in model space (pixels enlarged `scale` times)."""
    buffer = io.BytesIO()
    grid_picture(x, nrow, scale).save(buffer, format="PNG")
    return buffer.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, read from a PNG's header (the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


class ImageExplorer(W.VBox):
    """Controls above an image; the image is re-rendered from the controls' values on every change.

    render: a function of the controls' values (keyword arguments named like `controls`) that
    returns a batch (B, C, H, W) in model space. caption: an optional function of the same
    values that returns a line of text shown under the image.
    """

    def __init__(self, render: Callable[..., torch.Tensor], controls: dict[str, W.ValueWidget], nrow: int = 8,
                 scale: int = 4, caption: Callable[..., str] | None = None, title: str = ""):
        self.render, self.controls, self.nrow, self.scale = render, controls, nrow, scale
        self.caption_fn = caption
        self.image = W.Image(format="png", layout=W.Layout(align_self="flex-start", max_width="none"))
        self.image.add_class(PIXEL_ART_CLASS)
        self.caption = W.HTML()
        self.title = title
        # Controls wrap onto further rows instead of squeezing every slider into one line.
        controls_box = W.HBox(list(self._layout_controls()), layout=W.Layout(flex_flow="row wrap"))
        super().__init__([W.HTML(PIXEL_ART_STYLE), controls_box, self.image, self.caption])
        for widget in controls.values():
            widget.observe(self.refresh, names="value")
        self.refresh()

    def _layout_controls(self):
        for name, widget in self.controls.items():
            if not widget.description and not isinstance(widget, W.Play):
                widget.description = name
            yield widget

    @property
    def values(self) -> dict:
        return {name: widget.value for name, widget in self.controls.items()}

    def refresh(self, change=None) -> None:
        values = self.values
        png = grid_png(self.render(**values), self.nrow, self.scale)
        width, height = png_size(png)
        self.image.layout.width, self.image.layout.height = f"{width}px", f"{height}px"
        self.image.value = png
        if self.caption_fn is not None:
            self.caption.value = self.caption_fn(**values)

    def __repr__(self) -> str:  # a short, stable text form (notebooks compare it)
        settings = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({self.title + ': ' if self.title else ''}{settings})"


def slider(value, lo, hi, step=1, description="", continuous=False) -> W.ValueWidget:
    """An IntSlider or FloatSlider (by the type of `step`) that updates on release unless continuous."""
    cls = W.IntSlider if isinstance(step, int) and isinstance(value, int) else W.FloatSlider
    return cls(value=value, min=lo, max=hi, step=step, description=description, continuous_update=continuous,
               style={"description_width": "initial"})


def trajectory_explorer(trajectories: dict[str, tuple[torch.Tensor, list[int]]], nrow: int = 8,
                        scale: int = 4, interval_ms: int = 150) -> ImageExplorer:
    """Scrub stored sampling trajectories: a frame slider with a Play button, and a toggle between
    trajectories (e.g. "with noise" / "without noise") when there are several.
    trajectories: name -> (frames (F, B, C, H, W), the timestep of each frame), as in `samplers.SampleResult`."""
    names = list(trajectories)
    frames0, _ = trajectories[names[0]]
    step = slider(0, 0, len(frames0) - 1, 1, "frame", continuous=True)
    play = W.Play(value=0, min=0, max=len(frames0) - 1, interval=interval_ms)
    W.jslink((play, "value"), (step, "value"))
    controls = {"play": play, "frame": step}
    if len(names) > 1:
        controls["run"] = W.ToggleButtons(options=names, value=names[0], description="")

    def render(frame, play=None, run=names[0]):
        return trajectories[run][0][frame]

    def caption(frame, play=None, run=names[0]):
        return f"<b>{run}</b>: " + frame_title(trajectories[run][1][frame], "x<sub>t</sub>")

    return ImageExplorer(render, controls, nrow, scale, caption, title="trajectory")


def guided_sampler_explorer(model, schedule, n: int = 16, seed: int = 0, nrow: int = 8, steps: int = 20,
                            labels: tuple[str, ...] = (), guidance: float = DEFAULT_GUIDANCE, eta: float = 0.0,
                            show_steps: bool = False) -> ImageExplorer:
    """Regenerate a fixed-seed grid with DDIM. Controls: one slider per context entry (if `labels`),
    a guidance-scale slider (with labels), and DDIM steps and eta sliders (if show_steps)."""
    controls = {name: slider(1.0 if i == 0 else 0.0, 0.0, 1.0, 0.1, name) for i, name in enumerate(labels)}
    if labels:
        controls["guidance"] = slider(guidance, 0.0, 5.0, 0.5, "guidance")
    if show_steps:
        controls["steps"] = slider(steps, 1, 100, 1, "DDIM steps")
        controls["eta"] = slider(eta, 0.0, 1.0, 0.1, "eta")

    def settings(values):
        context = [values[name] for name in labels] if labels else None
        return context, values.get("guidance", 1.0), values.get("steps", steps), values.get("eta", eta)

    def render(**values):
        context, w, k, e = settings(values)
        sampler = DDIMSampler(schedule, int(k), e)
        return sample(model, sampler, n, context=context, guidance=w, seed=seed).images  # same x_T every time

    def caption(**values):
        context, w, k, e = settings(values)
        mix = " + ".join(f"{v:.1f}·{name}" for name, v in zip(labels, context or []) if v) or "no context"
        return f"DDIM, {int(k)} steps, eta = {e:.1f}" + (f"; context {mix}; guidance {w:.1f}" if labels else "")

    return ImageExplorer(render, controls, nrow, 4, caption, title="DDIM")


def choice_explorer(images: dict[str, torch.Tensor], description: str = "", nrow: int = 8,
                    scale: int = 4) -> ImageExplorer:
    """Switch between precomputed batches (e.g. samples of checkpoints taken during training)."""
    names = list(images)
    choice = W.ToggleButtons(options=names, value=names[-1], description=description)
    return ImageExplorer(lambda choice: images[choice], {"choice": choice}, nrow, scale,
                         caption=lambda choice: f"<b>{choice}</b>", title=description or "choice")


def forward_explorer(x0: torch.Tensor, schedules: dict, seed: int = 0, nrow: int = 8) -> ImageExplorer:
    """The forward process q(x_t | x_0) for a batch x0: a t slider and a schedule selector; the noise eps
    is fixed, so moving t only changes how much of it is mixed in."""
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    names = list(schedules)
    T = schedules[names[0]].T
    controls = {"t": slider(0, 0, T - 1, 1, "t", continuous=True),
                "schedule": W.ToggleButtons(options=names, value=names[0], description="")}

    def render(t, schedule):
        return schedules[schedule].q_sample(x0, torch.full((len(x0),), t), eps)

    def caption(t, schedule):
        ab = schedules[schedule].alpha_bar[t].item()
        return (f"{schedule}: t = {t}, sqrt(alpha_bar_t) = {ab ** 0.5:.3f} (signal), "
                f"sqrt(1 - alpha_bar_t) = {(1 - ab) ** 0.5:.3f} (noise)")

    return ImageExplorer(render, controls, nrow, 4, caption, title="forward process")
