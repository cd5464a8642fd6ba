"""Spell effects (class "spell"): glowing shapes (coloured rim, light body, pale core) with stray sparks.

Any palette is allowed: the palette is the colour of the magic.  ``_SPELLS``
lists the templates as (name, draw) pairs.
"""
from __future__ import annotations

import numpy as np

from .canvas import _COL, _EMPTY, _PAPER, _ROW, bits, dilate, dots, ellipse, erode, line, poly, rect, thick, tone
from .palettes import _coin, _pick


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
