"""Class labels, the registry of templates and the rendering of one sprite.

A template is a family of sprites, not a single bitmap: "wizard" chooses
among hair styles, beards, staffs, head and body sizes; "slime" among sizes,
eyes, crowns and drips.  ``TEMPLATES`` gathers the templates of the five
kinds in a fixed order (a template's id is its index, stored with every
sprite).

``render_sprite`` picks a template of the requested class and a palette it
allows, lets the template paint a ``Canvas``, outlines the silhouette, then
augments (``_place``): up to two rows and two columns are dropped from, or
added to, runs of identical lines (proportion jitter that never cuts a
feature), the sprite is mirrored with probability 1/2 and shifted by up to
2 px where it stays inside the frame.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .canvas import _N, Canvas
from .creatures import _CREATURES
from .food import _FOODS
from .humans import _HUMANS, _draw_human
from .palettes import _ALL_PALETTES, PALETTES, _coin, _paint, _pal, _pick
from .side_facing import _BEASTS, _WALKERS, _draw_beast, _draw_robot, _draw_walker, _horse
from .spells import _SPELLS

LABEL_NAMES = ("human", "non-human", "food", "spell", "side-facing")
HUMAN, CREATURE, FOOD, SPELL, SIDE = range(5)
# Image counts per class in the original course's 89,400-sprite dataset.
_CLASS_WEIGHTS = (8000, 32400, 6000, 35000, 8000)
CLASS_SHARES = tuple(w / sum(_CLASS_WEIGHTS) for w in _CLASS_WEIGHTS)


@dataclass(frozen=True)
class Template:
    """A family of sprites: one class label, one drawing routine, allowed palettes."""

    id: int
    label: int
    name: str
    draw: Callable = field(repr=False, compare=False, default=None)
    palettes: tuple = field(repr=False, default=_ALL_PALETTES)


def _build_templates():
    """Every kind's templates in id order: humans, creatures, food, spells, then the side-facing
    walkers, robot, horse and beasts.  Ids are stored in the dataset: add at the end, never reorder."""
    rows = [(HUMAN, name, functools.partial(_draw_human, kit=kit), _ALL_PALETTES) for name, kit in _HUMANS]
    rows += [(CREATURE, name, draw, _ALL_PALETTES) for name, draw in _CREATURES]
    rows += [(FOOD, name, draw, pals) for name, draw, pals in _FOODS]
    rows += [(SPELL, name, draw, _ALL_PALETTES) for name, draw in _SPELLS]
    rows += [(SIDE, f"walking {name}", functools.partial(_draw_walker, kit=kit), _ALL_PALETTES)
             for name, kit in _WALKERS]
    rows += [(SIDE, "walking robot", _draw_robot, _ALL_PALETTES),
             (SIDE, "horse", _horse, _pal("brown", "bone", "shadow", "steel", "gold"))]
    rows += [(SIDE, name, functools.partial(_draw_beast, kit=kit), pals) for name, kit, pals in _BEASTS]
    return tuple(Template(i, lab, name, draw, pals) for i, (lab, name, draw, pals) in enumerate(rows))


TEMPLATES = _build_templates()
_BY_LABEL = tuple(tuple(t for t in TEMPLATES if t.label == c) for c in range(len(LABEL_NAMES)))


def _check_label(label) -> int:
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(LABEL_NAMES):
        raise ValueError(f"unknown label {label!r}: expected an int in 0..{len(LABEL_NAMES) - 1} "
                         f"({', '.join(f'{i}={n}' for i, n in enumerate(LABEL_NAMES))})")
    return int(label)


def _resize_run(lines: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Squash or stretch a stack of image lines (rows) by one, keeping pixel-art style.

    Only a run of identical lines is shortened or lengthened, so no feature
    (an eye, an outline) is cut or doubled; a stretch needs a blank line at an
    edge to give up, a squash adds one at the top.
    """
    blank = (lines == 255).all(axis=(1, 2))
    runs = np.flatnonzero((lines[1:] == lines[:-1]).all(axis=(1, 2)) & ~blank[1:])
    if runs.size == 0:
        return lines
    k = int(runs[int(rng.integers(runs.size))])
    if _coin(rng):  # squash
        return np.concatenate([lines[:1] * 0 + 255, lines[:k], lines[k + 1:]])
    if blank[0]:
        return np.concatenate([lines[1:k + 1], lines[k:]])
    if blank[-1]:
        return np.concatenate([lines[:k + 1], lines[k:-1]])
    return lines


def _place(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Proportion jitter (up to two lines per axis), random mirror, then a shift of up to 2 px
    that keeps the sprite in frame."""
    for _ in range(int(rng.integers(3))):
        img = _resize_run(img, rng)
    for _ in range(int(rng.integers(3))):
        img = _resize_run(img.transpose(1, 0, 2), rng).transpose(1, 0, 2)
    if _coin(rng):
        img = img[:, ::-1]
    drawn = (img != 255).any(axis=2)
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if rows.size == 0:
        return np.ascontiguousarray(img)
    dy = int(rng.integers(-min(2, rows[0]), min(2, _N - 1 - rows[-1]) + 1))
    dx = int(rng.integers(-min(2, cols[0]), min(2, _N - 1 - cols[-1]) + 1))
    out = np.full_like(img, 255)
    out[max(dy, 0):_N + min(dy, 0), max(dx, 0):_N + min(dx, 0)] = \
        img[max(-dy, 0):_N + min(-dy, 0), max(-dx, 0):_N + min(-dx, 0)]
    return out


def render_sprite(label: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """Draw one sprite of class ``label``: (uint8 image (16,16,3), template id, palette id)."""
    label = _check_label(label)
    template = _pick(rng, _BY_LABEL[label])
    palette = PALETTES[_pick(rng, template.palettes)]
    paint = _paint(palette, rng)
    cv = Canvas()
    template.draw(cv, rng, paint)
    img = cv.finish(paint.main.line)
    return _place(img, rng), template.id, palette.id
