"""Tests for course_lib.data: every loader on small files the tests write into tmp_path."""
import re
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import data, sprites

RED, BLUE = (255, 0, 0), (0, 0, 255)


# ----------------------------------------------------------------------------- ImageDataset

def counting_dataset(n=10):
    """Image i is filled with the value i, so a batch shows which images it holds."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).contiguous()
    return data.ImageDataset(images, data.one_hot(torch.arange(n) % 2, 2), ("even", "odd"), "count")


def batch_ids(x):
    return ((x[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def test_batch_maps_bytes_to_model_space():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 1, 2, 2).contiguous()
    ds = data.ImageDataset(images, torch.zeros(2, 0))
    x, c = ds.batch([0, 1])
    assert x.dtype == torch.float32 and c.shape == (2, 0)
    assert torch.all(x[0] == -1) and torch.all(x[1] == 1)
    assert (ds.image_size, ds.channels, ds.context_dim, len(ds)) == (2, 1, 0, 2)


def test_batch_subset_and_getitem():
    ds = counting_dataset()
    x, c = ds.batch(torch.tensor([3, 4]))
    assert x.shape == (2, 3, 4, 4) and batch_ids(x) == [3, 4]
    assert c.tolist() == [[0, 1], [1, 0]]
    sub = ds.subset([7, 2])
    assert len(sub) == 2 and batch_ids(sub.batch(slice(None))[0]) == [7, 2] and sub.label_names == ds.label_names
    assert ds[5][0].shape == (3, 4, 4) and ds[5][1].tolist() == [0, 1]
    assert "count" in repr(ds) and "10 images" in repr(ds)


@pytest.mark.parametrize("n", [1, 7, 16, 1000])
def test_drawn_labels_follow_the_class_mix_exactly(n):
    labels = data.draw_labels(sprites.CLASS_SHARES, n, seed=3)
    assert labels.shape == (n, 5) and (labels.sum(1) == 1).all()
    counts = labels.sum(0)
    assert counts.tolist() == [float(k) for k in sprites.class_counts(n)]
    assert torch.equal(labels, data.draw_labels(sprites.CLASS_SHARES, n, seed=3))
    if n >= 16:
        assert not torch.equal(labels, data.draw_labels(sprites.CLASS_SHARES, n, seed=4))


@pytest.mark.parametrize("shares,n,match", [([0.5, 0.6], 4, "summing to 1"), ([1.5, -0.5], 4, "non-negative"),
                                             ([], 4, "one non-negative share per label"),
                                             ([0.5, 0.5], 0, "n=0 must be a positive number")])
def test_bad_label_draws(shares, n, match):
    with pytest.raises(ValueError, match=match):
        data.draw_labels(shares, n)


def test_sample_batches_reproducible_epoch_wise_and_resumable():
    ds = counting_dataset()

    def walk(seed, start=0, n=4):
        batches = ds.sample_batches(5, seed=seed, start_step=start)
        return [batch_ids(next(batches)[0]) for _ in range(n)]

    assert walk(0) == walk(0)
    assert walk(0) != walk(1)
    ids = walk(0)
    assert all(len(b) == 5 for b in ids)
    assert sorted(ids[0] + ids[1]) == list(range(10))  # each image once per epoch
    assert ids[0] != ids[2]  # a new permutation each epoch
    assert walk(0, start=3, n=1) == ids[3:4]  # resuming at step 3 gives batch 3
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        next(ds.sample_batches(0))
    with pytest.raises(ValueError, match="fewer than one batch"):
        next(ds.sample_batches(11))


def test_dataset_rejects_inconsistent_parts():
    with pytest.raises(ValueError, match=r"context must be \(2, 1\)"):
        data.ImageDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, 1), ("a",))
    with pytest.raises(ValueError, match="images must be uint8"):
        data.ImageDataset(torch.zeros(2, 3, 4, 4), torch.zeros(2, 0))


def test_convert_resizes_and_changes_channels():
    ds = counting_dataset()
    big = ds.convert(image_size=8, channels=1)
    assert big.images.shape == (10, 1, 8, 8) and torch.equal(big.images[:, 0, 0, 0], ds.images[:, 0, 0, 0])
    assert ds.convert() is ds
    assert big.convert(channels=3).images.shape == (10, 3, 8, 8)


# ----------------------------------------------------------------------------- procedural sprites

@pytest.fixture(scope="module")
def sprite_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sprites")
    sprites.write_sprite_dataset(d, n_train=200, n_test=50, progress=False)
    return d


@pytest.fixture
def sprite_copy(sprite_dir, tmp_path):
    return shutil.copytree(sprite_dir, tmp_path / "data")


def test_load_sprites(sprite_dir):
    ds = data.load_sprites(sprite_dir)
    assert ds.images.shape == (200, 3, 16, 16) and ds.images.dtype == torch.uint8
    assert ds.context.shape == (200, 5) and ds.context.dtype == torch.float32
    assert torch.all(ds.context.sum(1) == 1)
    raw = np.load(sprite_dir / "sprites_train_images.npy")
    assert torch.equal(ds.images.permute(0, 2, 3, 1), torch.from_numpy(raw))
    assert ds.label_names == sprites.LABEL_NAMES and ds.name == "sprites"
    assert ds.digest == sprites.dataset_digest(sprite_dir)
    assert set(ds.attributes) == {"template", "palette"} and len(ds.attributes["palette"]) == 200
    test = data.load_sprites(sprite_dir, split="test", verify=True)
    assert len(test) == 50 and test.name == "sprites-test"


def test_sprites_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"sprites_train_images.npy.*not found: run `make data`"):
        data.load_sprites(tmp_path)
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        data.load_sprites(tmp_path, split="valid")


def test_sprites_truncated(sprite_copy):
    path = sprite_copy / "sprites_train_images.npy"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ValueError, match=r"images.npy is corrupt or truncated.*delete it and run `make data`"):
        data.load_sprites(sprite_copy)


def test_sprites_label_count_mismatch(sprite_copy):
    np.save(sprite_copy / "sprites_train_labels.npy", np.eye(5, dtype=np.uint8)[np.zeros(199, int)])
    with pytest.raises(ValueError, match=r"sprites_train_labels.npy holds .*expected shape \(200, 5\)"):
        data.load_sprites(sprite_copy)
    with pytest.raises(ValueError, match=r"run `python -m course_lib data` \(make data\)"):
        data.load_sprites(sprite_copy, verify=True)


# ----------------------------------------------------------------------------- original course files

def write_original(d, images, labels):
    np.save(d / data.ORIGINAL_FILES[0], images)
    np.save(d / data.ORIGINAL_FILES[1], labels)


@pytest.fixture
def original(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    labels = np.eye(5)[rng.integers(0, 5, 40)]
    write_original(tmp_path, images, labels)
    return images, labels


def test_load_original(tmp_path, original):
    images, labels = original
    ds = data.load_original_sprites(tmp_path)
    assert torch.equal(ds.images.permute(0, 2, 3, 1), torch.from_numpy(images))
    assert torch.equal(ds.context, torch.from_numpy(labels).float()) and ds.label_names == sprites.LABEL_NAMES
    assert len(ds.digest) == 64 and ds.digest == data.load_original_sprites(tmp_path).digest
    write_original(tmp_path, images / 255.0, labels)  # floats in [0, 1] are accepted
    assert torch.equal(data.load_original_sprites(tmp_path).images, ds.images)


def test_original_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"copy the original course's sprites_1788_16x16.npy .*"
                                                r"sprite_labels_nc_1788_16x16.npy"):
        data.load_original_sprites(tmp_path)


@pytest.mark.parametrize("images_shape, labels_shape, match", [
    ((40, 16, 16), (40, 5), r"sprites_1788_16x16.npy holds .*\(40, 16, 16\), expected shape \(N, 16, 16, 3\)"),
    ((40, 16, 16, 3), (40, 4), r"sprite_labels_nc_1788_16x16.npy holds .*expected shape \(40, 5\)"),
    ((40, 16, 16, 3), (39, 5), r"\(39, 5\), expected shape \(40, 5\)"),
])
def test_original_wrong_shape(tmp_path, images_shape, labels_shape, match):
    write_original(tmp_path, np.zeros(images_shape, np.uint8), np.zeros(labels_shape))
    with pytest.raises(ValueError, match=match):
        data.load_original_sprites(tmp_path)


def test_original_truncated_or_bad_pixels(tmp_path, original):
    path = tmp_path / data.ORIGINAL_FILES[0]
    np.save(path, np.full((40, 16, 16, 3), 300.0))
    with pytest.raises(ValueError, match="expected uint8 0..255, or floats in"):
        data.load_original_sprites(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"sprites_1788_16x16.npy is corrupt or truncated.*replace it"):
        data.load_original_sprites(tmp_path)


# ----------------------------------------------------------------------------- image folders

def framed(w, h, centre=RED, border=BLUE):
    """A w x h image: `centre` colour in the central square of side min(w, h), `border` outside it."""
    a = np.empty((h, w, 3), np.uint8)
    a[:] = border
    s = min(w, h)
    a[(h - s) // 2:(h + s) // 2, (w - s) // 2:(w + s) // 2] = centre
    return Image.fromarray(a)


def save(img, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


@pytest.fixture
def mixed_images(tmp_path):
    root = tmp_path / "images"
    save(framed(64, 32), root / "wide.png")
    save(framed(20, 50), root / "tall.JPG", quality=95)
    save(framed(16, 16).convert("L"), root / "grey.png")
    save(framed(33, 17).convert("RGBA"), root / "alpha.png")
    save(framed(24, 40).convert("P"), root / "palette.png")
    save(framed(100, 60), root / "big.jpeg", quality=95)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"ignored")  # hidden files are skipped
    return root


@pytest.mark.parametrize("image_size", [16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_folder_unlabelled(mixed_images, image_size, channels):
    ds = data.load_image_folder(mixed_images, image_size, channels)
    assert ds.images.shape == (6, channels, image_size, image_size) and ds.images.dtype == torch.uint8
    assert ds.context.shape == (6, 0) and ds.label_names == ()
    x, _ = ds.batch(range(6))
    assert x.min() >= -1 and x.max() <= 1
    # the centre crop keeps the red centre (blue borders gone), but for a little filter bleed at the edges
    grey = Image.new("RGB", (1, 1), RED).convert("L").getpixel((0, 0))
    expected = torch.tensor(RED if channels == 3 else (grey,)).view(1, channels, 1, 1).repeat(6, 1, 1, 1)
    expected[2] = grey  # grey.png, third in sorted order, is the red image saved as greyscale
    assert ((ds.images - expected).abs().amax(1) < 60).float().mean() > 0.9


def test_image_folder_classes_and_digest(tmp_path):
    root = tmp_path / "classes"
    save(framed(20, 20, RED, RED), root / "cats" / "a.png")
    save(framed(30, 20, RED, RED), root / "cats" / "deeper" / "b.jpg")
    save(framed(20, 30, BLUE, BLUE), root / "dogs" / "c.PNG")
    ds = data.load_image_folder(root, 16)
    assert ds.label_names == ("cats", "dogs") and ds.context.tolist() == [[1, 0], [1, 0], [0, 1]]
    red = ds.images[:, 0].float().mean((1, 2))  # the cats are red, the dog blue
    assert red[:2].min() > 245 and red[2] < 10
    assert ds.digest == data.load_image_folder(root, 16).digest
    save(framed(20, 20, BLUE, BLUE), root / "cats" / "a.png")
    assert ds.digest != data.load_image_folder(root, 16).digest


def test_image_folder_errors(tmp_path, mixed_images):
    with pytest.raises(FileNotFoundError, match=re.escape(f"image folder {tmp_path / 'nowhere'} not found")):
        data.load_image_folder(tmp_path / "nowhere", 16)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"no images found in .*empty: expected files ending in .png, .jpg, .jpeg"):
        data.load_image_folder(tmp_path / "empty", 16)
    save(framed(8, 8), mixed_images / "cls" / "x.png")
    with pytest.raises(ValueError, match="mixes images at its top level"):
        data.load_image_folder(mixed_images, 16)


def test_image_folder_corrupt_file(tmp_path):
    root = tmp_path / "bad"
    save(framed(8, 8), root / "good.png")
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"cannot read image .*broken.png.*delete or replace this file"):
        data.load_image_folder(root, 16)
    (root / "broken.png").unlink()
    jpeg = save(framed(64, 64), root / "cut.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(ValueError, match=r"cannot read image .*cut.jpg"):
        data.load_image_folder(root, 16)


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": 0}, "image_size must be a positive integer"),
    ({"image_size": 16.5}, "image_size must be a positive integer"),
    ({"image_size": "16"}, "image_size must be a positive integer"),
    ({"image_size": 16, "channels": 2}, r"channels must be 1 \(greyscale\) or 3 \(RGB\)"),
    ({"image_size": 16, "channels": 4}, "channels must be 1"),
])
def test_image_folder_bad_arguments(mixed_images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_image_folder(mixed_images, **kwargs)


# ----------------------------------------------------------------------------- MNIST

def write_idx(path, array):
    """An uncompressed idx file: magic 0x0000 08 ndim (uint8 data), big-endian dims, the bytes."""
    path.write_bytes(struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape) + array.tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    digits = {}
    for prefix, n in (("train", 6), ("t10k", 3)):
        images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        digits[prefix] = images, labels
    return tmp_path, digits


def test_load_mnist(mnist_root):
    root, digits = mnist_root
    ds = data.load_mnist(root)
    images, labels = digits["train"]
    assert ds.images.shape == (6, 1, 28, 28) and torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert ds.context.argmax(1).tolist() == labels.tolist() and ds.context.shape == (6, 10)
    assert ds.label_names == tuple("0123456789") and len(ds.digest) == 64
    test = data.load_mnist(root, image_size=14, train=False)
    assert test.images.shape == (3, 1, 14, 14) and test.context.argmax(1).tolist() == [0, 1, 2]
    assert data.load_dataset("mnist", root, image_size=16, channels=3).images.shape == (6, 3, 16, 16)


def test_mnist_missing_or_truncated(tmp_path, mnist_root):
    with pytest.raises(FileNotFoundError, match=r"MNIST not found.*download=True.*train-images-idx3-ubyte"):
        data.load_mnist(tmp_path / "elsewhere", download=False)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cannot read the MNIST files .*delete them and download MNIST again"):
        data.load_mnist(tmp_path)


# ----------------------------------------------------------------------------- load_dataset

def test_load_dataset_dispatch(sprite_dir, tmp_path, original, mixed_images):
    assert data.load_dataset("sprites", sprite_dir).images.shape == (200, 3, 16, 16)
    assert data.load_dataset("sprites", sprite_dir, split="test", image_size=32, channels=1).images.shape \
        == (50, 1, 32, 32)
    assert len(data.load_dataset("original", tmp_path)) == 40
    assert data.load_dataset(str(mixed_images), image_size=16).images.shape == (6, 3, 16, 16)
    assert data.load_dataset(f"folder:{mixed_images}", image_size=8, channels=1).images.shape == (6, 1, 8, 8)


@pytest.mark.parametrize("name, kwargs, error, match", [
    ("imagenet", {}, ValueError, r"unknown dataset 'imagenet': choose 'sprites', 'original', 'mnist', or an image"),
    ("original", {"split": "test"}, ValueError, "no test split"),
    ("folder:somewhere", {}, ValueError, "needs an image_size"),
    ("folder:somewhere", {"image_size": 16}, FileNotFoundError, "image folder somewhere not found"),
])
def test_load_dataset_errors(tmp_path, name, kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load_dataset(name, tmp_path, **kwargs)


def test_mean_image_is_the_mean_in_model_space():
    ds = counting_dataset()
    x, _ = ds.batch(slice(None))
    mu = ds.mean_image()
    assert mu.dtype == torch.float32 and mu.shape == (3, 4, 4)
    torch.testing.assert_close(mu, x.mean(0))
