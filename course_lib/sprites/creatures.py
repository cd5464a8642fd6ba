"""Non-human creatures (class "non-human"), seen from the front; the palette colours the body.

Every creature varies in size and proportions, and most draw a random face
(``_creature_face``) and head ornament (``_topper``) from the shared helpers.
``_CREATURES`` lists the templates as (name, draw) pairs.
"""
from __future__ import annotations

from .canvas import (_EMPTY, _INK, _PAPER, _ROW, _big_eyes, both_sides, dots, ellipse, erode, _eyes, line, poly, rect,
                     thick, tone)
from .palettes import _HORN, _LEAF, _coin, _pick


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
