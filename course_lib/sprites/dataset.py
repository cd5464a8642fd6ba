"""The sprite dataset: both splits drawn deterministically, written to .npy files with checksums.

Determinism: all randomness comes from ``numpy.random.default_rng`` (PCG64,
identical on every platform); sprite ``i`` of a split uses its own generator
seeded with ``[seed, split_code, i]``; geometry is integer-only, so the output
never depends on the machine, on chunking or on the number of processes.
The template id and the palette id are stored next to each image, for the
course's evaluation network, which learns these fine-grained attributes.

Files (``write_sprite_dataset``): ``sprites_{split}_images.npy`` uint8
(n,16,16,3), ``sprites_{split}_labels.npy`` uint8 one-hot (n,5),
``sprites_{split}_attributes.npy`` int16 (n,2) = [template, palette], plus
``sprites_meta.json`` and ``SHA256SUMS``; each file is written atomically,
and the dataset digest is the sha256 of ``SHA256SUMS``.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np

from ..files import atomic_write, sha256_file
from .canvas import _N
from .palettes import PALETTES
from .templates import _CLASS_WEIGHTS, LABEL_NAMES, TEMPLATES, render_sprite

GENERATOR_VERSION = 1
SPLITS = {"train": 0, "test": 1}
REGENERATE = "run `python -m course_lib data` (make data)"


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


def _write_npy(path: pathlib.Path, a: np.ndarray) -> None:
    """Save an array as .npy, atomically: a reader never sees a half-written file."""
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.save(f, a, allow_pickle=False)


def _write_text(path: pathlib.Path, text: str) -> None:
    """Write text as UTF-8 bytes, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(text.encode())


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
            _write_npy(path, arrays[key])
            names.append(path.name)
    _write_text(d / _META_NAME, json.dumps(_meta(n_train, n_test, seed), indent=2, sort_keys=True) + "\n")
    names.append(_META_NAME)
    _write_text(d / _SUMS_NAME, "".join(f"{sha256_file(d / name)}  {name}\n" for name in sorted(names)))
    return dataset_digest(d)


def dataset_digest(data_dir) -> str:
    """sha256 of the SHA256SUMS file: one hex string naming the whole dataset."""
    sums = pathlib.Path(data_dir) / _SUMS_NAME
    if not sums.exists():
        raise ValueError(f"{sums} is missing: {REGENERATE} to generate the sprite dataset")
    return sha256_file(sums)


def verify_dataset(data_dir) -> str:
    """Recompute every file's sha256 against SHA256SUMS; raise ValueError on a mismatch. Returns the digest."""
    d = pathlib.Path(data_dir)
    digest = dataset_digest(d)
    for entry in (d / _SUMS_NAME).read_text().splitlines():
        expected, name = entry.split("  ", 1)
        path = d / name
        if not path.exists():
            raise ValueError(f"dataset file {path} is missing: {REGENERATE} to regenerate it")
        if sha256_file(path) != expected:
            raise ValueError(f"dataset file {path} does not match its sha256 in {d / _SUMS_NAME} "
                             f"(modified or corrupt): {REGENERATE} to regenerate it")
    return digest


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
