"""data: load any training set into one in-memory form, an `ImageDataset`.

Every loader returns the same thing, so training, sampling and evaluation never care
where the pixels came from:

    images   torch.uint8   (N, C, H, W), pixels 0..255, kept as bytes (60k sprites = 46 MB)
    context  torch.float32 (N, K), one-hot class labels; K = 0 when the data has no labels

`ImageDataset.batch` converts one batch at a time to *model space*, the range the
diffusion model denoises in:  x = uint8 / 127.5 - 1,  so pixel 0 -> -1 and 255 -> +1.

Loaders: `load_sprites` (the procedural set written by `make data`), `load_original_sprites`
(the original short course's .npy files), `load_image_folder` (any folder of PNG/JPEG
images), `load_mnist` (through torchvision) and `load_dataset`, the command line's dispatcher.
"""
from __future__ import annotations

import dataclasses
import hashlib
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torchvision.datasets import MNIST
from tqdm.auto import tqdm

from . import sprites
from .images import to_model_space  # uint8 0..255 -> float32 [-1, 1]: x = u / 127.5 - 1
from .seeding import derived_generator

MAKE_DATA = "run `make data` (or `python -m course_lib data`) to generate the sprite dataset"
ORIGINAL_FILES = ("sprites_1788_16x16.npy", "sprite_labels_nc_1788_16x16.npy")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DATASET_CHOICES = "'sprites', 'original', 'mnist', or an image folder given as a path or as 'folder:PATH'"
SPRITE_SHAPE = (None, 16, 16, 3)  # (N, H, W, RGB) of both sprite sets' image files
PROGRESS_MIN_FILES = 500  # load_image_folder shows a progress bar from this many files on


def one_hot(labels, num_classes: int) -> torch.Tensor:
    """Integer class ids (N,) -> float32 one-hot context (N, num_classes)."""
    return F.one_hot(torch.as_tensor(labels, dtype=torch.long), num_classes).float()


def draw_labels(shares, n: int, seed: int = 0) -> torch.Tensor:
    """n one-hot labels (n, K) in the class mix `shares` (K shares, one per label, summing to 1): exactly
    round(n * share) of each label (largest remainders get the rounding), in an order shuffled with `seed`.

    A model trained on labelled data that samples with these labels draws from the whole data distribution,
        p(x) = sum_c p(c) p(x | c):
    a label c with the data's frequency p(c), then a sprite of that label. With guidance this is the path the
    evaluation measures for a context model (labels in the test split's class mix)."""
    shares = torch.as_tensor(shares, dtype=torch.float64)
    if shares.ndim != 1 or len(shares) == 0 or not torch.isfinite(shares).all() or (shares < 0).any() \
            or abs(shares.sum().item() - 1) > 1e-6:
        raise ValueError(f"shares {shares.tolist()} must be one non-negative share per label, summing to 1")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of labels")
    exact = n * shares
    counts = exact.floor().long()
    by_remainder = sorted(range(len(shares)), key=lambda k: (-(exact[k] - counts[k]).item(), k))
    for k in by_remainder[:n - int(counts.sum())]:
        counts[k] += 1
    labels = torch.repeat_interleave(torch.arange(len(shares)), counts)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return one_hot(labels[order], len(shares))


def resize_images(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """Resize uint8 (N, C, S, S) images to (N, C, image_size, image_size).

    Enlarging by a whole factor repeats each pixel (pixel art stays crisp); any other size
    uses antialiased bilinear filtering."""
    _check_positive_int(image_size, "image_size")
    if image_size % images.shape[-1] == 0:
        factor = image_size // images.shape[-1]
        return images.repeat_interleave(factor, 2).repeat_interleave(factor, 3) if factor > 1 else images
    out = F.interpolate(images.float(), size=(image_size, image_size), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) with C in (1, 3) -> `channels` channels: grey is repeated into
    R, G and B; colour becomes grey as PIL's "L" does, 0.299 R + 0.587 G + 0.114 B."""
    _check_channels(channels)
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


@dataclass(eq=False, repr=False)
class ImageDataset:
    """A labelled image set held in memory as bytes, converted to model space per batch.

    images: uint8 (N, C, S, S), 0..255.  context: float32 (N, K) one-hot, one column per
    entry of `label_names` (K = 0: unlabelled).  name: a short title.  digest: sha256 of the
    source files where known, else None.  attributes: extra per-image tensors of length N
    (sprites: {"template": ..., "palette": ...}; empty otherwise).
    """

    images: torch.Tensor
    context: torch.Tensor
    label_names: tuple[str, ...] = ()
    name: str = "images"
    digest: str | None = None
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self):
        self.label_names = tuple(self.label_names)
        self.context = torch.as_tensor(self.context, dtype=torch.float32)
        n, k, shape = len(self.images), len(self.label_names), tuple(self.images.shape)
        problems = []
        if self.images.dtype != torch.uint8 or len(shape) != 4 or shape[2] != shape[3]:
            problems.append(f"images must be uint8 (N, C, S, S), got {self.images.dtype} {shape}")
        if tuple(self.context.shape) != (n, k):
            problems.append(f"context must be ({n}, {k}): one row per image, one column per label name; "
                            f"got {tuple(self.context.shape)}")
        problems += [f"attribute {key!r} has {len(v)} rows for {n} images"
                     for key, v in self.attributes.items() if len(v) != n]
        if problems:
            raise ValueError("invalid ImageDataset: " + "; ".join(problems))

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        labels = ", ".join(self.label_names) or "none"
        return (f"ImageDataset({self.name!r}: {len(self)} images, {self.channels}x{self.image_size}x"
                f"{self.image_size}, labels: {labels})")

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def context_dim(self) -> int:
        return self.context.shape[1]

    def _index(self, indices) -> torch.Tensor:
        """ints, a 1-D tensor or a slice -> a LongTensor of positions (for the fast index_select)."""
        if isinstance(indices, slice):
            return torch.arange(len(self))[indices]
        return torch.as_tensor(indices, dtype=torch.long).reshape(-1)

    def batch(self, indices, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images `indices` (ints, a 1-D tensor or a slice) as (x, c) on `device`:
        x float32 (B, C, S, S) in model space, x = uint8 / 127.5 - 1 (0 -> -1, 255 -> +1);
        c float32 (B, K), the one-hot context."""
        idx = self._index(indices)
        x = to_model_space(self.images.index_select(0, idx).to(device))
        return x, self.context.index_select(0, idx).to(device)

    def mean_image(self) -> torch.Tensor:
        """mu = the mean of all images in model space, float32 (C, S, S) (summed in float64, so exact)."""
        return (self.images.sum(0, dtype=torch.float64) / (127.5 * len(self)) - 1.0).float()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One image as (x, c) in model space, so a torch DataLoader can use the dataset too."""
        x, c = self.batch([i])
        return x[0], c[0]

    def subset(self, indices) -> ImageDataset:
        """A new dataset with only `indices` (same label names, name and source digest)."""
        idx = self._index(indices)
        return dataclasses.replace(self, images=self.images.index_select(0, idx),
                                   context=self.context.index_select(0, idx),
                                   attributes={key: v.index_select(0, idx) for key, v in self.attributes.items()})

    def unlabelled(self) -> ImageDataset:
        """The same images without labels (context width 0), for a model trained without context."""
        return dataclasses.replace(self, context=torch.zeros(len(self), 0), label_names=())

    def convert(self, image_size: int | None = None, channels: int | None = None) -> ImageDataset:
        """A copy resized to `image_size` and/or converted to `channels` (None: keep as is)."""
        images = self.images if image_size is None else resize_images(self.images, image_size)
        images = images if channels is None else convert_channels(images, channels)
        return self if images is self.images else dataclasses.replace(self, images=images)

    def sample_batches(self, batch_size: int, seed: int = 0, start_step: int = 0,
                       device=None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless (x, c) batches as from `batch`, in shuffled epochs of len // batch_size full
        batches. Epoch e walks the data in a permutation drawn from a generator seeded with
        (seed, e), so batch k is the same whether the walk starts at 0 or resumes at
        start_step = k: an interrupted training run continues exactly where it stopped."""
        _check_positive_int(batch_size, "batch_size")
        per_epoch = len(self) // batch_size
        if per_epoch == 0:
            raise ValueError(f"dataset {self.name!r} has {len(self)} images, fewer than one batch of {batch_size}")
        step, order = start_step, None
        while True:
            epoch, pos = divmod(step, per_epoch)
            if order is None or pos == 0:
                order = torch.randperm(len(self), generator=derived_generator(seed, epoch))
            yield self.batch(order[pos * batch_size:(pos + 1) * batch_size], device)
            step += 1


# ----------------------------------------------------------------------------- helpers

def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_channels(channels) -> None:
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")


def _load_npy(path: Path, shape: tuple, fix: str) -> np.ndarray:
    """np.load a numeric array whose shape must match `shape` (None: any size); a file that
    cannot be read or has the wrong shape raises ValueError naming it and saying `fix`."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise ValueError(f"{path} is corrupt or truncated ({e}): {fix}") from e
    expected = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    if array.dtype.kind not in "biuf" or array.ndim != len(shape) or any(
            s not in (None, a) for s, a in zip(shape, array.shape)):
        raise ValueError(f"{path} holds {array.dtype} {array.shape}, expected shape {expected}: {fix}")
    return array


def _to_uint8(array: np.ndarray, path: Path, fix: str, floats_ok: bool) -> np.ndarray:
    """uint8 pixels as they are; with `floats_ok`, floats in [0, 1] or [0, 255] are scaled."""
    if array.dtype == np.uint8:
        return array
    if floats_ok and array.dtype.kind == "f" and array.size and np.isfinite(array).all() \
            and array.min() >= 0 and array.max() <= 255:
        return np.rint(array * (255.0 if array.max() <= 1 else 1.0)).astype(np.uint8)
    accepted = "uint8 0..255, or floats in [0, 1] or [0, 255]" if floats_ok else "uint8"
    raise ValueError(f"{path} holds {array.dtype} pixels, expected {accepted}: {fix}")


def _load_sprite_images(path: Path, fix: str, floats_ok: bool) -> torch.Tensor:
    """A sprite image file (N, 16, 16, 3) -> uint8 tensor (N, 3, 16, 16)."""
    return _nchw(_to_uint8(_load_npy(path, SPRITE_SHAPE, fix), path, fix, floats_ok))


def _nchw(images: np.ndarray) -> torch.Tensor:
    """numpy (N, H, W, C) -> torch (N, C, H, W)."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _sha256_files(paths, root) -> str:
    """sha256 over each file's path relative to `root` (so renames count) and its bytes, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).relative_to(root).as_posix().encode() + b"\0" + Path(path).read_bytes())
    return digest.hexdigest()


def _require_files(paths, message: str) -> None:
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: {message}")


# ----------------------------------------------------------------------------- loaders

def load_sprites(data_dir="data", split: str = "train", verify: bool = False) -> ImageDataset:
    """The procedural 16x16 sprites written by `make data`: 3 channels, 5 one-hot classes
    (`sprites.LABEL_NAMES`), attributes template and palette; digest = `sprites.dataset_digest`.
    verify=True first checks every file against data_dir/SHA256SUMS."""
    files = sprites.dataset_files(data_dir, split)  # ValueError for a split other than train/test
    _require_files([files["images"], files["labels"], files["attributes"], Path(data_dir) / "SHA256SUMS"],
                   MAKE_DATA)
    if verify:
        sprites.verify_dataset(data_dir)
    fix = f"delete it and {MAKE_DATA}"
    images = _load_sprite_images(files["images"], fix, floats_ok=False)
    labels = _load_npy(files["labels"], (len(images), len(sprites.LABEL_NAMES)), fix)
    attributes = torch.from_numpy(_load_npy(files["attributes"], (len(images), 2), fix).astype(np.int64))
    return ImageDataset(images, torch.from_numpy(labels), sprites.LABEL_NAMES,
                        "sprites" if split == "train" else f"sprites-{split}", sprites.dataset_digest(data_dir),
                        {"template": attributes[:, 0], "palette": attributes[:, 1]})


def load_original_sprites(data_dir="data") -> ImageDataset:
    """The original short course's sprites, placed by hand in `data_dir`:
    sprites_1788_16x16.npy (uint8 (89400, 16, 16, 3); floats in [0, 1] or [0, 255] are
    accepted too) and sprite_labels_nc_1788_16x16.npy ((89400, 5) one-hot).
    Label names = `sprites.LABEL_NAMES`; digest = sha256 over the two files."""
    paths = [Path(data_dir) / name for name in ORIGINAL_FILES]
    _require_files(paths, f"copy the original course's {ORIGINAL_FILES[0]} (uint8, shape (89400, 16, 16, 3)) "
                          f"and {ORIGINAL_FILES[1]} (shape (89400, 5), one-hot) into {Path(data_dir).resolve()}/ "
                          "under exactly these names, or use the procedural sprites instead "
                          "(`python -m course_lib data`)")
    fixes = [f"replace it with the original course's {p.name} (shape {s})"
             for p, s in zip(paths, ("(89400, 16, 16, 3)", "(89400, 5)"))]
    images = _load_sprite_images(paths[0], fixes[0], floats_ok=True)
    labels = _load_npy(paths[1], (len(images), len(sprites.LABEL_NAMES)), fixes[1])
    return ImageDataset(images, torch.from_numpy(labels), sprites.LABEL_NAMES, "original",
                        _sha256_files(paths, data_dir))


def _read_image(path: Path, image_size: int, mode: str) -> np.ndarray:
    """One image file -> (S, S) or (S, S, 3) uint8: upright per EXIF, transparency flattened
    onto white, converted to `mode`, short side resized to S (LANCZOS) and centre-cropped."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im.convert("RGBA"))
            im = im.convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image {path} ({type(e).__name__}: {e}): "
                         "delete or replace this file, or move it out of the folder") from e
    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return np.asarray(im.resize((image_size, image_size), Image.Resampling.LANCZOS, box=box))


def load_image_folder(path, image_size: int, channels: int = 3, progress: bool | None = None) -> ImageDataset:
    """Every .png/.jpg/.jpeg (any case) under `path`, recursively, in sorted order of the
    relative path; hidden files and folders (name starting with '.') are skipped.

    Each image is converted to RGB (channels=3) or greyscale "L" (channels=1; transparency
    becomes white), resized so its short side is `image_size` and centre-cropped square.
    Classes: when the images sit in subfolders, each immediate subfolder is one class
    (label_names = the subfolder names, sorted; deeper folders belong to their top one);
    images directly in `path` are unlabelled (K = 0). A mix of both is an error.
    progress: tqdm bar (None: only from PROGRESS_MIN_FILES files on).
    digest: sha256 over every file's relative path and bytes, in the same order."""
    _check_positive_int(image_size, "image_size")
    _check_channels(channels)
    root = Path(path)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "not found"
        raise FileNotFoundError(f"image folder {root} {what} (resolved: {root.resolve()}): pass the path of a "
                                f"folder holding {'/'.join(IMAGE_EXTENSIONS)} images")
    files = sorted((p.relative_to(root) for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS),
                   key=Path.as_posix)
    files = [f for f in files if not any(part.startswith(".") for part in f.parts) and (root / f).is_file()]
    if not files:
        raise ValueError(f"no images found in {root}: expected files ending in {', '.join(IMAGE_EXTENSIONS)} "
                         "(any case), directly in the folder or in one subfolder per class")
    top = [f for f in files if len(f.parts) == 1]
    if top and len(top) < len(files):
        raise ValueError(f"{root} mixes images at its top level (e.g. {top[0]}) with images in subfolders: put "
                         "every image in a class subfolder, or all of them at the top level for unlabelled data")
    label_names = () if top else tuple(sorted({f.parts[0] for f in files}))
    class_ids = {name: i for i, name in enumerate(label_names)}
    images = np.empty((len(files), image_size, image_size, channels), dtype=np.uint8)
    show = len(files) >= PROGRESS_MIN_FILES if progress is None else progress
    for i, f in enumerate(tqdm(files, desc=f"loading {root.name or root}", disable=not show)):
        images[i] = _read_image(root / f, image_size, "RGB" if channels == 3 else "L").reshape(images.shape[1:])
    context = one_hot([class_ids[f.parts[0]] for f in files], len(label_names)) if label_names \
        else torch.zeros(len(files), 0)
    return ImageDataset(_nchw(images), context, label_names, f"folder:{root}",
                        _sha256_files([root / f for f in files], root))


def load_mnist(root="data", image_size: int = 28, train: bool = True, download: bool = False) -> ImageDataset:
    """MNIST through torchvision.datasets.MNIST(root, train, download): 1 channel, 10 one-hot
    classes "0".."9", resized from 28 only when image_size differs. Missing files raise
    FileNotFoundError, unreadable ones ValueError.
    digest: sha256 over the split's two raw files in root/MNIST/raw/."""
    _check_positive_int(image_size, "image_size")
    raw, prefix = Path(root) / "MNIST" / "raw", "train" if train else "t10k"
    try:
        mnist = MNIST(root, train=train, download=download)
    except (RuntimeError, OSError) as e:  # files missing or unreadable, or the download failed (no network)
        if all((raw / f).is_file() for f in MNIST_FILES):
            raise ValueError(f"cannot read the MNIST files in {raw} ({e}): delete them and download MNIST again "
                             "(download=True), or copy them there again") from e
        raise FileNotFoundError(
            f"MNIST not found in {raw} ({e}): it needs one network download, load_mnist(root, download=True), "
            f"or place the four uncompressed files {', '.join(MNIST_FILES)} in {raw}/") from e
    return ImageDataset(resize_images(mnist.data.unsqueeze(1), image_size), one_hot(mnist.targets, 10),
                        tuple("0123456789"), "mnist" if train else "mnist-test",
                        _sha256_files([raw / f for f in MNIST_FILES if f.startswith(prefix)], raw))


def load_dataset(name: str, data_dir="data", image_size: int | None = None, channels: int | None = None,
                 split: str = "train", download: bool = False) -> ImageDataset:
    """The command line's dispatcher. name: "sprites" (data_dir, split), "original" (data_dir),
    "mnist" (data_dir is torchvision's root; download=True fetches it once), or an image folder
    as a path or "folder:PATH". image_size / channels: resize / convert to these (None: keep the
    dataset's own; an image folder needs image_size and defaults to 3 channels). Only sprites
    and MNIST have a "test" split."""
    name = str(name)
    if name not in ("sprites", "original", "mnist") and not (
            name.startswith("folder:") or "/" in name or os.sep in name or Path(name).is_dir()):
        raise ValueError(f"unknown dataset {name!r}: choose {DATASET_CHOICES}")
    if split not in ("train", "test") or (split == "test" and name not in ("sprites", "mnist")):
        raise ValueError(f"split {split!r} is not available for {name!r}: use 'train'"
                         + (" or 'test'" if name in ("sprites", "mnist") else " (it has no test split)"))
    if name == "sprites":
        dataset = load_sprites(data_dir, split)
    elif name == "original":
        dataset = load_original_sprites(data_dir)
    elif name == "mnist":
        dataset = load_mnist(data_dir, train=split == "train", download=download)
    elif image_size is None:
        raise ValueError(f"image folder {name!r} needs an image_size, e.g. image_size=16 or 32")
    else:
        return load_image_folder(name.removeprefix("folder:"), image_size, 3 if channels is None else channels)
    return dataset.convert(image_size, channels)
