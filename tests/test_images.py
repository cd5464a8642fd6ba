import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.images import image_format, save_gif, save_grid, to_display, to_pixels


def test_display_clips_to_the_unit_interval():
    x = torch.tensor([-7.0, -1.0001, -1.0, 0.0, 0.5, 1.0, 1.0001, 9.0])
    assert to_display(x).tolist() == [0.0, 0.0, 0.0, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_pixels_clip_to_0_and_255():
    assert to_pixels(torch.tensor([-5.0, -1.0, 0.0, 1.0, 5.0])).tolist() == [0, 0, 128, 255, 255]


def test_grid_of_out_of_range_values_is_black_and_white(tmp_path):
    dark, bright = torch.full((1, 3, 16, 16), -3.0), torch.full((1, 3, 16, 16), 40.0)
    grid = np.asarray(Image.open(save_grid(torch.cat([dark, bright]), tmp_path / "g.png", nrow=2, scale=1)))
    assert grid.shape == (18, 35, 3)  # two 16 px images, 1 px white gaps
    assert (grid[1:17, 1:17] == 0).all() and (grid[1:17, 18:34] == 255).all()


def test_grid_scale_repeats_each_pixel(tmp_path):
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    once = np.asarray(Image.open(save_grid(x, tmp_path / "1.png", scale=1)))
    four = np.asarray(Image.open(save_grid(x, tmp_path / "4.png", scale=4)))
    assert np.array_equal(four, once.repeat(4, axis=0).repeat(4, axis=1))


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".PNG", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"),
                                        (".gif", "GIF"), (".webp", "WEBP")])
def test_grid_format_follows_the_suffix(tmp_path, suffix, fmt):
    path = save_grid(torch.zeros(2, 3, 16, 16), tmp_path / f"g{suffix}")
    assert image_format(path) == fmt and Image.open(path).format == fmt


@pytest.mark.parametrize("name,message", [
    ("g.bmp", r"g\.bmp: cannot write \.bmp images; use \.png, \.jpg, \.jpeg, \.gif or \.webp"),
    ("g.pt", r"cannot write \.pt images"),
    ("g", r"g: has no image suffix; use \.png"),
])
def test_grid_refuses_an_unknown_suffix(tmp_path, name, message):
    with pytest.raises(ValueError, match=message):
        save_grid(torch.zeros(1, 3, 16, 16), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_gif_must_be_named_gif(tmp_path):
    frames = torch.linspace(-1, 1, 3).view(3, 1, 1, 1, 1).expand(3, 2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"cannot write \.png animations; use \.gif"):
        save_gif(frames, tmp_path / "a.png")
    gif = Image.open(save_gif(frames, tmp_path / "a.gif", hold_last=2))
    assert gif.format == "GIF" and gif.n_frames == 3
