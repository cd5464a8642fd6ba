"""The colours of a sprite: named palettes, skin, hair and material colours, per-sprite jitter.

A template picks one of ``PALETTES`` (clothes, a creature's skin, the colour
of a spell...); its id is stored with the sprite as a fine-grained attribute.
``_paint`` jitters the palette's three colours by a few levels, adds a random
skin and hair colour and expands every colour into a ``Tone``: the ``Paint``
that a drawing routine receives.  ``_pick`` and ``_coin`` are the two random
choices that all drawing code makes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .canvas import Tone, tone


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
    """The tones of one sprite: the palette's colours jittered, then a random skin and hair colour."""
    return Paint(main=tone(_jitter(palette.main, rng)), second=tone(_jitter(palette.second, rng)),
                 accent=tone(_jitter(palette.accent, rng)),
                 skin=tone(_SKINS[rng.integers(len(_SKINS))]),
                 hair=tone(_HAIRS[rng.integers(len(_HAIRS))]))


def _pick(rng: np.random.Generator, options):
    """One element of a sequence, uniformly."""
    return options[int(rng.integers(len(options)))]


def _coin(rng: np.random.Generator) -> bool:
    """A fair coin flip."""
    return bool(rng.integers(2))


def _pal(*names):
    """Ids of the named palettes: the subset a template allows."""
    return tuple(_PALETTE_ID[n] for n in names)
