"""The 16x16 canvas and the shapes painted on it, all in integer arithmetic.

A sprite is painted part by part onto a white ``Canvas``.  Parts are boolean
masks built from a handful of primitives (``ellipse``, ``rect``, ``poly``,
``line``, ``dots``, ``bits``) and combined with ``|``, ``&`` and ``~``;
``shift``, ``dilate``, ``erode``, ``mirror``, ``both_sides`` and ``thick``
move and reshape them.  Shape coordinates are quarter pixels, so no
platform-dependent float rounding decides a pixel.

``Canvas.part`` may give a part its own dark outline (drawn over what lies
below it, giving the internal lines of pixel art) and a shaded lower-right
rim; ``Canvas.finish`` gives the whole silhouette a dark 1-px outline: the
4-neighbour dilation of the inked mask minus the mask.  Colours enter as a
``Tone``: base, light, shadow and line shades of one colour.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 16  # sprites are IMAGE_SIZE x IMAGE_SIZE RGB
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
# Colour ramps.
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
