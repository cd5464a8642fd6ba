"""Tests of the procedural sprite dataset (course_lib.sprites): fast, small sizes only."""
import json

import numpy as np
import pytest

from course_lib import sprites as sp

N = 2000  # moderate sample: every template of every class shows up


@pytest.fixture(scope="module")
def batch():
    return sp.generate_sprites(N, seed=0, split="train")


def _class_index(batch):
    return batch.labels.argmax(axis=1)


# --- API, shapes and dtypes ---------------------------------------------------------------------


def test_constants():
    assert sp.LABEL_NAMES == ("human", "non-human", "food", "spell", "side-facing")
    assert sp.IMAGE_SIZE == 16
    assert len(sp.CLASS_SHARES) == 5 and abs(sum(sp.CLASS_SHARES) - 1) < 1e-12
    expected = np.array([8000, 32400, 6000, 35000, 8000]) / 89400
    np.testing.assert_allclose(sp.CLASS_SHARES, expected)
    assert [t.id for t in sp.TEMPLATES] == list(range(len(sp.TEMPLATES)))
    assert [p.id for p in sp.PALETTES] == list(range(len(sp.PALETTES)))
    assert len({p.name for p in sp.PALETTES}) == len(sp.PALETTES)
    assert len({t.name for t in sp.TEMPLATES}) == len(sp.TEMPLATES)


def test_shapes_and_dtypes(batch):
    assert batch.images.shape == (N, 16, 16, 3) and batch.images.dtype == np.uint8
    assert batch.labels.shape == (N, 5) and batch.labels.dtype == np.uint8
    assert batch.template.shape == (N,) and batch.template.dtype == np.int16
    assert batch.palette.shape == (N,) and batch.palette.dtype == np.int16
    assert (batch.labels.sum(axis=1) == 1).all()
    # each sprite's template belongs to its class, and its palette is one the template allows
    labels = _class_index(batch)
    for t, p, c in zip(batch.template, batch.palette, labels):
        assert sp.TEMPLATES[t].label == c and p in sp.TEMPLATES[t].palettes


def test_render_sprite_contract():
    img, template, palette = sp.render_sprite(2, np.random.default_rng(5))
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert sp.TEMPLATES[template].label == 2 and 0 <= palette < len(sp.PALETTES)
    again = sp.render_sprite(np.int64(2), np.random.default_rng(5))
    assert again[0].tobytes() == img.tobytes() and again[1:] == (template, palette)


def test_templates_are_families():
    """Sprites of one template and one palette still differ (parts, sizes, placement)."""
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(400):
        img, template, palette = sp.render_sprite(0, rng)
        seen.setdefault((template, palette), set()).add(((img != 255).any(axis=2)).tobytes())
    assert max(len(v) for v in seen.values()) > 1


# --- class balance ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 999, N, 65000])
def test_exact_class_counts(n):
    counts = sp.class_counts(n)
    assert sum(counts) == n
    ideal = np.array(sp.CLASS_SHARES) * n
    assert np.all(np.abs(np.array(counts) - ideal) < 1)  # largest remainder: off by less than one


def test_class_shares_in_batch(batch):
    counts = np.bincount(_class_index(batch), minlength=5)
    assert tuple(counts) == sp.class_counts(N)
    assert np.all(np.abs(counts / N - np.array(sp.CLASS_SHARES)) < 0.005)


def test_order_is_shuffled(batch):
    labels = _class_index(batch)
    assert (np.diff(labels) != 0).sum() > N // 3  # not sorted into blocks


# --- determinism --------------------------------------------------------------------------------


def test_generation_is_deterministic(batch):
    again = sp.generate_sprites(N, seed=0, split="train")
    for name in ("images", "labels", "template", "palette"):
        assert getattr(again, name).tobytes() == getattr(batch, name).tobytes()


def test_sprite_regenerates_alone(batch):
    labels = _class_index(batch)
    for i in (0, 1, 17, 1234, N - 1):
        img, template, palette = sp.render_sprite(int(labels[i]), sp.sprite_rng(0, "train", i))
        assert img.tobytes() == batch.images[i].tobytes()
        assert (template, palette) == (batch.template[i], batch.palette[i])


def test_prefix_of_a_bigger_split_draws_the_same_sprite_for_the_same_label():
    small, big = sp.generate_sprites(300, 3, "test"), sp.generate_sprites(600, 3, "test")
    same = _class_index(small) == _class_index(big)[:300]
    assert same.any()
    assert (small.images[same] == big.images[:300][same]).all()


def test_seeds_and_splits_differ():
    a = sp.generate_sprites(50, 0, "train").images
    assert not np.array_equal(a, sp.generate_sprites(50, 1, "train").images)
    assert not np.array_equal(a, sp.generate_sprites(50, 0, "test").images)


def test_write_dataset_twice_same_digest(tmp_path):
    d1 = sp.write_sprite_dataset(tmp_path / "a", n_train=300, n_test=60, seed=0, progress=False)
    d2 = sp.write_sprite_dataset(tmp_path / "b", n_train=300, n_test=60, seed=0, progress=False)
    assert d1 == d2 == sp.dataset_digest(tmp_path / "a") and len(d1) == 64
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sp.write_sprite_dataset(tmp_path / "a", n_train=300, n_test=60, seed=1, progress=False) != d1


# --- files ----------------------------------------------------------------------------------------


def test_dataset_files_layout_and_contents(tmp_path):
    sp.write_sprite_dataset(tmp_path, n_train=120, n_test=40, seed=0, progress=False)
    for split, n in (("train", 120), ("test", 40)):
        files = sp.dataset_files(tmp_path, split)
        assert files == {k: tmp_path / f"sprites_{split}_{k}.npy" for k in ("images", "labels", "attributes")}
        images, labels, attrs = (np.load(files[k]) for k in ("images", "labels", "attributes"))
        ref = sp.generate_sprites(n, 0, split)
        assert images.dtype == np.uint8 and (images == ref.images).all()
        assert labels.dtype == np.uint8 and (labels == ref.labels).all()
        assert attrs.dtype == np.int16 and attrs.shape == (n, 2)
        assert (attrs[:, 0] == ref.template).all() and (attrs[:, 1] == ref.palette).all()
    meta = json.loads((tmp_path / "sprites_meta.json").read_text())
    assert meta["label_names"] == list(sp.LABEL_NAMES) and meta["seed"] == 0
    assert meta["generator_version"] == sp.GENERATOR_VERSION
    assert [t["name"] for t in meta["templates"]] == [t.name for t in sp.TEMPLATES]
    assert [p["name"] for p in meta["palettes"]] == [p.name for p in sp.PALETTES]
    sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in sums]
    assert names == sorted(names) and "sprites_meta.json" in names and len(names) == 7
    assert not list(tmp_path.glob("*.tmp"))


def test_verify_dataset_catches_changes(tmp_path):
    digest = sp.write_sprite_dataset(tmp_path, n_train=100, n_test=20, seed=0, progress=False)
    assert sp.verify_dataset(tmp_path) == digest
    images = sp.dataset_files(tmp_path, "train")["images"]
    data = bytearray(images.read_bytes())
    data[-1] ^= 1
    images.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"sprites_train_images\.npy.*make data"):
        sp.verify_dataset(tmp_path)
    labels = sp.dataset_files(tmp_path, "test")["labels"]
    sp.write_sprite_dataset(tmp_path, n_train=100, n_test=20, seed=0, progress=False)
    labels.unlink()
    with pytest.raises(ValueError, match=r"sprites_test_labels\.npy.*missing.*make data"):
        sp.verify_dataset(tmp_path)


def test_preview(tmp_path):
    from PIL import Image

    path = sp.save_preview(tmp_path / "preview.png", per_class=4)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.height >= 5 * 64 and im.width > 4 * 64


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda: sp.generate_sprites(10, 0, "valid"), "unknown split 'valid'"),
    (lambda: sp.dataset_files("data", "dev"), "unknown split 'dev'"),
    (lambda: sp.generate_sprites(-1, 0, "train"), "n must be a non-negative integer"),
    (lambda: sp.generate_sprites(2.5, 0, "train"), "n must be a non-negative integer"),
    (lambda: sp.write_sprite_dataset("unused", n_train=-5, progress=False), "n_train must be"),
    (lambda: sp.render_sprite(5, np.random.default_rng(0)), "unknown label 5"),
    (lambda: sp.render_sprite(-1, np.random.default_rng(0)), "unknown label -1"),
    (lambda: sp.render_sprite("food", np.random.default_rng(0)), "unknown label 'food'"),
])
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_verify_missing_dataset(tmp_path):
    with pytest.raises(ValueError, match="make data"):
        sp.verify_dataset(tmp_path)


# --- content ------------------------------------------------------------------------------------


def test_templates_per_class(batch):
    labels = _class_index(batch)
    for c, name in enumerate(sp.LABEL_NAMES):
        ids = {t.id for t in sp.TEMPLATES if t.label == c}
        assert len(ids) >= 12, name
        assert set(np.unique(batch.template[labels == c])) == ids, f"not every {name} template appears"


def test_palettes_vary(batch):
    assert len(sp.PALETTES) >= 12
    assert len(np.unique(batch.palette)) == len(sp.PALETTES)


def test_background_outline_and_not_blank(batch):
    img = batch.images.astype(int)
    white = (img == 255).all(axis=3)
    corners = white[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.mean() > 0.9  # background is pure white
    assert white.mean() > 0.25
    drawn = (~white).sum(axis=(1, 2))
    assert drawn.min() >= 20  # no blank or near-blank sprite
    dark = img.max(axis=3) < 110
    assert dark.sum(axis=(1, 2)).min() >= 8  # every sprite has a dark outline


def test_outline_surrounds_the_sprite(batch):
    """The pixels touching the background are dark (a 1-px outline), for most edge pixels."""
    img = batch.images.astype(int)
    white = (img == 255).all(axis=3)
    touches = np.zeros_like(white)
    touches[:, 1:] |= white[:, :-1]
    touches[:, :-1] |= white[:, 1:]
    touches[:, :, 1:] |= white[:, :, :-1]
    touches[:, :, :-1] |= white[:, :, 1:]
    edge = touches & ~white
    dark = img.max(axis=3) < 110
    assert (dark & edge).sum() / edge.sum() > 0.8


def test_mirrors_and_shifts_appear(batch):
    labels = _class_index(batch)
    ink = (batch.images[labels == 4] != 255).any(axis=3)
    # profile sprites are drawn facing right; their drawn mass leans to the side they face,
    # and the random mirror makes both directions common
    lean = (ink * (np.arange(16) - 7.5)).sum(axis=(1, 2)) / ink.sum(axis=(1, 2))
    assert (lean > 0.3).mean() > 0.2 and (lean < -0.3).mean() > 0.2
    # shifts: the drawn pixels start at several different columns and rows
    all_ink = (batch.images != 255).any(axis=3)
    assert len(np.unique(np.argmax(all_ink.any(axis=1), axis=1))) >= 3
    assert len(np.unique(np.argmax(all_ink.any(axis=2), axis=1))) >= 3


def test_diversity_no_duplicates_within_class(batch):
    """Measured: 0 exact duplicates per class in this 2,000 sample (0.02 % at most over the
    60,000 training sprites), thanks to parts, proportions, shifts and colour jitter; 1 % leaves
    room for art changes while still catching a generator that collapses to a few bitmaps."""
    labels = _class_index(batch)
    for c, name in enumerate(sp.LABEL_NAMES):
        imgs = batch.images[labels == c].reshape(-1, 16 * 16 * 3)
        dup = 1 - len(np.unique(imgs, axis=0)) / len(imgs)
        assert dup < 0.01, f"{name}: {dup:.1%} exact duplicates"


def test_diversity_of_shapes_within_class(batch):
    """Colour jitter alone must not be the only variety: silhouettes vary too.

    Measured in this sample: 68 % (non-human, which fills the frame) to 95 % (human) distinct.
    """
    labels = _class_index(batch)
    for c, name in enumerate(sp.LABEL_NAMES):
        ink = (batch.images[labels == c] != 255).any(axis=3).reshape(-1, 256)
        unique = len(np.unique(ink, axis=0)) / len(ink)
        assert unique > 0.5, f"{name}: only {unique:.0%} distinct silhouettes"
