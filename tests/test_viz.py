"""Figures are pixel art: each sprite pixel becomes scale x scale screen pixels, colours exact."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import viz

SPRITES = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture
def shown(monkeypatch):
    """The figures the show_* helpers would display, closed afterwards."""
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "show", lambda: figures.append(plt.gcf()))
    yield figures
    for fig in figures:
        plt.close(fig)


def rendered(fig) -> np.ndarray:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


@pytest.mark.parametrize("scale", [1, 3, 4])
def test_show_images_draws_each_sprite_pixel_as_a_whole_block(shown, scale):
    viz.show_images(SPRITES, nrow=8, title="sixteen", scale=scale)
    grid = viz.grid_pixels(SPRITES, 8)
    picture = rendered(shown[0])
    assert picture.shape == (grid.shape[0] * scale + viz.TITLE_PX, grid.shape[1] * scale, 3)
    assert np.array_equal(picture[viz.TITLE_PX:], grid.repeat(scale, 0).repeat(scale, 1))


def test_side_by_side_and_rows_keep_whole_pixel_blocks(shown):
    viz.show_side_by_side({"a": SPRITES[:4], "b": -SPRITES[:4]}, nrow=2, scale=3)
    viz.show_rows({"first": SPRITES[:4], "second": SPRITES[4:8]}, scale=2)
    side, rows = (rendered(f) for f in shown)
    a, b = viz.grid_pixels(SPRITES[:4], 2), viz.grid_pixels(-SPRITES[:4], 2)
    top, right = viz.TITLE_PX, a.shape[1] * 3 + viz.GAP_PX
    assert np.array_equal(side[top:top + a.shape[0] * 3, :a.shape[1] * 3], a.repeat(3, 0).repeat(3, 1))
    assert np.array_equal(side[top:, right:], b.repeat(3, 0).repeat(3, 1))
    second = viz.grid_pixels(SPRITES[4:8], 4).repeat(2, 0).repeat(2, 1)
    assert np.array_equal(rows[-second.shape[0]:, viz.LABEL_PX:], second)


def test_scale_must_be_a_whole_number(shown):
    with pytest.raises(ValueError, match="scale=0.8 must be a whole number"):
        viz.show_images(SPRITES, scale=0.8)


def test_animation_frames_are_titled_by_their_timestep():
    html = viz.animate_frames(torch.stack([SPRITES[:4], -SPRITES[:4]]), [10, viz.FINAL_FRAME], nrow=4).data
    assert html.count("data:image/png;base64") == 2
    assert viz.frame_title(10) == "x_t at t = 10" and viz.frame_title(viz.FINAL_FRAME) == "final images"


def test_fid_vs_nfe_figure_draws_each_sampler_and_names_the_missing_ones():
    q = {"samplers": {"ddim": {"nfe": [6, 25], "fid": [30.0, 20.0], "fid_sd": [None, 1.0]}}, "missing": ["heun"],
         "ddpm_fid": 18.0, "ddpm_steps": 500, "limit": 22.5, "floor": 9.0}
    ax = viz.fid_vs_nfe_figure({"m": q, "n": {**q, "missing": []}}).axes
    assert [a.get_title() for a in ax] == ["m\nno rows in this report for heun", "n"]
    assert [c.get_label() for c in ax[0].containers] == ["DDIM"]
    curve, _, (bars,) = ax[0].containers[0].lines
    assert list(curve.get_xdata()) == [6, 25] and list(curve.get_ydata()) == [30.0, 20.0]
    assert [seg[:, 1].tolist() for seg in bars.get_segments()] == [[30.0, 30.0], [19.0, 21.0]]  # sd 1 at NFE 25
    levels = {line.get_label(): line.get_ydata()[0] for line in ax[0].lines if line.get_label()[0] != "_"}
    assert levels == {"DDPM 500": 18.0, "limit: 1.25 x DDPM": 22.5, "floor": 9.0}
