"""Front-facing chibi humans (class "human"): body, outfit, hair, headgear, face and held items.

Drawn symmetric about x = 7.5 with the main hand on the right; the final
random mirror puts it on either side.  A template is a ``HumanKit``, the
options it allows in each slot; ``_draw_human`` picks one option per slot and
paints back hair, outfit, head, front hair, hat, face, item and off-hand item,
in that order.  ``_HUMANS`` lists the templates as (name, kit) pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .canvas import (_COL, _INK, _PAPER, _ROW, Canvas, bits, both_sides, dots, ellipse, _eyes, line, mirror, poly, rect,
                     tone)
from .palettes import _HORN, Paint, _pick


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


def _panelled(cv, f, c, pants, body, panel_mask, panel, studs, stud_tone):
    """A torso in `body` with an inset `panel` (a breastplate, a bib), sleeves like the torso and a pair of studs."""
    _legs(cv, f, c, pants)
    cv.part(rect(9, 5, 11, 10), body)
    cv.part(panel_mask, panel, outline=False)
    _arms(cv, c, body)
    cv.put(both_sides(studs), stud_tone)


def _outfit_armour(cv, f, c):
    _panelled(cv, f, c, c.metal, c.metal, rect(9, 6, 11, 9), c.main, dots((9, 4)), c.metal.light)


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
    _panelled(cv, f, c, c.main, c.second, rect(10, 5, 11, 10), c.main, dots((9, 6)), c.main.base)


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
