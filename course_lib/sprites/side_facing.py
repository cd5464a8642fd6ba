"""Side-facing characters (class "side-facing"): walkers, a robot and four-legged animals in profile.

All are drawn facing right; the random mirror makes half of them face left.
People are ``WalkerKit`` templates drawn by ``_draw_walker`` (``_WALKERS``),
animals are ``BeastKit`` proportions drawn by ``_draw_beast`` (``_BEASTS``);
the robot and the horse (a beast plus a mane) have their own routines.
"""
from __future__ import annotations

from dataclasses import dataclass

from .canvas import _COL, _EMPTY, _INK, _PAPER, _ROW, _WHITE, bits, dots, ellipse, line, poly, rect, tone
from .palettes import Paint, _coin, _pal, _pick


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
