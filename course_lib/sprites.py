"""Procedural 16x16 pixel-art sprites: the course's own, fully deterministic dataset.

The course trains a diffusion model on 16x16 RGB sprites in five classes
(``LABEL_NAMES``): front-facing chibi humans, non-human creatures, food, spell
effects and characters walking in profile.  Every sprite is drawn from scratch
by this module, so the dataset can be rebuilt anywhere, byte for byte.

How one sprite is made (``render_sprite``):

1. A *template* of the requested class is picked.  A template is a family of
   sprites, not a single bitmap: "wizard" chooses among hair styles, beards,
   staffs, head and body sizes; "slime" among sizes, eyes, crowns and drips.
2. A named *palette* allowed for that template is picked (clothes, skin of a
   creature, colour of a spell...).  Its colours get a small per-sprite jitter,
   and every colour is expanded into a ``Tone``: base, light, shadow, line.
3. The template paints parts onto a white 16x16 ``Canvas``.  Parts are boolean
   masks built from a handful of primitives (``ellipse``, ``rect``, ``poly``,
   ``line``, ``dots``) in integer arithmetic.  A part may carry its own dark
   outline (drawn over what lies below it, giving the internal lines of pixel
   art) and a shaded lower-right rim.  When all parts are down, the silhouette
   gets a dark 1-px outline: the 4-neighbour dilation of the inked mask minus
   the mask.
4. Augmentation: up to two rows and two columns are dropped from, or added
   to, runs of identical lines (proportion jitter that never cuts a feature),
   the sprite is mirrored with probability 1/2 and shifted by up to 2 px where
   it stays inside the frame.

Determinism: all randomness comes from ``numpy.random.default_rng`` (PCG64,
identical on every platform); sprite ``i`` of a split uses its own generator
seeded with ``[seed, split_code, i]``; geometry is integer-only (positions in
quarter pixels), so the output never depends on the machine, on chunking or
on the number of processes.  The per-template palette choice and the
template id are stored next to each image, for the course's evaluation
network, which learns these fine-grained attributes.

Files (``write_sprite_dataset``): ``sprites_{split}_images.npy`` uint8
(n,16,16,3), ``sprites_{split}_labels.npy`` uint8 one-hot (n,5),
``sprites_{split}_attributes.npy`` int16 (n,2) = [template, palette], plus
``sprites_meta.json`` and ``SHA256SUMS``; the dataset digest is the sha256 of
``SHA256SUMS``.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pathlib
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

LABEL_NAMES = ("human", "non-human", "food", "spell", "side-facing")
HUMAN, CREATURE, FOOD, SPELL, SIDE = range(5)
# Image counts per class in the original course's 89,400-sprite dataset.
_CLASS_WEIGHTS = (8000, 32400, 6000, 35000, 8000)
CLASS_SHARES = tuple(w / sum(_CLASS_WEIGHTS) for w in _CLASS_WEIGHTS)
IMAGE_SIZE = 16
GENERATOR_VERSION = 1
SPLITS = {"train": 0, "test": 1}

_N = IMAGE_SIZE
_Q = 4  # sub-pixel resolution of shape coordinates: quarter pixels
_YQ, _XQ = np.mgrid[0:_N, 0:_N] * _Q  # pixel centres in quarter-pixel units
_ROW = np.arange(_N)[:, None]
_COL = np.arange(_N)[None, :]
_EMPTY = np.zeros((_N, _N), bool)
_WHITE = (255, 255, 255)
_PAPER = (250, 250, 244)  # "white" parts of a sprite, kept apart from the background
_INK = (30, 24, 38)  # eyes, pupils, mouths

# --------------------------------------------------------------------------
# Mask primitives.  Coordinates are (row, column); pixel centres sit on
# integers, so a shape centred at 7.5 is symmetric on the 16-px grid.
# --------------------------------------------------------------------------


def _q(v: float) -> int:
    """A coordinate in quarter pixels (exact for multiples of 0.25)."""
    return int(round(v * _Q))


def ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    """Pixels whose centre lies inside the axis-aligned ellipse."""
    dy, dx, a, b = _YQ - _q(cy), _XQ - _q(cx), _q(ry), _q(rx)
    return dy * dy * (b * b) + dx * dx * (a * a) <= (a * a) * (b * b)


def rect(y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    """Pixels of the rectangle with inclusive corners (y0, x0) and (y1, x1)."""
    m = _EMPTY.copy()
    m[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
    return m


def poly(*pts: tuple[float, float]) -> np.ndarray:
    """Pixels whose centre lies inside the convex polygon (either winding)."""
    q = [(_q(y), _q(x)) for y, x in pts]
    pos, neg = np.ones((_N, _N), bool), np.ones((_N, _N), bool)
    for (ay, ax), (by, bx) in zip(q, q[1:] + q[:1]):
        side = (bx - ax) * (_YQ - ay) - (by - ay) * (_XQ - ax)
        pos &= side >= 0
        neg &= side <= 0
    return pos | neg


def line(*pts: tuple[int, int]) -> np.ndarray:
    """A 1-px polyline through integer points (rounded DDA, clipped)."""
    m = _EMPTY.copy()
    for (y0, x0), (y1, x1) in zip(pts, pts[1:]):
        n = max(abs(y1 - y0), abs(x1 - x0), 1)
        k = np.arange(n + 1)
        ys = y0 + ((y1 - y0) * 2 * k + n) // (2 * n)
        xs = x0 + ((x1 - x0) * 2 * k + n) // (2 * n)
        ok = (ys >= 0) & (ys < _N) & (xs >= 0) & (xs < _N)
        m[ys[ok], xs[ok]] = True
    return m


def dots(*pts: tuple[int, int]) -> np.ndarray:
    """Single pixels (clipped to the frame)."""
    m = _EMPTY.copy()
    for y, x in pts:
        if 0 <= y < _N and 0 <= x < _N:
            m[y, x] = True
    return m


def bits(*rows: str, y: int = 0, x: int = 0) -> np.ndarray:
    """A small hand-drawn bitmap ('#' = set) placed with its top-left corner at (y, x)."""
    m = _EMPTY.copy()
    for r, text in enumerate(rows):
        for k, ch in enumerate(text):
            if ch == "#" and 0 <= y + r < _N and 0 <= x + k < _N:
                m[y + r, x + k] = True
    return m


def shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The mask moved by (dy, dx); what leaves the frame is dropped."""
    out = _EMPTY.copy()
    out[max(dy, 0):_N + min(dy, 0), max(dx, 0):_N + min(dx, 0)] = \
        m[max(-dy, 0):_N + min(-dy, 0), max(-dx, 0):_N + min(-dx, 0)]
    return out


def dilate(m: np.ndarray) -> np.ndarray:
    """4-neighbour dilation: the mask grown by one pixel, without corners."""
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= m[:, :-1]
    out[:, :-1] |= m[:, 1:]
    return out


def erode(m: np.ndarray) -> np.ndarray:
    """4-neighbour erosion (pixels whose four neighbours are all set)."""
    return ~dilate(~m)


def mirror(m: np.ndarray) -> np.ndarray:
    """Left-right mirror image of a mask about the canvas centre (x = 7.5)."""
    return m[:, ::-1]


def both_sides(m: np.ndarray) -> np.ndarray:
    """A mask together with its mirror image: a symmetric pair of parts."""
    return m | m[:, ::-1]


def thick(m: np.ndarray) -> np.ndarray:
    """A thin stroke doubled to 2 px (adds the pixel to the right and below)."""
    return m | shift(m, 0, 1) | shift(m, 1, 0)


# --------------------------------------------------------------------------
# Colours.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tone:
    """One colour expanded into a pixel-art ramp."""

    base: tuple
    light: tuple
    shadow: tuple
    line: tuple  # dark outline colour


def tone(rgb) -> Tone:
    """Ramp of a colour with integer maths (no platform-dependent floats)."""
    c = tuple(int(v) for v in rgb)
    return Tone(c, tuple(v + (255 - v) * 2 // 5 for v in c), tuple(v * 3 // 4 for v in c),
                tuple(v * 3 // 10 for v in c))


@dataclass(frozen=True)
class Palette:
    """A named colour scheme; a sprite's palette id is its index in PALETTES."""

    id: int
    name: str
    main: tuple
    second: tuple
    accent: tuple


_PALETTE_TABLE = (
    ("red", (212, 52, 52), (250, 196, 64), (255, 232, 214)),
    ("orange", (238, 130, 40), (124, 72, 44), (255, 226, 150)),
    ("gold", (238, 196, 48), (172, 92, 40), (255, 248, 196)),
    ("lime", (140, 214, 60), (58, 138, 60), (236, 250, 170)),
    ("forest", (52, 138, 70), (150, 100, 54), (200, 232, 120)),
    ("teal", (38, 168, 158), (28, 90, 118), (190, 250, 230)),
    ("ice", (150, 212, 244), (70, 120, 200), (240, 250, 255)),
    ("blue", (56, 100, 214), (232, 200, 80), (190, 214, 255)),
    ("navy", (46, 58, 124), (194, 52, 62), (172, 182, 226)),
    ("purple", (142, 72, 198), (62, 42, 112), (232, 182, 255)),
    ("pink", (240, 120, 178), (150, 58, 120), (255, 220, 236)),
    ("wine", (142, 30, 62), (232, 182, 90), (242, 198, 212)),
    ("brown", (142, 92, 52), (90, 60, 40), (232, 192, 130)),
    ("steel", (150, 160, 174), (80, 90, 112), (234, 240, 246)),
    ("bone", (234, 226, 202), (150, 128, 108), (255, 250, 236)),
    ("shadow", (86, 80, 104), (164, 50, 72), (192, 190, 212)),
)
PALETTES = tuple(Palette(i, *row) for i, row in enumerate(_PALETTE_TABLE))
_PALETTE_ID = {p.name: p.id for p in PALETTES}
_ALL_PALETTES = tuple(range(len(PALETTES)))

_SKINS = ((252, 218, 182), (242, 190, 150), (208, 146, 102), (154, 102, 70), (112, 74, 52))
_HAIRS = ((52, 40, 40), (124, 72, 40), (240, 208, 108), (204, 82, 40), (222, 222, 228), (70, 80, 160))
_METAL, _WOOD, _GOLD = (176, 184, 198), (132, 86, 50), (244, 200, 60)
_HORN = tone((240, 232, 204))
_LEAF = tone((84, 170, 60))
_STEM = tone((110, 74, 44))


@dataclass(frozen=True)
class Paint:
    """The tones of one sprite: its palette (jittered) plus material colours."""

    main: Tone
    second: Tone
    accent: Tone
    skin: Tone
    hair: Tone
    metal: Tone = tone(_METAL)
    wood: Tone = tone(_WOOD)
    gold: Tone = tone(_GOLD)


def _jitter(rgb: tuple, rng: np.random.Generator) -> tuple:
    """A colour moved by a few levels per channel, so palettes are not flat."""
    d = rng.integers(-10, 11, size=3)
    return tuple(min(255, max(0, int(v) + int(e))) for v, e in zip(rgb, d))


def _paint(palette: Palette, rng: np.random.Generator) -> Paint:
    return Paint(main=tone(_jitter(palette.main, rng)), second=tone(_jitter(palette.second, rng)),
                 accent=tone(_jitter(palette.accent, rng)),
                 skin=tone(_SKINS[rng.integers(len(_SKINS))]),
                 hair=tone(_HAIRS[rng.integers(len(_HAIRS))]))


def _pick(rng: np.random.Generator, options):
    """One element of a sequence, uniformly."""
    return options[int(rng.integers(len(options)))]


def _coin(rng: np.random.Generator) -> bool:
    return bool(rng.integers(2))


# --------------------------------------------------------------------------
# Canvas.
# --------------------------------------------------------------------------


class Canvas:
    """A white 16x16 RGB image plus the mask of everything inked on it."""

    def __init__(self):
        self.img = np.full((_N, _N, 3), 255, np.uint8)
        self.ink = _EMPTY.copy()

    def put(self, mask: np.ndarray, rgb: tuple) -> None:
        """Paint flat colour (details: eyes, highlights, seeds)."""
        self.img[mask] = rgb
        self.ink |= mask

    def part(self, mask: np.ndarray, t: Tone, outline: bool = True, shade: bool = True) -> None:
        """Paint a shape: optional own outline, base colour, shaded lower-right rim."""
        if outline:
            ring = dilate(mask) & ~mask
            self.img[ring] = t.line
            self.ink |= ring
        self.img[mask] = t.base
        self.ink |= mask
        if shade:
            self.img[mask & ~(shift(mask, -1, 0) & shift(mask, 0, -1))] = t.shadow

    def erase(self, mask: np.ndarray) -> None:
        """Cut a shape out of what is drawn (a bite, a notch): back to background."""
        self.img[mask] = _WHITE
        self.ink &= ~mask

    def glow(self, mask: np.ndarray, t: Tone) -> None:
        """Paint a glowing magic shape: coloured rim, light body, pale core."""
        self.part(mask, t, outline=False, shade=False)
        inner = erode(mask)
        self.img[inner] = t.light
        self.img[erode(inner)] = _PAPER

    def finish(self, line_rgb: tuple) -> np.ndarray:
        """Outline the silhouette and return the image."""
        self.img[dilate(self.ink) & ~self.ink] = line_rgb
        return self.img


def _eyes(cv: Canvas, row: int, x: int, tall: int = 2) -> None:
    """A symmetric pair of dark eyes at columns x and 15 - x."""
    cv.put(both_sides(rect(row, x, row + tall - 1, x)), _INK)


def _big_eyes(cv: Canvas, row: int, x: int, iris: tuple = _INK) -> None:
    """A symmetric pair of 2x2 eyes with a white highlight (creatures)."""
    cv.put(both_sides(rect(row, x, row + 1, x + 1)), iris)
    cv.put(both_sides(dots((row, x))), _PAPER)


# --------------------------------------------------------------------------
# Front-facing humans: body, outfit, hair, headgear, face, items.
# Drawn symmetric about x = 7.5 with the main hand on the right; the final
# random mirror puts it on either side.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HumanKit:
    """The parts a human template chooses from (one option per slot)."""

    outfit: tuple = ("tunic",)
    hair: tuple = ("short", "spiky", "bun", "long", "pigtails")
    hat: tuple = ("none",)
    face: tuple = ("none",)
    item: tuple = ("none",)
    offhand: tuple = ("none",)


@dataclass
class _Figure:
    """Geometry of one front-facing human (varies per sprite)."""

    rx: float  # head half-width
    leg: int  # leg length in rows (1 or 2)
    eye: int  # eye row
    tilt: int  # -1, 0 or 1: a pointed hat leans left when negative, else right
    face_visible: bool = True


def _head(f: _Figure) -> np.ndarray:
    return ellipse(5, 7.5, 3.5, f.rx)


def _legs(cv, f, c, pants):
    bottom = 11 + f.leg
    cv.part(both_sides(rect(12, 5, bottom, 6)), pants, shade=False)
    cv.put(both_sides(rect(bottom, 5, bottom, 6)), c.wood.line)


def _arms(cv, c, sleeve):
    cv.part(both_sides(rect(9, 4, 10, 4)), sleeve, outline=False, shade=False)
    cv.put(both_sides(dots((11, 4))), c.skin.base)


def _outfit_tunic(cv, f, c):
    _legs(cv, f, c, c.second)
    cv.part(rect(9, 5, 11, 10), c.main)
    cv.put(rect(11, 5, 11, 10), c.second.shadow)
    _arms(cv, c, c.main)


def _outfit_armour(cv, f, c):
    _legs(cv, f, c, c.metal)
    cv.part(rect(9, 5, 11, 10), c.metal)
    cv.part(rect(9, 6, 11, 9), c.main, outline=False)
    _arms(cv, c, c.metal)
    cv.put(both_sides(dots((9, 4))), c.metal.light)


def _outfit_robe(cv, f, c):
    cv.part(poly((8.6, 4.6), (8.6, 10.4), (13.4, 12.4), (13.4, 2.6)), c.main)
    cv.put(rect(9, 7, 13, 8), c.second.base)
    _arms(cv, c, c.main)


def _outfit_dress(cv, f, c):
    cv.part(poly((8.6, 5.4), (8.6, 9.6), (13.4, 12.4), (13.4, 2.6)), c.main)
    cv.put(rect(10, 5, 10, 10), c.second.base)
    cv.put(rect(13, 3, 13, 12), c.main.light)
    _arms(cv, c, c.skin)


def _outfit_overalls(cv, f, c):
    _legs(cv, f, c, c.main)
    cv.part(rect(9, 5, 11, 10), c.second)
    cv.part(rect(10, 5, 11, 10), c.main, outline=False)
    cv.put(both_sides(dots((9, 6))), c.main.base)
    _arms(cv, c, c.second)


def _outfit_apron(cv, f, c):
    _legs(cv, f, c, c.second)
    cv.part(rect(9, 5, 11, 10), c.main)
    cv.part(rect(10, 6, 12, 9), tone(_PAPER), shade=False)
    _arms(cv, c, c.main)


def _outfit_cape(cv, f, c):
    cv.part(poly((8.6, 3.6), (8.6, 11.4), (12.4, 12.6), (12.4, 2.4)), c.second)
    _outfit_tunic(cv, f, c)
    cv.put(rect(9, 6, 9, 9), c.accent.base)


def _outfit_fur(cv, f, c):
    _outfit_tunic(cv, f, c)
    cv.part(rect(9, 4, 9, 11), tone((222, 210, 186)), outline=False)


_OUTFITS = {"tunic": _outfit_tunic, "armour": _outfit_armour, "robe": _outfit_robe,
            "dress": _outfit_dress, "overalls": _outfit_overalls, "apron": _outfit_apron,
            "cape": _outfit_cape, "fur": _outfit_fur}


def _hair_cap(f: _Figure, fringe: int) -> np.ndarray:
    """Hair over the top of the head down to the fringe row, plus sideburns."""
    shell = ellipse(5, 7.5, 4, f.rx + 0.5)
    return (shell & (_ROW <= fringe)) | (shell & (_ROW <= 6) & ((_COL <= 4) | (_COL >= 11)))


def _hair_back(cv, f, c, style):
    """Hair hanging behind the head (long styles), drawn before the body."""
    if style == "long":
        cv.part(ellipse(6.5, 7.5, 4.75, f.rx + 1) & (_ROW <= 11), c.hair)


def _hair_front(cv, f, c, style):
    if style == "none":
        return
    m = _hair_cap(f, 3)
    if style == "spiky":
        m |= poly((3, 4), (3, 7), (0, 5)) | poly((3, 6), (3, 10), (0.25, 8)) | poly((3, 9), (3, 11.5), (0.5, 11))
    elif style == "bun":
        m |= ellipse(1, 7.5, 1.5, 1.75)
    elif style == "pigtails":
        m |= both_sides(ellipse(7, 2.5, 1.75, 1.25))
    elif style == "mohawk":
        m = _hair_cap(f, 2) & (_COL >= 6) & (_COL <= 9) | rect(0, 7, 3, 8)
    cv.part(m, c.hair)
    if style != "mohawk":
        cv.put(dots((3, 6), (3, 9)) & m, c.hair.light)


def _hat_none(cv, f, c):
    return None


def _hat_helmet(cv, f, c):
    cv.part(ellipse(5, 7.5, 4, f.rx + 0.5) & (_ROW <= 8), c.metal)
    cv.put(rect(5, 5, 5, 10) | rect(6, 7, 7, 8), c.metal.line)
    f.face_visible = False


def _hat_plumed_helmet(cv, f, c):
    cv.part(ellipse(0.75, 7.5, 1, 3), c.main, shade=False)
    _hat_helmet(cv, f, c)


def _hat_open_helmet(cv, f, c):
    cv.part(ellipse(5, 7.5, 4, f.rx + 0.5) & (_ROW <= 3), c.metal)
    cv.put(rect(4, 7, 5, 8), c.metal.shadow)


def _hat_horned(cv, f, c):
    cv.part(both_sides(line((3, 3), (1, 2), (0, 2)) | dots((3, 4))), _HORN, shade=False)
    _hat_open_helmet(cv, f, c)


_WIZARD_HAT = bits(".........##", ".......####", ".....######", y=0)


def _hat_wizard(cv, f, c, brim=(3, 12)):
    cone = _WIZARD_HAT if f.tilt >= 0 else mirror(_WIZARD_HAT)
    cv.part(cone, c.main)
    cv.part(rect(3, brim[0], 3, brim[1]), c.main, shade=False)
    cv.put(rect(2, 5, 2, 10) & cone, c.second.base)


def _hat_witch(cv, f, c):
    _hat_wizard(cv, f, c, brim=(1, 14))


def _hat_crown(cv, f, c):
    cv.part(rect(1, 5, 2, 10) & ~dots((1, 6), (1, 9)), c.gold, shade=False)
    cv.put(dots((2, 7), (2, 8)), c.main.base)


def _hat_tiara(cv, f, c):
    cv.part(rect(2, 6, 2, 9) | rect(1, 7, 1, 8), c.gold, shade=False)
    cv.put(dots((2, 7)), c.accent.base)


def _hood(cv, f, c, t):
    cv.part(ellipse(5, 7.5, 4.25, f.rx + 0.75) & (_ROW <= 8), t)
    cv.put(ellipse(6, 7.5, 2.5, f.rx - 1), c.skin.base)


def _hat_hood(cv, f, c):
    _hood(cv, f, c, c.main)


def _hat_animal_hood(cv, f, c):
    cv.part(both_sides(poly((2, 3), (2, 6), (-0.5, 3.5))), c.main, shade=False)
    _hood(cv, f, c, c.main)
    cv.put(both_sides(dots((1, 4))), c.accent.base)


def _hat_ninja(cv, f, c):
    cv.part(ellipse(5, 7.5, 4.25, f.rx + 0.75) & (_ROW <= 8), c.main)
    cv.put(rect(5, 5, 6, 10), c.skin.base)
    _eyes(cv, 5, 6, tall=2)
    cv.part(poly((4, 12), (6, 14), (7, 13.5)), c.second, shade=False)
    f.face_visible = False


def _hat_cap(cv, f, c):
    cv.part(ellipse(4, 7.5, 3, f.rx + 0.5) & (_ROW <= 3), c.main)
    cv.part(rect(3, 8, 3, 13), c.second, shade=False)


def _hat_bandana(cv, f, c):
    cv.part(ellipse(4, 7.5, 3, f.rx + 0.5) & (_ROW <= 3), c.main)
    cv.part(poly((3, 11), (5.5, 13.5), (4, 13.5)), c.main, shade=False)
    cv.put(dots((2, 6), (1, 9), (3, 8)), c.accent.base)


def _hat_straw(cv, f, c):
    straw = tone((236, 204, 120))
    cv.part(rect(0, 5, 2, 10), straw)
    cv.part(ellipse(3, 7.5, 1, 7), straw, shade=False)
    cv.put(rect(2, 5, 2, 10), c.main.base)


def _hat_chef(cv, f, c):
    cv.part(ellipse(1.25, 7.5, 1.75, 3.5) | rect(2, 5, 3, 10), tone(_PAPER))


def _hat_tricorn(cv, f, c):
    dark = tone((62, 48, 56))
    cv.part(poly((3.4, 1.5), (3.4, 13.5), (0.5, 10), (0, 7.5), (0.5, 5)), dark)
    cv.put(dots((2, 7), (2, 8)), _PAPER)


def _hat_mitre(cv, f, c):
    cv.part(poly((3.4, 4.6), (3.4, 10.4), (1, 10.4), (-0.9, 7.5), (1, 4.6)), tone(_PAPER))
    cv.put(rect(0, 7, 3, 8) & ~rect(1, 7, 1, 8) | rect(1, 6, 1, 9), c.gold.base)


_HATS = {"none": _hat_none, "helmet": _hat_helmet, "plumed helmet": _hat_plumed_helmet,
         "open helmet": _hat_open_helmet, "horned helmet": _hat_horned, "wizard hat": _hat_wizard,
         "witch hat": _hat_witch, "crown": _hat_crown, "tiara": _hat_tiara, "hood": _hat_hood,
         "animal hood": _hat_animal_hood, "ninja mask": _hat_ninja, "cap": _hat_cap,
         "bandana": _hat_bandana, "straw hat": _hat_straw, "chef hat": _hat_chef,
         "tricorn": _hat_tricorn, "mitre": _hat_mitre}


def _face(cv, f, c, extra):
    if f.face_visible:
        _eyes(cv, f.eye, 6 if f.rx < 4 else 5)
        if extra == "blush":
            cv.put(both_sides(dots((f.eye + 2, 5))), (240, 130, 140))
    if extra == "beard":
        cv.part(ellipse(8.5, 7.5, 2.25, f.rx - 0.5) & (_ROW >= 8), c.hair, outline=False)
        cv.put(dots((8, 7), (8, 8)), c.skin.shadow)
    elif extra == "white beard":
        cv.part(ellipse(8.75, 7.5, 2.5, f.rx - 0.25) & (_ROW >= 8), tone((236, 236, 240)), outline=False)
    elif extra == "eyepatch":
        cv.put(line((3, 5), (6, 11)) | rect(f.eye, 9, f.eye + 1, 10), _INK)
    elif extra == "elf ears":
        cv.part(both_sides(poly((5, 3.5), (6.5, 3.5), (3.5, 1.5))), c.skin, shade=False)


def _item(cv, c, name):
    """The held item, in the right hand (column 12-14)."""
    if name == "sword":
        cv.part(rect(2, 13, 9, 13), c.metal, shade=False)
        cv.part(rect(10, 12, 10, 14), c.gold, shade=False)
        cv.put(dots((11, 13)), c.wood.base)
    elif name == "axe":
        cv.part(rect(3, 13, 13, 13), c.wood, shade=False)
        cv.part(poly((2, 13.5), (2, 15), (6, 15), (6, 13.5)) | dots((3, 12)), c.metal)
    elif name == "mace":
        cv.part(rect(7, 13, 12, 13), c.wood, shade=False)
        cv.part(ellipse(5, 13, 1.75, 1.75), c.metal)
        cv.put(dots((2, 13), (5, 15)), c.metal.line)
    elif name == "staff":
        cv.part(rect(3, 13, 14, 13), c.wood, shade=False)
        cv.part(ellipse(1.75, 13, 1.5, 1.5), c.accent, shade=False)
        cv.put(dots((1, 13)), _PAPER)
    elif name == "spear":
        cv.part(rect(3, 13, 14, 13), c.wood, shade=False)
        cv.part(poly((3.4, 12), (3.4, 14), (-0.4, 13)), c.metal, shade=False)
    elif name == "bow":
        cv.part(ellipse(9, 12, 5, 2.5) & ~ellipse(9, 12, 4, 1.75) & (_COL >= 12), c.wood, shade=False)
        cv.put(rect(5, 12, 13, 12), (220, 220, 220))
    elif name == "dagger":
        cv.part(rect(7, 13, 10, 13), c.metal, shade=False)
        cv.put(dots((11, 13)), c.wood.base)
    elif name == "pitchfork":
        cv.part(rect(4, 13, 14, 13), c.wood, shade=False)
        cv.part(rect(1, 12, 3, 12) | rect(1, 14, 3, 14) | rect(1, 13, 3, 13) | rect(3, 12, 3, 14), c.metal,
                shade=False)
    elif name == "ladle":
        cv.part(rect(5, 13, 11, 13), c.metal, shade=False)
        cv.part(ellipse(3.5, 13, 1.5, 1.5), c.metal)
    elif name == "broom":
        cv.part(rect(1, 13, 10, 13), c.wood, shade=False)
        cv.part(poly((10.6, 12), (10.6, 14), (14.4, 15), (14.4, 11)), tone((224, 188, 96)))
    elif name == "sceptre":
        cv.part(rect(6, 13, 11, 13), c.gold, shade=False)
        cv.part(ellipse(4.5, 13, 1.25, 1.25), c.main, shade=False)
    elif name == "book":
        cv.part(rect(10, 6, 12, 9), c.second)
        cv.put(rect(10, 7, 11, 8), _PAPER)
    elif name == "torch":
        cv.part(rect(7, 13, 12, 13), c.wood, shade=False)
        cv.glow(ellipse(4.5, 13, 2.25, 1.5) | dots((1, 13)), tone((250, 150, 40)))
    elif name == "wand":
        cv.part(line((11, 12), (7, 14)), c.wood, shade=False)
        cv.put(dots((6, 14), (5, 14), (6, 15), (6, 13), (7, 14)) & ~dots((7, 14)), c.gold.base)


def _offhand(cv, c, name):
    """Something in the left hand (column 1-4)."""
    if name == "shield":
        cv.part(ellipse(10, 3, 2.75, 2.25), c.second)
        cv.put(rect(9, 3, 11, 3) | rect(10, 2, 10, 4), c.gold.base)
    elif name == "round shield":
        cv.part(ellipse(10, 3, 2.5, 2.5), c.wood)
        cv.put(dots((10, 3)), c.metal.light)
    elif name == "lantern":
        cv.part(rect(11, 2, 13, 4), c.metal, shade=False)
        cv.put(dots((12, 3)), (255, 214, 90))


def _draw_human(cv: Canvas, rng: np.random.Generator, c: Paint, kit: HumanKit) -> None:
    f = _Figure(rx=_pick(rng, (3.75, 4.25, 4.6)), leg=1 + int(rng.integers(2)), eye=5 + int(rng.integers(2)),
                tilt=int(rng.integers(3)) - 1)
    hair, hat, face = _pick(rng, kit.hair), _pick(rng, kit.hat), _pick(rng, kit.face)
    item, offhand = _pick(rng, kit.item), _pick(rng, kit.offhand)
    _hair_back(cv, f, c, hair)
    _OUTFITS[_pick(rng, kit.outfit)](cv, f, c)
    cv.part(_head(f), c.skin, shade=False)
    _hair_front(cv, f, c, hair)
    _HATS[hat](cv, f, c)
    _face(cv, f, c, face)
    _item(cv, c, item)
    _offhand(cv, c, offhand)


_SHORT_HAIR = ("short", "spiky", "mohawk", "none")
_HUMANS = (
    ("knight", HumanKit(outfit=("armour",), hair=("none",), hat=("helmet", "plumed helmet"),
                        item=("sword", "mace", "spear"), offhand=("shield", "none"))),
    ("wizard", HumanKit(outfit=("robe",), hair=("short", "long"), hat=("wizard hat",),
                        face=("white beard", "none", "beard"), item=("staff", "wand", "book"))),
    ("archer", HumanKit(hat=("hood", "cap", "none"), hair=("short", "long", "bun"), item=("bow",))),
    ("princess", HumanKit(outfit=("dress",), hair=("long", "bun", "pigtails"), hat=("crown", "tiara"),
                          face=("blush", "none"), item=("none", "wand"))),
    ("king", HumanKit(outfit=("cape",), hair=("short", "long"), hat=("crown",),
                      face=("beard", "white beard"), item=("sceptre", "sword"))),
    ("villager", HumanKit(outfit=("tunic", "overalls"), face=("none", "blush"), offhand=("none", "lantern"))),
    ("viking", HumanKit(outfit=("fur",), hair=("long", "short"), hat=("horned helmet",), face=("beard",),
                        item=("axe",), offhand=("round shield", "none"))),
    ("ninja", HumanKit(hair=("none",), hat=("ninja mask",), item=("dagger", "none"))),
    ("pirate", HumanKit(hair=("long", "short"), hat=("bandana", "tricorn"), face=("eyepatch", "beard", "none"),
                        item=("sword", "dagger"))),
    ("cleric", HumanKit(outfit=("robe",), hair=("short", "none"), hat=("mitre", "hood"),
                        item=("book", "mace", "staff"))),
    ("farmer", HumanKit(outfit=("overalls",), hair=_SHORT_HAIR, hat=("straw hat",),
                        face=("none", "beard"), item=("pitchfork", "none"))),
    ("chef", HumanKit(outfit=("apron",), hair=_SHORT_HAIR, hat=("chef hat",), face=("none", "blush"),
                      item=("ladle", "none"))),
    ("witch", HumanKit(outfit=("dress", "robe"), hair=("long",), hat=("witch hat",), item=("broom", "wand"))),
    ("elf", HumanKit(hair=("long", "short"), face=("elf ears",), item=("bow", "staff", "none"))),
    ("kid", HumanKit(hair=("none",), hat=("animal hood",), face=("blush", "none"), item=("none", "wand"))),
    ("soldier", HumanKit(outfit=("armour",), hair=_SHORT_HAIR, hat=("open helmet", "helmet"),
                         item=("spear",), offhand=("shield", "none"))),
    ("torchbearer", HumanKit(hat=("hood", "none"), item=("torch",))),
)


# --------------------------------------------------------------------------
# Non-human creatures (front view; the palette colours the body).  Every
# creature varies in size and proportions, and most draw a random face and
# head ornament from the shared helpers below.
# --------------------------------------------------------------------------


def _creature_face(cv, rng, c, row, x=5, mouth=None):
    """Random eyes (dots, shiny, angry, sleepy or one big eye) and mouth."""
    style = int(rng.integers(5))
    if style == 1:
        _big_eyes(cv, row, x)
    elif style == 4:
        cv.put(rect(row, 7, row + 1, 8), _INK)
        cv.put(dots((row, 7)), _PAPER)
    elif style == 3:
        cv.put(both_sides(rect(row + 1, x, row + 1, x + 1)), _INK)
    else:
        _eyes(cv, row, x + 1)
        if style == 2:
            cv.put(both_sides(dots((row - 2, x), (row - 1, x + 1))), c.main.line)
    if mouth is None:
        return
    kind = int(rng.integers(4))
    if kind == 1:
        cv.put(both_sides(dots((mouth, 6), (mouth + 1, 7))), c.main.line)
    elif kind == 2:
        cv.put(rect(mouth, 6, mouth, 9), c.main.line)
        cv.put(both_sides(dots((mouth + 1, 6))), _PAPER)
    elif kind == 3:
        cv.put(rect(mouth, 7, mouth, 8), _INK)
        cv.put(rect(mouth + 1, 7, mouth + 1, 8), (226, 80, 96))


def _topper(cv, rng, c, row):
    """A random head ornament whose base sits on `row`: horns, crown, sprout, antennae or none."""
    kind = int(rng.integers(6))
    if kind == 1:
        cv.part(both_sides(poly((row + 1, 4.5), (row + 1, 6.5), (row - 2.5, 4))), _HORN, shade=False)
    elif kind == 2:
        cv.part(rect(row - 1, 6, row, 9) & ~dots((row - 1, 7), (row - 1, 8)), c.gold, shade=False)
    elif kind == 3:
        cv.part(line((row, 8), (row - 2, 8)) | ellipse(row - 2.5, 9.5, 0.75, 1.25), _LEAF, shade=False)
    elif kind == 4:
        cv.part(both_sides(line((row, 6), (row - 2, 5))), c.main, outline=False, shade=False)
        cv.put(both_sides(dots((row - 3, 5))), c.accent.base)


def _slime(cv, rng, c):
    top, rx = 4 + int(rng.integers(4)), 5 + 0.5 * int(rng.integers(4))
    body = ellipse(13, 7.5, 13 - top, rx) & (_ROW <= 13)
    cv.part(body, c.main)
    cv.put(dots((top + 2, 9 - int(rx)), (top + 3, 9 - int(rx))) & erode(body), c.main.light)
    row = (top + 14) // 2
    _creature_face(cv, rng, c, row, mouth=row + 2 if row < 10 else None)
    _topper(cv, rng, c, top - 1)
    if _coin(rng):
        cv.part(dots((14, 4), (14, 10)) & ~dots((14, 4 + int(rng.integers(2)) * 6)), c.main, outline=False)


def _frog(cv, rng, c):
    rx, bump = 5.5 + 0.5 * int(rng.integers(2)), 1.75 + 0.25 * int(rng.integers(2))
    cv.part(both_sides(rect(12, 1, 13, 4)), c.main, shade=False)
    cv.part(ellipse(9.5, 7.5, 3.75, rx), c.main)
    cv.part(both_sides(ellipse(5.5, 4, bump, bump)), c.main, shade=False)
    cv.put(both_sides(rect(5, 4, 6, 4)), _INK)
    cv.put(both_sides(dots((5, 3))), _PAPER)
    cv.put(ellipse(11.5, 7.5, 1.75, 3.5), c.accent.base)
    if _coin(rng):
        cv.put(dots((8, 3), (7, 11), (9, 12)), c.second.base)
    mouth = int(rng.integers(3))
    cv.put((line((9, 5), (10, 6), (10, 9), (9, 10)), rect(9, 5, 9, 10), rect(9, 6, 10, 9))[mouth], c.main.line)
    if mouth == 2 and _coin(rng):
        cv.put(rect(10, 7, 12, 8), (226, 80, 96))


def _bat(cv, rng, c):
    up, span = int(rng.integers(3)), int(rng.integers(2))
    wing = poly((6, 6), (3 - up, 0.5 + span), (10 - up, 0.5 + span), (11, 6))
    notches = ellipse(11.5 - up, 2.5 + span, 1.5, 1.5) | ellipse(11.5, 5, 1.25, 1.25)
    cv.part(both_sides(wing & ~notches), c.second)
    size = 2.5 + 0.5 * int(rng.integers(2))
    cv.part(ellipse(8, 7.5, size, size - 0.25), c.main)
    cv.part(both_sides(poly((5.5, 5), (5.5, 7), (2.5 - up % 2, 5))), c.main, shade=False)
    eye = _pick(rng, ((250, 60, 60), (255, 230, 80), _INK, (120, 240, 120)))
    cv.put(both_sides(dots((7, 6))), eye)
    if _coin(rng):
        cv.put(both_sides(dots((10, 7))), _PAPER)


def _skull(cv, rng, c):
    if _coin(rng):
        cv.part(thick(line((10, 1), (15, 14)) | line((15, 1), (10, 14))), c.accent, shade=False)
    gap = int(rng.integers(2))
    cv.part(rect(9 + gap, 5, 12 + gap, 10), c.main, shade=False)
    cv.put(rect(12 + gap, 6, 12 + gap, 9) & ~rect(12 + gap, 7, 12 + gap, 7), c.main.line)
    top = 1 + int(rng.integers(2))
    cv.part(ellipse(5 + top, 7.5, 5 - top * 0.5, 5.25) & (_ROW <= 10), c.main)
    socket = 1 + 0.25 * int(rng.integers(2))
    cv.put(both_sides(ellipse(6.5 + top * 0.5, 5.25, socket, socket)), _INK)
    glow = int(rng.integers(3))
    if glow:
        cv.put(both_sides(dots((6 + top // 2, 5))), ((250, 80, 60), (120, 240, 250))[glow - 1])
    cv.put(dots((9, 7), (9, 8)), _INK)
    if _coin(rng):
        cv.put(line((1 + top, 9), (3 + top, 10)), c.main.line)


def _beetle(cv, rng, c):
    reach, spread = int(rng.integers(2)), int(rng.integers(2))
    legs = both_sides(line((7, 4), (6 - spread, 1 + reach)) | line((9, 4), (9, 1 + spread)) |
                      line((11, 4), (13 + spread, 1 + reach)))
    cv.part(legs, c.second, outline=False, shade=False)
    horn = _coin(rng)
    cv.part(line((3, 7), (0, 8)) if horn else both_sides(line((3, 6), (0, 4 + reach))), c.second,
            outline=False, shade=False)
    cv.part(ellipse(3.5, 7.5, 1.5, 2.5), c.second, shade=False)
    shell = ellipse(8.75 + 0.25 * reach, 7.5, 4.75 - 0.25 * reach, 4.5 - 0.5 * reach)
    cv.part(shell, c.main)
    cv.put(rect(5, 7, 13, 8) & shell, c.main.line)
    cv.put(both_sides(dots((6, 5), (7, 5))) & shell, c.main.light)
    spots = _pick(rng, (_EMPTY, dots((9, 5), (11, 5), (10, 10)), both_sides(dots((10, 5), (11, 6), (8, 5)))))
    cv.put(spots & erode(shell), c.accent.base)


def _ghost(cv, rng, c):
    top, low = 1 + int(rng.integers(2)), 11 + int(rng.integers(3))
    body = ellipse(top + 5, 7.5, 5, 5.25) & (_ROW <= top + 5) | rect(top + 5, 3, low, 12)
    skirt = dots(*[(low, x) for x in range(3 + int(rng.integers(2)), 13, 2)])
    cv.part(body & ~skirt, c.accent)
    arms = int(rng.integers(3))
    if arms:
        cv.part(both_sides(ellipse(top + 7.5 - 2 * (arms - 1), 2, 1, 1.5)), c.accent, shade=False)
    _creature_face(cv, rng, c, top + 4, mouth=top + 7)
    cv.put(both_sides(dots((top + 7, 4))), c.main.base)


def _mushroom_creature(cv, rng, c):
    stem = int(rng.integers(2))
    cv.part(both_sides(rect(13, 4, 13, 6)), c.wood, shade=False)
    cv.part(rect(7, 4 + stem, 12, 11 - stem) & ~dots((12, 4 + stem), (12, 11 - stem)), tone((240, 226, 196)))
    shape = int(rng.integers(3))
    cap = (ellipse(5.5, 7.5, 4.5, 7 - stem) & (_ROW <= 6), ellipse(6.5, 7.5, 4, 7) & (_ROW <= 6),
           poly((6.6, 0.5), (6.6, 14.5), (2, 12), (0.5, 7.5), (2, 3)))[shape]
    cv.part(cap, c.main)
    spots = _pick(rng, (dots((2, 5), (3, 9), (4, 12), (4, 3), (2, 10)), both_sides(rect(3, 4, 4, 5)),
                        dots((3, 7), (3, 8), (5, 3), (5, 12))))
    cv.put(spots & cap, c.accent.base)
    _creature_face(cv, rng, c, 8, x=5, mouth=10)


def _fish(cv, rng, c):
    length = 5 + 0.5 * int(rng.integers(3))
    fork = _coin(rng)
    tail = poly((8, 10.5), (3.5, 14.5), (12.5, 14.5)) & ~(poly((8, 14.5), (6, 15), (10, 15)) if not fork
                                                          else ellipse(8, 15, 2, 1.5))
    cv.part(tail, c.second)
    cv.part(poly((4, 4.5), (2, 9), (5, 9)), c.second, shade=False)
    body = ellipse(8, 6.5, 4, length)
    cv.part(body, c.main)
    cv.put(ellipse(10, 6.5, 1.5, length - 1.5) & body, c.accent.base)
    cv.put(rect(6, 3, 7, 4), _PAPER)
    cv.put(dots((7, 3)), _INK)
    marks = _pick(rng, (line((6, 7), (9, 7)) | line((6, 9), (9, 9)), dots((6, 7), (8, 9), (6, 10)), _EMPTY))
    cv.put(marks & body, c.main.line)
    if _coin(rng):
        cv.part(dots((2, 1), (0, 2)), tone((150, 212, 244)), outline=False, shade=False)


def _bird(cv, rng, c):
    size = 4.5 + 0.5 * int(rng.integers(2))
    cv.part(both_sides(rect(13, 6, 13, 6)), c.gold, outline=False, shade=False)
    body = ellipse(8.5 - (size - 4.5), 7.5, size, size)
    cv.part(body, c.main)
    flap = int(rng.integers(2))
    cv.part(both_sides(poly((7 - 3 * flap, 2.5 - flap), (12 - 2 * flap, 2.5), (11, 4.5))), c.second, shade=False)
    cv.put(ellipse(10, 7.5, 2.5, 2.75) & (_ROW >= 8), c.accent.base)
    _creature_face(cv, rng, c, 6)
    cv.put(poly((8, 6.5), (8, 8.5), (9.75, 7.5)), (250, 170, 40))
    crest = int(rng.integers(3))
    if crest:
        cv.part((poly((3.5, 7), (0.5, 6), (3.5, 8.5)) | dots((1, 8)), both_sides(line((4, 7), (1, 5))))[crest - 1],
                c.main, shade=False)


def _snake(cv, rng, c):
    wide = int(rng.integers(2))
    coil = ellipse(11, 7.5, 3, 5 + wide) & ~ellipse(11, 7.5, 1, 2 + wide)
    cv.part(coil, c.main)
    lean = int(rng.integers(-1, 2))
    cv.part(thick(line((10, 10), (7, 10), (5, 8 + lean))), c.main, shade=False)
    cv.part(ellipse(4, 7.5 + lean, 2, 3), c.main)
    pattern = _pick(rng, (dots((10, 3), (12, 5), (13, 9), (11, 12)), both_sides(dots((12, 4), (13, 7))), _EMPTY))
    cv.put(pattern & coil, c.second.base)
    cv.put(dots((3, 6 + lean), (3, 9 + lean)), _INK)
    if _coin(rng):
        cv.put(line((5, 7 + lean), (7, 7 + lean)) | dots((8, 6 + lean), (8, 8 + lean)), (220, 40, 60))


def _eyeball(cv, rng, c):
    extra = int(rng.integers(3))
    if extra == 1:
        cv.part(both_sides(poly((6, 3), (3, 0.5), (10, 0.5))), c.second)
    elif extra == 2:
        cv.part(both_sides(line((11, 5), (14, 4)) | line((12, 7), (15, 7))), c.second, shade=False)
    r = 4.5 + 0.5 * int(rng.integers(2))
    cv.part(ellipse(7.5, 7.5, r, r), tone((246, 240, 236)))
    iy, ix = 7.5 + int(rng.integers(-1, 2)), 7.5 + int(rng.integers(-1, 2))
    cv.put(ellipse(iy, ix, 2.5, 2.5), c.main.base)
    cv.put(ellipse(iy, ix, 1, 1 - 0.5 * _coin(rng)), _INK)
    cv.put(dots((int(iy) - 1, int(ix) - 1)), _PAPER)
    cv.put(line((11, 4), (10, 5)) | line((3, 10), (4, 11)) | dots((12, 9)), (220, 60, 70))


def _golem(cv, rng, c):
    wide = int(rng.integers(2))
    cv.part(both_sides(rect(11, 4, 13, 6)), c.main)
    cv.part(both_sides(rect(5 + wide, 1, 11, 3)), c.main)
    cv.part(rect(5, 4 - wide, 11, 11 + wide), c.main)
    head = int(rng.integers(2))
    cv.part(rect(1 + head, 5 + head, 4, 10 - head), c.main)
    glow = c.accent.base if _coin(rng) else (120, 230, 250)
    cv.put(dots((3, 6 + head), (3, 9 - head)), glow)
    cv.put(_pick(rng, (line((6, 5), (8, 7), (7, 9)), dots((8, 6), (9, 9)), rect(8, 6, 8, 9))), c.main.line)
    if _coin(rng):
        cv.part(both_sides(poly((5 + wide, 1), (5 + wide, 3), (2, 2))), c.accent, shade=False)
    else:
        cv.put(dots((5, 2), (6, 11), (2, 6)), _LEAF.base)


def _spider(cv, rng, c):
    bend = int(rng.integers(2))
    legs = both_sides(line((7, 5), (4, 3), (6 - bend, 0)) | line((8, 5), (7, 1), (9 + bend, 0)) |
                      line((9, 5), (11, 2), (14, 1)) | line((10, 5), (13, 4), (15, 3 - bend)))
    cv.part(legs, c.main, outline=False, shade=False)
    if _coin(rng):
        cv.put(rect(0, 7, 3, 7), (200, 200, 200))
    size = 3 + 0.5 * int(rng.integers(2))
    cv.part(ellipse(11, 7.5, size, size + 0.5), c.main)
    cv.part(ellipse(6.5, 7.5, 2, 2.5), c.main)
    cv.put(both_sides(dots((6, 6))) | dots((5, 7), (5, 8)) & ~dots((5, 7 + bend)), (240, 60, 60))
    marks = _pick(rng, (dots((11, 7), (12, 8), (10, 8)), rect(10, 7, 12, 8) & ~dots((11, 7)), _EMPTY))
    cv.put(marks, c.second.base)


def _octopus(cv, rng, c):
    curl = int(rng.integers(3))
    arms = both_sides(line((9, 4), (12, 2), (14, 2 + curl)) | line((9, 6), (13, 5), (14, 6 + curl // 2)))
    cv.part(thick(arms), c.main, shade=False)
    r, w = 4.5 + 0.25 * int(rng.integers(2)), 4.5 + 0.5 * int(rng.integers(2))
    cv.part(ellipse(5.5, 7.5, r, w), c.main)
    _creature_face(cv, rng, c, 6, mouth=8)
    cv.put(_pick(rng, (dots((2, 5), (3, 10), (1, 8)), dots((2, 6), (2, 9)), _EMPTY)), c.accent.base)


def _crab(cv, rng, c):
    raise_ = int(rng.integers(2))
    cv.part(both_sides(line((11, 4), (13, 2)) | line((12, 5), (14, 4))), c.main, outline=False, shade=False)
    claw = ellipse(5 - 2 * raise_, 2.5, 2, 2) & ~poly((3 - 2 * raise_, 2.5), (5 - 2 * raise_, 2.5), (2, 4.5))
    cv.part(both_sides(claw), c.main)
    cv.part(both_sides(line((7 - raise_, 3), (9, 5))), c.main, shade=False)
    wide = int(rng.integers(2))
    cv.part(ellipse(10, 7.5, 3, 4.75 + 0.5 * wide), c.main)
    stalk = int(rng.integers(2))
    cv.part(both_sides(rect(6 + stalk, 6, 7, 6)), c.main, shade=False)
    cv.put(both_sides(dots((5 + stalk, 6))), _INK)
    cv.put(_pick(rng, (rect(11, 6, 11, 9), both_sides(dots((11, 6), (12, 7))))), c.main.line)


def _cactus(cv, rng, c):
    arms = _pick(rng, ((rect(6, 2, 8, 3) | rect(8, 2, 9, 5)), (rect(4, 12, 7, 13) | rect(7, 10, 8, 13))))
    if _coin(rng):
        arms = both_sides(arms)
    cv.part(arms, c.main)
    top = 1 + int(rng.integers(3))
    cv.part(rect(top, 5, 12, 10) & ~dots((top, 5), (top, 10)), c.main)
    cv.put(dots((top + 2, 7), (9, 9), (11, 6), (top + 1, 9)), c.main.light)
    _creature_face(cv, rng, c, top + 4, x=5, mouth=top + 6)
    if _coin(rng):
        cv.part(rect(12, 4, 14, 11), tone((196, 110, 60)))
    else:
        cv.put(dots((top - 1, 7), (top - 1, 8), (top - 2, 7)), c.accent.base)


def _dragonling(cv, rng, c):
    flap, span = int(rng.integers(3)), int(rng.integers(2))
    cv.part(both_sides(poly((6, 4), (2 - flap, 0.5 + span), (9 - 2 * flap, 1 + span))), c.second)
    if _coin(rng):
        cv.part(line((12, 10), (13, 13), (11, 14)), c.main, shade=False)
    cv.part(ellipse(10, 7.5, 3.5, 3.5), c.main)
    cv.part(ellipse(5.5, 7.5, 3.5, 4), c.main)
    cv.part(both_sides(poly((2.5, 4.5), (-0.5, 3.5 + flap), (2.5, 6))), _HORN, shade=False)
    cv.put(ellipse(11, 7.5, 2, 2), c.accent.base)
    _creature_face(cv, rng, c, 4, mouth=7)
    cv.put(both_sides(dots((7, 6))), c.main.line)


_CREATURES = (("slime", _slime), ("frog", _frog), ("bat", _bat), ("skull", _skull), ("beetle", _beetle),
              ("ghost", _ghost), ("mushroom creature", _mushroom_creature), ("fish", _fish), ("bird", _bird),
              ("snake", _snake), ("eyeball", _eyeball), ("golem", _golem), ("spider", _spider),
              ("octopus", _octopus), ("crab", _crab), ("cactus creature", _cactus), ("dragonling", _dragonling))


# --------------------------------------------------------------------------
# Food (palette subsets keep each food plausible: apples are red, green or gold).
# --------------------------------------------------------------------------


def _highlight(cv, mask, c):
    """A 2-px shine on the upper-left of a round shape."""
    rows, cols = np.nonzero(mask)
    y, x = int(rows.min()) + 1, int(cols[rows == rows.min()].min())
    cv.put(dots((y, x), (y + 1, x - 1)) & mask, c.main.light)


_BITES = (ellipse(3, 14, 2.25, 2.25), ellipse(7.5, 15, 2.5, 2), ellipse(1.5, 11, 2, 2.5))


def _bite(cv, rng):
    """Take a bite out of a food one time in three."""
    k = int(rng.integers(3 * len(_BITES)))
    if k < len(_BITES):
        cv.erase(_BITES[k])


def _apple(cv, rng, c):
    body = ellipse(9, 5.5, 4.5, 4) | ellipse(9, 9.5, 4.5, 4) | ellipse(11, 7.5, 3, 5)
    cv.part(body, c.main)
    cv.put(dots((5, 7), (5, 8)), c.main.line)
    cv.part(rect(2, 8, 4, 8), _STEM, shade=False)
    if _coin(rng):
        cv.part(ellipse(2.5, 10.5, 1, 1.75), _LEAF, shade=False)
    _highlight(cv, body, c)
    _bite(cv, rng)


def _cherry(cv, rng, c):
    left, right = ellipse(11, 4.5, 2.5, 2.5), ellipse(11.5, 10.5, 2.5, 2.5)
    cv.part(line((9, 4), (5, 6), (2, 8)) | line((9, 10), (5, 9), (2, 8)), _STEM, shade=False)
    if _coin(rng):
        cv.part(ellipse(2, 10.5, 1, 2), _LEAF, shade=False)
    for berry in (left, right):
        cv.part(berry, c.main)
        _highlight(cv, berry, c)


def _banana(cv, rng, c):
    arc = ellipse(5, 7.5, 8, 7) & ~ellipse(2.5, 7.5, 7.5, 7) & (_ROW >= 4)
    cv.part(arc, c.main)
    cv.put(arc & ~shift(arc, 1, 0), c.main.light)
    cv.put(dots((9, 0), (9, 1), (9, 15), (9, 14)) & arc, _STEM.base)
    if _coin(rng):
        lower = shift(arc, 2, 0) & ~arc & (_COL >= 3) & (_COL <= 12)
        cv.part(lower, c.main, outline=False)


def _grapes(cv, rng, c):
    centres = ((5, 5), (5, 8), (5, 11), (8, 6.5), (8, 9.5), (11, 8), (8, 3.5) if _coin(rng) else (11, 5))
    cv.part(line((4, 8), (1, 8), (0, 10)), _STEM, shade=False)
    cv.part(ellipse(2, 5.5, 1, 2), _LEAF, shade=False)
    for y, x in centres:
        grape = ellipse(y, x, 1.75, 1.75)
        cv.part(grape, c.main)
        cv.put(dots((y - 1, int(x - 0.5))) & grape, c.main.light)


def _carrot(cv, rng, c):
    lean = int(rng.integers(-1, 2))
    cv.part(line((4, 7), (0, 5 + lean)) | line((4, 8), (0, 10 + lean)) | line((4, 8), (1, 8)), _LEAF,
            shade=False)
    body = poly((3.6, 4.5), (3.6, 10.5), (15, 7.5 + lean))
    cv.part(body, c.main)
    cv.put((dots((6, 6), (9, 9), (11, 7), (7, 9))) & body, c.main.line)


def _bread(cv, rng, c):
    loaf = ellipse(9, 7.5, 4, 6.5) & (_ROW <= 12) | rect(10, 1, 12, 14)
    cv.part(loaf, c.main)
    cuts = line((7, 4), (8, 5)) | line((6, 7), (7, 8)) | line((7, 10), (8, 11))
    cv.put(cuts, c.accent.base)
    if _coin(rng):
        cv.put(rect(12, 2, 12, 13), c.main.shadow)
    _bite(cv, rng)


def _cheese(cv, rng, c):
    wedge = poly((5.5, 1.5), (12.5, 1.5), (12.5, 14.5), (8.5, 14.5))
    cv.part(wedge, c.main)
    cv.put(rect(8, 2, 8, 14) & wedge & shift(wedge, 1, 0) & ~shift(wedge, 3, 0), c.main.light)
    holes = ellipse(10.5, 5, 1, 1) | dots((9, 11), (11, 9), (7, 4))
    cv.put(holes & erode(wedge), c.main.shadow)
    _bite(cv, rng)


def _drumstick(cv, rng, c):
    bone = thick(line((9, 5), (12, 2))) | ellipse(13, 1, 1, 1) | ellipse(14, 2.5, 1, 1)
    cv.part(bone, tone((244, 236, 220)))
    meat = ellipse(6, 9.5, 4.5, 4.75) | ellipse(8.5, 6.5, 2, 2)
    cv.part(meat, c.main)
    cv.put(dots((4, 8), (5, 7), (3, 10)), c.main.light)
    _bite(cv, rng)


def _potion(cv, rng, c):
    glass = tone((214, 232, 240))
    round_flask = _coin(rng)
    flask = ellipse(10, 7.5, 4, 4.5) if round_flask else rect(7, 4, 13, 11) & ~dots((7, 4), (7, 11))
    cv.part(flask | rect(3, 6, 6, 9), glass, shade=False)
    level = 7 + int(rng.integers(3))
    cv.put(flask & erode(flask) & (_ROW >= level), c.main.base)
    cv.put(flask & erode(flask) & (_ROW == level), c.main.light)
    cv.part(rect(1, 6, 2, 9), _STEM, shade=False)
    cv.put(dots((8, 5), (9, 5)) & flask, _PAPER)


def _cake(cv, rng, c):
    cream = tone((250, 240, 226))
    cv.part(rect(6, 2, 13, 13), c.main)
    cv.put(rect(9, 2, 9, 13), cream.base)
    cv.part(rect(5, 2, 6, 13) | dots((7, 3), (7, 6), (8, 6), (7, 10), (7, 12), (8, 12)), cream, outline=False)
    cv.part(ellipse(3.5, 7.5, 1.5, 1.5), tone((220, 40, 56)), shade=False)
    cv.put(dots((3, 7)), _PAPER)
    _bite(cv, rng)


def _grilled_fish(cv, rng, c):
    cv.part(poly((8, 11), (4, 14.5), (12, 14.5)), c.main)
    cv.part(ellipse(8, 6.5, 3.5, 5.5), c.main)
    cv.put(line((6, 5), (9, 8)) | line((6, 8), (8, 10)) | line((7, 3), (9, 5)), c.main.line)
    cv.put(dots((7, 2)), _INK)


def _egg(cv, rng, c):
    if _coin(rng):
        white = ellipse(8, 7.5, 5, 6.5) | ellipse(10, 4, 3, 3.5)
        cv.part(white, tone((250, 248, 240)))
        cv.part(ellipse(7.5, 8, 2.5, 2.5), tone((250, 190, 40)))
        cv.put(dots((7, 7)), _PAPER)
    else:
        egg = ellipse(8.5, 7.5, 5.5, 4.5)
        cv.part(egg, c.main)
        cv.put(dots((6, 9), (10, 5), (11, 9), (4, 6)) & egg, c.second.base)
        _highlight(cv, egg, c)


def _strawberry(cv, rng, c):
    k = int(rng.integers(3))
    berry = ellipse(7, 7.5, 3.5, 5.5 - 0.5 * k) | poly((7, 2.25 + 0.5 * k), (7, 12.75 - 0.5 * k), (14 - k, 7.5))
    cv.part(berry, c.main)
    seeds = dots((6, 4), (6, 8), (8, 6), (8, 10), (10, 8), (11, 6), (6, 11), (9, 4))
    cv.put(seeds & berry, (250, 236, 140))
    leaves = poly((4.5, 4), (4.5, 11), (2, 7.5)) if _coin(rng) else both_sides(poly((4.5, 7.5), (3, 4), (4.5, 4)))
    cv.part(leaves | rect(1, 7, 2, 8), _LEAF, shade=False)


def _watermelon(cv, rng, c):
    slice_ = ellipse(4, 7.5, 9, 7.5) & (_ROW >= 5)
    cv.part(slice_, _LEAF)
    flesh = ellipse(4, 7.5, 7.75, 6.25) & (_ROW >= 5)
    cv.put(flesh, c.main.base)
    cv.put(rect(5, 0, 5, 15) & flesh, c.main.light)
    cv.put(dots((7, 5), (7, 10), (9, 7), (8, 3), (8, 12)), _INK)


def _donut(cv, rng, c):
    ring = ellipse(8, 7.5, 5, 6.5) & ~ellipse(7.5, 7.5, 1.5, 2)
    cv.part(ring, tone((214, 150, 80)))
    icing = ring & ~shift(ring, -2, 0) | (ring & (_ROW <= 8))
    cv.part(erode(ring) & (_ROW <= 9 - int(rng.integers(2))) | icing & (_ROW <= 6), c.main, outline=False)
    sprinkles = dots((4, 5), (5, 9), (6, 3), (4, 11), (7, 11)) & ring
    cv.put(sprinkles, _pick(rng, ((250, 250, 250), (90, 200, 240), (250, 230, 80))))
    _bite(cv, rng)


def _ice_cream(cv, rng, c):
    cone = poly((8, 4), (8, 11), (15, 7.5))
    cv.part(cone, tone((226, 170, 90)))
    cv.put((line((9, 5), (12, 9)) | line((9, 9), (11, 6))) & cone, tone((226, 170, 90)).shadow)
    scoop = ellipse(5.5, 7.5, 3.5, 4.5) | ellipse(8, 4, 1, 1.5) | ellipse(8, 10, 1, 1.5)
    cv.part(scoop, c.main)
    _highlight(cv, scoop, c)
    if _coin(rng):
        cv.part(ellipse(1.5, 8.5, 1.25, 1.25), tone((220, 40, 56)), shade=False)


def _lemon(cv, rng, c):
    body = ellipse(8, 7.5, 4, 6) | poly((6.5, 1), (9.5, 1), (8, 0)) | poly((6.5, 14), (9.5, 14), (8, 15))
    cv.part(body, c.main)
    _highlight(cv, body, c)
    if _coin(rng):
        cv.part(ellipse(3, 10, 1, 2), _LEAF, shade=False)


def _food_mushroom(cv, rng, c):
    cv.part(rect(8, 6, 13, 9), tone((238, 226, 200)))
    cap = ellipse(8, 7.5, 6, 6.5) & (_ROW <= 8)
    cv.part(cap, c.main)
    cv.put(dots((4, 5), (5, 9), (3, 8)) & cap, c.accent.base)


def _pal(*names):
    return tuple(_PALETTE_ID[n] for n in names)


_FOODS = (
    ("apple", _apple, _pal("red", "lime", "gold", "wine")),
    ("cherry", _cherry, _pal("red", "wine", "pink")),
    ("banana", _banana, _pal("gold", "lime")),
    ("grapes", _grapes, _pal("purple", "lime", "wine", "navy")),
    ("carrot", _carrot, _pal("orange", "gold")),
    ("bread", _bread, _pal("brown", "orange", "gold")),
    ("cheese", _cheese, _pal("gold", "orange", "bone")),
    ("drumstick", _drumstick, _pal("brown", "orange", "red")),
    ("potion", _potion, _pal("red", "blue", "lime", "purple", "pink", "teal", "gold", "orange")),
    ("cake", _cake, _pal("pink", "brown", "gold", "lime", "ice")),
    ("grilled fish", _grilled_fish, _pal("steel", "orange", "brown", "teal")),
    ("egg", _egg, _pal("bone", "ice", "lime", "teal")),
    ("strawberry", _strawberry, _pal("red", "pink")),
    ("watermelon", _watermelon, _pal("red", "pink")),
    ("donut", _donut, _pal("pink", "brown", "ice", "lime", "bone")),
    ("ice cream", _ice_cream, _pal("pink", "bone", "brown", "lime", "ice", "orange")),
    ("lemon", _lemon, _pal("gold", "lime", "orange")),
    ("mushroom", _food_mushroom, _pal("red", "brown", "bone", "orange")),
)


# --------------------------------------------------------------------------
# Spell effects: glowing shapes (coloured rim, light body, pale core) with
# stray sparks.  Any palette: the palette is the colour of the magic.
# --------------------------------------------------------------------------
# Integer offsets of a spiral and of a 5-pointed star, precomputed so that no
# trigonometry runs at drawing time.
_SPIRAL = bits(".....###", "...###.###..#", "..##.....##..#", "..#...#...#..#", "..#..###..#..#",
               "..#..#....#..#", "..#..#...##..#", "..#..#####..#", "..##.......##", "...##.....##",
               "....#######", y=2, x=1)
_STAR5_OUTER = ((-6.5, 0), (-2, 6), (5.5, 4), (5.5, -4), (-2, -6))
_STAR5_INNER = ((-2.5, 1.5), (1, 2.5), (3, 0), (1, -2.5), (-2.5, -1.5))
_RAYS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _sparks(cv, rng, c, count):
    """A few loose sparkles (single pixels and tiny crosses) around the effect."""
    for _ in range(count):
        y, x = int(rng.integers(1, 15)), int(rng.integers(1, 15))
        if cv.ink[y, x]:
            continue
        spark = dots((y, x)) if _coin(rng) else dots((y, x), (y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1))
        cv.img[spark & ~cv.ink] = c.main.base


def _star4(cy: int, cx: int, r: int) -> np.ndarray:
    """A four-pointed twinkle: a small diamond with long thin arms."""
    return line((cy - r, cx), (cy + r, cx)) | line((cy, cx - r), (cy, cx + r)) | dilate(dots((cy, cx)))


def _fireball(cv, rng, c):
    r = 2.5 + 0.5 * int(rng.integers(3))
    head = ellipse(10, 5, r, r)
    tail = poly((10 - r, 5), (10 + r * 0.5, 5 + r), (1, 14)) | poly((10 - r * 0.5, 5 - r * 0.5), (10, 5), (0, 9.5))
    cv.glow(head | tail, c.main)
    _sparks(cv, rng, c, 3)


def _sparkle(cv, rng, c):
    big = 4 + int(rng.integers(3))
    cy, cx = 7 + int(rng.integers(2)), 7 + int(rng.integers(2))
    cv.glow(_star4(cy, cx, big) | dilate(dilate(dots((cy, cx)))) & ~dilate(dots(
        (cy - 2, cx - 2), (cy - 2, cx + 2), (cy + 2, cx - 2), (cy + 2, cx + 2))), c.main)
    for y, x in ((2, 2), (12, 12), (2, 12), (12, 2))[:1 + int(rng.integers(3))]:
        cv.glow(_star4(y, x, 2), c.main)


def _swirl(cv, rng, c):
    path = np.rot90(_SPIRAL, int(rng.integers(4)))
    cv.part(path if _coin(rng) else path.T, c.main, outline=True, shade=False)
    cv.put(dots((7, 7), (7, 8), (8, 7), (8, 8)) & path, _PAPER)
    _sparks(cv, rng, c, 3)


def _lightning(cv, rng, c):
    xs = [int(v) for v in rng.integers(5, 11, size=3)]
    bolt = line((0, 9), (5, xs[0]), (5, xs[0] + 3), (10, xs[1]), (10, xs[1] + 2), (15, xs[2] - 2))
    cv.glow(thick(bolt), c.main)
    _sparks(cv, rng, c, 2)


def _ice_shards(cv, rng, c):
    cv.glow(poly((1, 8), (8, 11), (14, 8), (8, 5)), c.main)
    for cy, cx in ((9, 3), (10, 13), (4, 12))[:1 + int(rng.integers(3))]:
        cv.glow(poly((cy - 3, cx), (cy, cx + 1.5), (cy + 3, cx), (cy, cx - 1.5)), c.main)


_GLYPHS = (line((5, 7), (10, 5), (10, 10), (5, 7)), line((5, 7), (10, 7)) | line((7, 5), (7, 10)),
           line((5, 5), (10, 10)) | line((5, 10), (10, 5)), rect(6, 6, 9, 9) & ~rect(7, 7, 8, 8))


def _rune_circle(cv, rng, c):
    ring = ellipse(7.5, 7.5, 6.5, 6.5) & ~ellipse(7.5, 7.5, 5, 5)
    cv.glow(ring, c.main)
    cv.part(_pick(rng, _GLYPHS), c.main, outline=False, shade=False)


def _orb(cv, rng, c):
    r = 3.5 + 0.5 * int(rng.integers(3))
    cv.part(ellipse(7.5, 7.5, r, r), c.main, outline=False, shade=False)
    cv.put(ellipse(7, 7, r - 1.25, r - 1.25), c.main.light)
    cv.put(ellipse(6, 6, 1, 1), _PAPER)
    if _coin(rng):
        cv.part(ellipse(7.5, 7.5, 1.5, 7) & ~ellipse(7.5, 7.5, 0.5, 6) & ~ellipse(7.5, 7.5, r, r), c.second,
                outline=False, shade=False)
    _sparks(cv, rng, c, 4)


def _beam(cv, rng, c):
    width = 1.5 + 0.5 * int(rng.integers(3))
    cv.glow(poly((14 - width, 0), (14 + width, 0), (width, 15), (-width, 15)), c.main)
    cv.glow(ellipse(12.5, 2.5, 2.5, 2.5), c.main)
    _sparks(cv, rng, c, 3)


def _barrier(cv, rng, c):
    hexagon = poly((1, 7.5), (4, 13), (11, 13), (14, 7.5), (11, 2), (4, 2))
    inside = erode(erode(hexagon))
    cv.glow(hexagon & ~inside, c.main)
    cv.put(inside, tone(c.main.light).light)
    cv.put(inside & (_ROW - _COL == int(rng.integers(-3, 1))), c.main.light)


def _star(cv, rng, c):
    cy, cx = 8, 7.5
    outer = [(cy + y, cx + x) for y, x in _STAR5_OUTER]
    inner = [(cy + y, cx + x) for y, x in _STAR5_INNER]
    star = poly(*inner)
    for k in range(5):
        star |= poly(outer[k], inner[k], inner[k - 1])
    cv.glow(star, c.main)
    _sparks(cv, rng, c, 2)


def _flame(cv, rng, c):
    lean = int(rng.integers(-2, 3))
    flame = ellipse(10, 7.5, 4, 4.5) | poly((10, 3), (10, 12), (0, 7.5 + lean)) | poly((8, 10), (3, 12.5), (9, 12))
    cv.glow(flame, c.main)


def _crescent(cv, rng, c):
    cut = int(rng.integers(2, 4))
    cv.glow(ellipse(7.5, 7.5, 6, 6) & ~ellipse(6.5, 7.5 + cut, 5.5, 5.5), c.main)
    _sparks(cv, rng, c, 4)


def _burst(cv, rng, c):
    reach, core = rng.integers(4, 8, size=len(_RAYS)), 2 + 0.5 * int(rng.integers(3))
    ends = [(7 + dy * (int(r) - (dx != 0 and dy != 0)), 7 + dx * (int(r) - (dx != 0 and dy != 0)))
            for (dy, dx), r in zip(_RAYS, reach)]
    rays = line(*[p for end in ends for p in ((7, 7), end)])
    cv.glow(thick(rays) | ellipse(7.5, 7.5, core, core), c.main)


def _heart(cv, rng, c):
    heart = ellipse(6, 5, 2.75, 2.75) | ellipse(6, 10, 2.75, 2.75) | poly((6, 2.25), (6, 12.75), (13, 7.5))
    cv.glow(heart, c.main)
    for y, x in ((2, 13), (12, 2))[:1 + int(rng.integers(2))]:
        cv.part(dots((y, x), (y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)), c.main, outline=False)


def _tornado(cv, rng, c):
    sway = rng.integers(-1, 2, size=7)
    funnel = _EMPTY
    for k, (row, half) in enumerate(((1, 6), (3, 5), (5, 4), (7, 3), (9, 2), (11, 1), (13, 1))):
        funnel = funnel | ellipse(row + 0.5, 7.5 + int(sway[k]), 1, half + 0.5)
    cv.glow(funnel, c.main)
    cv.put((_ROW % 2 == 0) & erode(funnel), c.main.base)


def _ripple(cv, rng, c):
    for r in (6.5, 3.5)[:1 + int(rng.integers(2))]:
        cv.glow(ellipse(7.5, 7.5, r, r) & ~ellipse(7.5, 7.5, r - 1.5, r - 1.5), c.main)
    cv.glow(ellipse(7.5, 7.5, 1, 1), c.main)


def _missile(cv, rng, c):
    head = poly((1, 14), (1, 9), (3, 11), (4, 12), (6, 14))
    trail = thick(line((4, 11), (13, 2)))
    cv.glow(head | trail, c.main)
    _sparks(cv, rng, c, 3)


_SPELLS = (("fireball", _fireball), ("sparkle", _sparkle), ("swirl", _swirl), ("lightning", _lightning),
           ("ice shards", _ice_shards), ("rune circle", _rune_circle), ("orb", _orb), ("beam", _beam),
           ("barrier", _barrier), ("star", _star), ("flame", _flame), ("crescent", _crescent),
           ("burst", _burst), ("heart", _heart), ("tornado", _tornado), ("ripple", _ripple),
           ("missile", _missile))


# --------------------------------------------------------------------------
# Side-facing characters: walkers in profile, drawn facing right (the random
# mirror makes half of them face left).
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkerKit:
    """The parts a profile template chooses from."""

    hair: tuple = ("short", "long", "none")
    hat: tuple = ("none",)
    outfit: tuple = ("tunic",)
    item: tuple = ("none",)
    skin: tuple | None = None  # fixed skin colours (zombies), else a random human skin


_PROFILE_SHELL = ellipse(5, 7.75, 4, 4.25)  # the outside of a profile head: hair, hoods, helmets


def _walker_hair(cv, c, style):
    """Hair on the top and back of the head; 'long' also hangs down the back."""
    if style == "none":
        return
    low = 9 if style == "long" else 6
    back = _PROFILE_SHELL & ((_ROW <= 2) | (_COL <= 7) & (_ROW <= low))
    cv.part(back | (rect(6, 4, low, 5) if style == "long" else _EMPTY), c.hair)


def _walker_hat(cv, c, hat):
    """Headgear in profile; returns False when it hides the face."""
    if hat == "helmet":
        cv.part(ellipse(1, 4.5, 1, 2), c.main, shade=False)
        cv.part(_PROFILE_SHELL & (_ROW <= 8), c.metal)
        cv.put(rect(5, 9, 5, 12), c.metal.line)
        return False
    if hat == "wizard hat":
        cv.part(bits("###......", ".#####...", "..######.", y=0, x=3), c.main)
        cv.part(rect(3, 3, 3, 12), c.main, shade=False)
    elif hat == "hood":
        cv.part(_PROFILE_SHELL & (_ROW <= 8) | rect(6, 4, 10, 6), c.main)
        cv.put(ellipse(6, 10, 2, 2) & ~rect(0, 12, 15, 15), c.skin.base)
    elif hat == "cap":
        cv.part(_PROFILE_SHELL & (_ROW <= 3), c.main)
        cv.part(rect(3, 10, 3, 13), c.second, shade=False)
    elif hat == "bandana":
        cv.part(_PROFILE_SHELL & (_ROW <= 3) | rect(3, 2, 5, 3), c.second)
    return True


def _walker_legs(cv, c, stride, pants):
    if stride:
        legs = rect(12, 6, 12, 7) | rect(13, 5, 13, 6) | rect(12, 8, 12, 9) | rect(13, 9, 13, 10)
        feet = dots((13, 5), (13, 10), (13, 11))
    else:
        legs = rect(12, 6, 13, 7) | rect(12, 8, 13, 9)
        feet = dots((13, 6), (13, 9), (13, 10), (13, 7))
    cv.part(legs | feet, pants, shade=False)
    cv.put(feet, c.wood.line)


def _walker_body(cv, c, outfit, stride):
    if outfit == "robe":
        cv.part(poly((8.6, 5.6), (8.6, 9.4), (13.4, 11.4), (13.4, 4.6)), c.main)
        cv.put(rect(13, 9, 13, 11) if stride else _EMPTY, c.wood.line)
        return
    pants = c.metal if outfit == "armour" else c.second
    _walker_legs(cv, c, stride, pants)
    cv.part(rect(9, 6, 11, 9), c.metal if outfit == "armour" else c.main)
    if outfit == "armour":
        cv.put(rect(9, 7, 11, 8), c.main.base)
    elif outfit == "rags":
        cv.put(dots((11, 6), (11, 8), (10, 9)), _WHITE)


def _walker_arm(cv, c, item, sleeve, skin):
    """The near arm and what it holds, in front of the body (column 10 and beyond)."""
    if item in ("reach", "staff", "bow", "spear"):
        cv.part(rect(9, 8, 9, 11), sleeve, shade=False)
        cv.put(dots((9, 12)), skin.base)
    else:
        cv.part(rect(9, 8, 10, 9), sleeve, shade=False)
        cv.put(dots((10, 10)), skin.base)
    if item == "reach":
        cv.part(rect(10, 9, 10, 12), sleeve, outline=False, shade=False)
        cv.put(dots((10, 13)), skin.base)
    elif item == "sword":
        cv.part(line((9, 11), (3, 14)), c.metal, shade=False)
        cv.part(dots((10, 11), (9, 10), (11, 12)), c.gold, shade=False)
    elif item == "shield":
        cv.part(ellipse(10, 10.5, 2.5, 1.5), c.second)
        cv.put(rect(9, 10, 11, 10), c.gold.base)
    elif item == "spear":
        cv.part(rect(1, 13, 14, 13), c.wood, shade=False)
        cv.part(poly((1.4, 12), (1.4, 14), (-1.6, 13)), c.metal, shade=False)
    elif item == "staff":
        cv.part(rect(3, 13, 14, 13), c.wood, shade=False)
        cv.part(ellipse(1.75, 13, 1.5, 1.5), c.accent, shade=False)
    elif item == "bow":
        cv.part(ellipse(9, 13, 5, 2) & ~ellipse(9, 13, 4, 1.25) & (_COL >= 13), c.wood, shade=False)
        cv.put(rect(5, 13, 13, 13), (220, 220, 220))
    elif item == "cane":
        cv.part(rect(10, 11, 14, 11) | dots((10, 12)), c.wood, shade=False)
    elif item == "dagger":
        cv.part(rect(10, 11, 10, 13), c.metal, shade=False)
    elif item == "lantern":
        cv.part(rect(11, 10, 13, 12), c.metal, shade=False)
        cv.put(dots((12, 11)), (255, 214, 90))


def _draw_walker(cv, rng, c, kit: WalkerKit):
    stride = _coin(rng)
    hair, hat, item = _pick(rng, kit.hair), _pick(rng, kit.hat), _pick(rng, kit.item)
    skin = tone(_pick(rng, kit.skin)) if kit.skin else c.skin
    grey = hair == "white"
    c = Paint(c.main, c.second, c.accent, skin, tone((232, 232, 236)) if grey else c.hair)
    if hair == "long":
        _walker_hair(cv, c, hair)
    _walker_body(cv, c, _pick(rng, kit.outfit), stride)
    cv.part(ellipse(5, 7.75, 3.5, 3.75), c.skin, shade=False)
    _walker_hair(cv, c, "short" if grey else hair)
    if _walker_hat(cv, c, hat):
        cv.put(rect(5, 10, 6, 10), _INK)
        if grey:
            cv.part(poly((7, 8), (7, 11.5), (10.5, 9.5)), c.hair, outline=False)
    _walker_arm(cv, c, item, c.main, skin)


def _draw_robot(cv, rng, c):
    stride = _coin(rng)
    _walker_legs(cv, c, stride, c.metal)
    cv.part(rect(8, 5, 11, 10), c.main)
    tall = int(rng.integers(2))
    cv.part(rect(2 + tall, 5, 7, 11) & ~dots((2 + tall, 5)), c.main)
    cv.put(rect(4 + tall, 9, 5, 11) if _coin(rng) else rect(4 + tall, 10, 4 + tall, 11), _pick(
        rng, (c.accent.base, (255, 90, 70), (120, 230, 250))))
    cv.part(rect(0 + tall, 7, 1 + tall, 7), c.metal, shade=False)
    cv.put(dots((9, 6), (10, 6)), c.second.base)
    _walker_arm(cv, c, _pick(rng, ("none", "reach", "lantern")), c.metal, c.metal)


@dataclass(frozen=True)
class BeastKit:
    """Proportions of a four-legged animal in profile, facing right."""

    body: tuple  # ellipse (cy, cx, ry, rx)
    head: tuple  # ellipse
    legs: int  # leg length in rows
    snout: tuple = ()  # rect (y0, x0, y1, x1); its right end gets the nose
    ears: str = "pointy"  # pointy | floppy
    tail: tuple = ((9, 3), (6, 1))  # polyline from the rump
    wool: bool = False


def _draw_beast(cv, rng, c, kit: BeastKit):
    fur, dark = (tone(c.main.light), tone((70, 58, 62))) if kit.wool else (c.main, tone(c.main.shadow))
    head_tone = dark if kit.wool else fur
    bottom = int(kit.body[0] + kit.body[2])
    step = int(rng.integers(2))
    for x in (3 + step, 5 - step, 9 + step, 11 - step):
        cv.part(rect(bottom - 1, x, bottom + kit.legs - 1, x), dark, shade=False)
    if kit.tail:
        wag = int(rng.integers(2))
        cv.part(line(*[(y - wag * (k > 0), x) for k, (y, x) in enumerate(kit.tail)]), fur, shade=False)
    body = ellipse(*kit.body)
    if kit.wool:
        body |= ellipse(kit.body[0] - 2.5, 5, 1.5, 1.75) | ellipse(kit.body[0] - 2.5, 8.5, 1.5, 1.75)
    cv.part(body, fur)
    hy, hx = int(kit.head[0]), int(kit.head[1])
    if kit.ears == "pointy":
        cv.part(poly((hy - 1, hx - 2), (hy - 1, hx + 0.5), (hy - 4, hx - 1.5)), fur, shade=False)
    cv.part(ellipse(*kit.head) | (rect(*kit.snout) if kit.snout else _EMPTY), head_tone)
    if kit.ears == "floppy":
        cv.part(rect(hy - 2, hx - 2, hy + 1, hx - 2), tone(c.main.shadow) if not kit.wool else dark, shade=False)
    cv.put(dots((hy - 1, hx + 1)), _PAPER if kit.wool else _INK)
    if kit.snout:
        cv.put(dots((kit.snout[0], kit.snout[3])), _INK)
    if _coin(rng) and not kit.wool:  # a collar in the palette's second colour
        cv.put(rect(hy + 2, hx - 2, hy + 2, hx - 1) & body, c.second.base)


def _horse(cv, rng, c):
    _draw_beast(cv, rng, c, BeastKit(body=(8.5, 6.5, 2.5, 5), head=(3.5, 12, 1.75, 2.5), legs=4,
                                     snout=(3, 13, 5, 14), tail=((7, 2), (12, 1))))
    cv.part(poly((8, 8.5), (8, 11.5), (3, 12.5), (3, 10)), c.main, outline=False)
    cv.put(line((2, 10), (6, 8)), c.second.base)
    if _coin(rng):
        cv.part(rect(6, 5, 7, 8), c.second, outline=False)


_BEASTS = (
    ("dog", BeastKit(body=(9, 6.5, 2.5, 4.5), head=(6, 11.5, 2.5, 2.25), legs=3, snout=(7, 13, 8, 14),
                     ears="floppy", tail=((8, 2), (5, 1))), _pal("brown", "orange", "bone", "gold", "shadow")),
    ("cat", BeastKit(body=(9.5, 6.5, 2, 4.5), head=(6.5, 11.5, 2.5, 2.5), legs=3,
                     tail=((9, 2), (6, 1), (4, 2))), _pal("orange", "shadow", "bone", "steel", "gold")),
    ("pig", BeastKit(body=(9, 7, 3.5, 5), head=(8, 11.5, 2.5, 2.5), legs=2, snout=(8, 13, 9, 14),
                     tail=((7, 1), (6, 2))), _pal("pink", "bone", "brown")),
    ("sheep", BeastKit(body=(9, 7, 3, 5), head=(6.5, 12, 2, 2), legs=3, ears="floppy", tail=(), wool=True),
     _pal("bone", "steel", "shadow", "brown", "ice")),
)

_WALKERS = (
    ("knight", WalkerKit(hair=("none",), hat=("helmet",), outfit=("armour",), item=("sword", "shield"))),
    ("mage", WalkerKit(hat=("wizard hat",), outfit=("robe",), item=("staff",))),
    ("archer", WalkerKit(hat=("hood", "cap", "none"), item=("bow",))),
    ("thief", WalkerKit(hair=("short", "none"), hat=("hood", "bandana"), item=("dagger", "none"))),
    ("spearman", WalkerKit(hat=("helmet", "cap"), outfit=("armour", "tunic"), item=("spear",))),
    ("elder", WalkerKit(hair=("white",), hat=("none", "hood"), outfit=("robe", "tunic"), item=("cane",))),
    ("villager", WalkerKit(hair=("short", "long"), hat=("none", "cap", "bandana"), item=("none", "lantern"))),
    ("zombie", WalkerKit(hair=("short", "none"), outfit=("rags",), item=("reach",),
                         skin=((150, 196, 120), (130, 176, 150), (170, 190, 110)))),
)


# --------------------------------------------------------------------------
# Template registry.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A family of sprites: one class label, one drawing routine, allowed palettes."""

    id: int
    label: int
    name: str
    draw: Callable = field(repr=False, compare=False, default=None)
    palettes: tuple = field(repr=False, default=_ALL_PALETTES)


def _build_templates():
    rows = [(HUMAN, name, functools.partial(_draw_human, kit=kit), _ALL_PALETTES) for name, kit in _HUMANS]
    rows += [(CREATURE, name, draw, _ALL_PALETTES) for name, draw in _CREATURES]
    rows += [(FOOD, name, draw, pals) for name, draw, pals in _FOODS]
    rows += [(SPELL, name, draw, _ALL_PALETTES) for name, draw in _SPELLS]
    rows += [(SIDE, f"walking {name}", functools.partial(_draw_walker, kit=kit), _ALL_PALETTES)
             for name, kit in _WALKERS]
    rows += [(SIDE, "walking robot", _draw_robot, _ALL_PALETTES), (SIDE, "horse", _horse, _pal("brown", "bone", "shadow",
                                                                                     "steel", "gold"))]
    rows += [(SIDE, name, functools.partial(_draw_beast, kit=kit), pals) for name, kit, pals in _BEASTS]
    return tuple(Template(i, lab, name, draw, pals) for i, (lab, name, draw, pals) in enumerate(rows))


TEMPLATES = _build_templates()
_BY_LABEL = tuple(tuple(t for t in TEMPLATES if t.label == c) for c in range(len(LABEL_NAMES)))


# --------------------------------------------------------------------------
# One sprite.
# --------------------------------------------------------------------------


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
    """Proportion jitter (up to two lines per axis), random mirror, then a shift of up to 2 px that keeps the sprite in frame."""
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


# --------------------------------------------------------------------------
# Datasets.
# --------------------------------------------------------------------------


@dataclass
class SpriteArrays:
    """A batch of sprites with their one-hot labels and fine-grained attributes."""

    images: np.ndarray  # uint8 (n, 16, 16, 3)
    labels: np.ndarray  # uint8 one-hot (n, 5)
    template: np.ndarray  # int16 (n,)
    palette: np.ndarray  # int16 (n,)


def _split_code(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(map(repr, SPLITS))}")
    return SPLITS[split]


def _check_count(n, what="n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {n!r}")
    return int(n)


def class_counts(n: int) -> tuple[int, ...]:
    """Exact images per class for n sprites: largest-remainder rounding of n * CLASS_SHARES."""
    n, total = _check_count(n), sum(_CLASS_WEIGHTS)
    counts = [n * w // total for w in _CLASS_WEIGHTS]
    by_remainder = sorted(range(len(counts)), key=lambda c: (-(n * _CLASS_WEIGHTS[c] % total), c))
    for c in by_remainder[:n - sum(counts)]:
        counts[c] += 1
    return tuple(counts)


def sprite_labels(n: int, seed: int, split: str) -> np.ndarray:
    """Class index of every sprite of a split: exact class counts in a seeded shuffled order."""
    code = _split_code(split)
    labels = np.repeat(np.arange(len(LABEL_NAMES), dtype=np.uint8), class_counts(n))
    # A 4-word seed cannot collide with the 3-word per-sprite seeds [seed, code, i].
    np.random.default_rng([seed, code, 0, 0x5EED]).shuffle(labels)
    return labels


def sprite_rng(seed: int, split: str, i: int) -> np.random.Generator:
    """The generator of sprite ``i`` of a split (so any sprite can be redrawn alone)."""
    return np.random.default_rng([seed, _split_code(split), i])


def generate_sprites(n: int, seed: int, split: str, progress: bool = False) -> SpriteArrays:
    """Draw the n sprites of a split; sprite i depends only on (seed, split, i, its label)."""
    n = _check_count(n)
    _check_count(seed, "seed")
    labels = sprite_labels(n, seed, split)
    out = SpriteArrays(images=np.empty((n, _N, _N, 3), np.uint8),
                       labels=np.zeros((n, len(LABEL_NAMES)), np.uint8),
                       template=np.empty(n, np.int16), palette=np.empty(n, np.int16))
    out.labels[np.arange(n), labels] = 1
    indices = range(n)
    if progress:
        from tqdm.auto import tqdm
        indices = tqdm(indices, desc=f"sprites ({split})", unit="sprite")
    for i in indices:
        out.images[i], out.template[i], out.palette[i] = render_sprite(int(labels[i]), sprite_rng(seed, split, i))
    return out


def dataset_files(data_dir, split: str) -> dict[str, pathlib.Path]:
    """Paths of a split's three .npy files (images, one-hot labels, [template, palette])."""
    _split_code(split)
    d = pathlib.Path(data_dir)
    return {key: d / f"sprites_{split}_{key}.npy" for key in ("images", "labels", "attributes")}


_META_NAME, _SUMS_NAME = "sprites_meta.json", "SHA256SUMS"


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write bytes through a temporary file in the same folder, then rename over the target."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes private files; use the usual permissions
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _meta(n_train: int, n_test: int, seed: int) -> dict:
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "image_size": _N,
            "label_names": list(LABEL_NAMES),
            "counts": {"train": n_train, "test": n_test},
            "class_counts": {"train": list(class_counts(n_train)), "test": list(class_counts(n_test))},
            "templates": [{"id": t.id, "name": t.name, "label": t.label, "class": LABEL_NAMES[t.label],
                           "palettes": list(t.palettes)} for t in TEMPLATES],
            "palettes": [{"id": p.id, "name": p.name} for p in PALETTES],
            "attributes_columns": ["template", "palette"]}


def write_sprite_dataset(data_dir="data", n_train: int = 60000, n_test: int = 5000, seed: int = 0,
                         progress: bool = True) -> str:
    """Generate both splits into data_dir with metadata and checksums; return the dataset digest."""
    d = pathlib.Path(data_dir)
    n_train, n_test, seed = _check_count(n_train, "n_train"), _check_count(n_test, "n_test"), \
        _check_count(seed, "seed")
    d.mkdir(parents=True, exist_ok=True)
    names = []
    for split, n in (("train", n_train), ("test", n_test)):
        s = generate_sprites(n, seed, split, progress=progress)
        arrays = {"images": s.images, "labels": s.labels,
                  "attributes": np.stack([s.template, s.palette], axis=1).astype(np.int16)}
        for key, path in dataset_files(d, split).items():
            _write_atomic(path, _npy_bytes(arrays[key]))
            names.append(path.name)
    _write_atomic(d / _META_NAME, (json.dumps(_meta(n_train, n_test, seed), indent=2, sort_keys=True)
                                   + "\n").encode())
    names.append(_META_NAME)
    sums = "".join(f"{_sha256(d / name)}  {name}\n" for name in sorted(names))
    _write_atomic(d / _SUMS_NAME, sums.encode())
    return dataset_digest(d)


def dataset_digest(data_dir) -> str:
    """sha256 of the SHA256SUMS file: one hex string naming the whole dataset."""
    sums = pathlib.Path(data_dir) / _SUMS_NAME
    if not sums.exists():
        raise ValueError(f"{sums} is missing: run `make data` to generate the sprite dataset")
    return hashlib.sha256(sums.read_bytes()).hexdigest()


def verify_dataset(data_dir) -> str:
    """Recompute every file's sha256 against SHA256SUMS; raise ValueError on a mismatch. Returns the digest."""
    d = pathlib.Path(data_dir)
    digest = dataset_digest(d)
    for entry in (d / _SUMS_NAME).read_text().splitlines():
        expected, name = entry.split("  ", 1)
        path = d / name
        if not path.exists():
            raise ValueError(f"dataset file {path} is missing: run `make data` to regenerate it")
        if _sha256(path) != expected:
            raise ValueError(f"dataset file {path} does not match its sha256 in {d / _SUMS_NAME} "
                             f"(modified or corrupt): run `make data` to regenerate it")
    return digest


# --------------------------------------------------------------------------
# Preview.
# --------------------------------------------------------------------------


def save_preview(path, per_class: int = 16, seed: int = 2024, scale: int = 4, gap: int = 2) -> pathlib.Path:
    """PNG with one row per class (name at the left), sprites upscaled x``scale`` with a small gap."""
    from PIL import Image, ImageDraw

    cell, margin = _N * scale + gap, 84
    sheet = Image.new("RGB", (margin + per_class * cell + gap, len(LABEL_NAMES) * cell + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for label, name in enumerate(LABEL_NAMES):
        y = gap + label * cell
        draw.text((4, y + _N * scale // 2 - 6), name, fill=(40, 40, 40))
        for k in range(per_class):
            img, _, _ = render_sprite(label, np.random.default_rng([seed, label, k]))
            tile = Image.fromarray(img).resize((_N * scale, _N * scale), Image.NEAREST)
            sheet.paste(tile, (margin + gap + k * cell, y))
    path = pathlib.Path(path)
    sheet.save(path)
    return path
