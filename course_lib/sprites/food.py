"""Food (class "food"), each with the palettes that keep it plausible: apples are red, green or gold.

Round foods get a 2-px shine (``_highlight``) and many lose a bite one time in
three (``_bite``).  ``_FOODS`` lists the templates as (name, draw, palette ids).
"""
from __future__ import annotations

import numpy as np

from .canvas import _COL, _INK, _PAPER, _ROW, both_sides, dots, ellipse, erode, line, poly, rect, shift, thick, tone
from .palettes import _LEAF, _STEM, _coin, _pal, _pick


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
