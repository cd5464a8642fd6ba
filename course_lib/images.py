"""Between model space and pictures.

The model works in [-1, 1]: x = pixel / 127.5 - 1. For display, images are mapped back
with (x + 1) / 2 and clipped to [0, 1]. Never rescale each image by its own minimum and
maximum: that stretches every sprite differently and shifts its colours.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from .files import atomic_write

# What save_grid and save_gif write, by file suffix (Pillow's names for the formats).
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP"}
ANIMATION_FORMATS = {".gif": "GIF"}


def to_model_space(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1]: x = p / 127.5 - 1."""
    return pixels.float() / 127.5 - 1.0


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Model space -> the uint8 pixels it would be saved as: p = round((clip(x, -1, 1) + 1) * 127.5)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Model-space images snapped to the 8-bit pixels they would be saved as (clipped to [-1, 1]), so that
    generated and real images reach a measurement through the same path: to_model_space(to_pixels(x))."""
    return to_model_space(to_pixels(x))


def as_model_space(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels or model-space floats -> float32 model space."""
    return to_model_space(images) if images.dtype == torch.uint8 else images.float()


def to_display(x: torch.Tensor) -> torch.Tensor:
    """Model space [-1, 1] -> [0, 1] for display: (x + 1) / 2, clipped; the same mapping for every image."""
    return ((x.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)


def image_grid(x: torch.Tensor, nrow: int = 8, padding: int = 1, pad_value: float = 1.0) -> torch.Tensor:
    """A (3, H', W') grid in [0, 1] of a batch (B, C, H, W) in model space, white gaps between images."""
    if x.dim() != 4:
        raise ValueError(f"expected a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    return make_grid(to_display(x), nrow=nrow, padding=padding, pad_value=pad_value)


def grid_to_numpy(grid: torch.Tensor):
    """(C, H, W) in [0, 1] -> (H, W, C) array for matplotlib (grey images keep 3 equal channels)."""
    return grid.permute(1, 2, 0).numpy()


def enlarged_grid(x: torch.Tensor, nrow: int = 8, scale: int = 4) -> torch.Tensor:
    """image_grid with every pixel repeated `scale` times (nearest neighbour keeps pixel art crisp)."""
    return image_grid(x, nrow=nrow).repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)


def grid_picture(x: torch.Tensor, nrow: int = 8, scale: int = 4):
    """A PIL image of the enlarged grid of a batch in model space, 8-bit RGB: round(255 * display value)."""
    from PIL import Image

    grid = grid_to_numpy(enlarged_grid(x, nrow, scale))
    return Image.fromarray((grid * 255).round().astype("uint8"))


def image_format(path: str | Path, animated: bool = False) -> str:
    """The format the suffix of `path` names (IMAGE_FORMATS, or ANIMATION_FORMATS when `animated`), so that a
    caller can check an output name before a long run; a ValueError listing the suffixes for any other."""
    formats = ANIMATION_FORMATS if animated else IMAGE_FORMATS
    suffix = Path(path).suffix
    if suffix.lower() in formats:
        return formats[suffix.lower()]
    kind = "animations" if animated else "images"
    problem = f"cannot write {suffix} {kind}" if suffix else f"has no {kind[:-1]} suffix"
    names = list(formats)
    choices = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    raise ValueError(f"{path}: {problem}; use {choices}")


def save_grid(x: torch.Tensor, path: str | Path, nrow: int = 8, scale: int = 4) -> Path:
    """Write a batch in model space as a grid picture, each pixel enlarged `scale` times, in the format
    its suffix names (.png, .jpg, .jpeg, .gif or .webp)."""
    fmt = image_format(path)
    grid = enlarged_grid(x, nrow, scale)
    path = Path(path)
    with atomic_write(path) as tmp:
        save_image(grid, tmp, format=fmt)
    return path


def save_gif(frames: torch.Tensor, path: str | Path, nrow: int = 8, scale: int = 4, ms_per_frame: int = 80,
             hold_last: int = 12) -> Path:
    """Write frames (F, B, C, H, W) in model space, e.g. a sampling trajectory, as an animated GIF of grids;
    the final frame is held a little longer. The name must end in .gif."""
    image_format(path, animated=True)
    pictures = [grid_picture(frame, nrow, scale) for frame in frames]
    pictures += [pictures[-1]] * hold_last
    path = Path(path)
    with atomic_write(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=ms_per_frame, loop=0)
    return path
