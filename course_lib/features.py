"""The sprite feature network: the image embedding behind the evaluation's FID and class accuracy.

FID compares images through an embedding. The standard one, Inception-v3's ImageNet features, cannot
be downloaded here, so the course trains its own small CNN (`FeatureNet`) on the sprites' fine-grained
attributes: three heads predict the class label, the template and the palette (as many of each as
`sprites` defines) from one shared layer, the penultimate one, whose activations f(x) are the features.
A net that must tell every template and palette apart has features that notice a wrong shape or colour.

The course's net lives in weights/features.pt (`save_feature_net`, `load_feature_net`), rebuilt by
`python -m course_lib train`. Inception-v3 features (`inception_feature_fn`) are offered only when
torchvision's weights already sit in the torch hub cache; nothing is ever downloaded.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import sprites
from .checkpoints import load_weights, read_checkpoint_file, save_payload
from .config import _Serialisable
from .data import ImageDataset, load_sprites
from .device import module_device
from .images import as_model_space

FEATURES_FORMAT = "course_lib.features/1"
IMAGE_SHAPE = (3, sprites.IMAGE_SIZE, sprites.IMAGE_SIZE)
HEADS = ("label", "template", "palette")
INCEPTION_GLOB = "inception_v3_google-*.pth"  # torchvision's IMAGENET1K_V1 weights in the hub cache
INCEPTION_SKIPPED = "Inception FID skipped: weights not present locally"
REBUILD = "rebuild weights/features.pt with `python -m course_lib train` (make train)"


@dataclass(frozen=True)
class FeatureNetConfig(_Serialisable):
    """widths: channels of the conv stages (two 3x3 conv + BatchNorm + ReLU each, 2x2 max-pool between
    stages: 16 -> 8 -> 4 px); feature_dim: the feature layer; the heads' sizes come from `sprites`."""

    widths: tuple[int, ...] = (32, 64, 128)
    feature_dim: int = 128
    n_labels: int = len(sprites.LABEL_NAMES)
    n_templates: int = len(sprites.TEMPLATES)
    n_palettes: int = len(sprites.PALETTES)


class Heads(NamedTuple):
    label: torch.Tensor
    template: torch.Tensor
    palette: torch.Tensor


class FeatureNet(nn.Module):
    """16x16 RGB sprites in model space [-1, 1] -> features (B, feature_dim) -> three heads' logits."""

    def __init__(self, config: FeatureNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or FeatureNetConfig()
        layers, c_in = [], IMAGE_SHAPE[0]
        for i, w in enumerate(cfg.widths):
            for c in (c_in, w):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            layers.append(nn.MaxPool2d(2) if i < len(cfg.widths) - 1 else nn.AdaptiveAvgPool2d(1))
            c_in = w
        self.trunk = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in, cfg.feature_dim), nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Linear(cfg.feature_dim, k) for k in (cfg.n_labels, cfg.n_templates,
                                                                           cfg.n_palettes))
        self.meta: dict = {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer, (B, feature_dim), of images x (B, 3, 16, 16) in model space."""
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE or not x.is_floating_point():
            raise ValueError(f"the feature net expects float images of shape (batch, 3, 16, 16) in model space "
                             f"[-1, 1], got {x.dtype} {tuple(x.shape)}")
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> Heads:
        f = self.features(x)
        return Heads(*(head(f) for head in self.heads))




# ----------------------------------------------------------------------------- training

def _targets(data: ImageDataset, idx: torch.Tensor, device) -> list[torch.Tensor]:
    return [t.index_select(0, idx).to(device) for t in
            (data.context.argmax(1), data.attributes["template"], data.attributes["palette"])]


def _check_sprites(data: ImageDataset) -> None:
    missing = {"template", "palette"} - set(data.attributes)
    if missing or data.context_dim != len(sprites.LABEL_NAMES) or (data.channels, data.image_size) != IMAGE_SHAPE[:2]:
        raise ValueError(f"the feature net learns the procedural sprites (3x16x16, {len(sprites.LABEL_NAMES)} labels, "
                         f"template and palette attributes); {data!r} does not fit: use load_sprites()")


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with `threads` CPU threads (None: unchanged), then restore torch's setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_feature_net(train: ImageDataset, steps: int = 700, batch_size: int = 256, seed: int = 0,
                      progress: bool = True, device="cpu", config: FeatureNetConfig | None = None,
                      lr: float = 3e-3, threads: int | None = 1) -> FeatureNet:
    """Cross-entropy on the three heads (summed), AdamW with a one-cycle schedule (warm-up, cosine decay).
    No augmentation: the sprites already come mirrored and shifted, and the net's job is to tell clean
    sprites apart from flawed ones, not to be invariant to flaws. threads: CPU threads while training
    (None: torch's setting). One thread is the predictable choice on a shared CPU: with more, every small
    op waits for the slowest thread, and a thread whose core another process holds stalls them all."""
    _check_sprites(train)
    torch.manual_seed(seed)
    net = FeatureNet(config).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    per_epoch, order = max(len(train) // batch_size, 1), None
    with torch_threads(threads):
        for step in tqdm(range(steps), desc="feature net", disable=not progress, unit="step"):
            if step % per_epoch == 0:
                order = torch.randperm(len(train), generator=g)
            idx = order[(step % per_epoch) * batch_size:][:batch_size]
            x, _ = train.batch(idx, device)
            loss = sum(F.cross_entropy(out, t) for out, t in zip(net(x), _targets(train, idx, device)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.no_grad()
def head_accuracy(net: FeatureNet, data: ImageDataset, batch_size: int = 1000) -> dict[str, float]:
    """Share of `data` each head gets right: {"label": ..., "template": ..., "palette": ...}."""
    _check_sprites(data)
    device, correct = module_device(net), torch.zeros(len(HEADS))
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)))
        x, _ = data.batch(idx, device)
        for k, (out, t) in enumerate(zip(net.eval()(x), _targets(data, idx, device))):
            correct[k] += (out.argmax(1) == t).sum().item()
    return {name: c.item() / len(data) for name, c in zip(HEADS, correct)}


# ----------------------------------------------------------------------------- the file

def save_feature_net(path, net: FeatureNet, meta: dict | None = None) -> Path:
    """torch.save of plain data (format, config, meta, float32 state_dict), written atomically."""
    return save_payload({"format": FEATURES_FORMAT, "config": net.config.to_dict(), "meta": meta or {},
                         "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}, path)


def load_feature_net(path, device="cpu") -> FeatureNet:
    """The FeatureNet stored in `path` (eval mode; its metadata in `.meta`); loading never runs pickled code."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"feature net {path} not found: {REBUILD}")
    payload = read_checkpoint_file(path, fmt=FEATURES_FORMAT)
    try:
        net = FeatureNet(FeatureNetConfig.from_dict(payload["config"]))
        load_weights(net, payload["state_dict"], source=str(path))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} holds an invalid feature net ({e}): {REBUILD}") from None
    net.meta = payload.get("meta", {})
    return net.to(device).eval()


def build_feature_net(data_dir="data", out="weights/features.pt", steps: int = 700, batch_size: int = 256,
                      seed: int = 0, progress: bool = True, device="cpu") -> FeatureNet:
    """Train the course's feature net on the training split, measure its heads on the test split, save it
    with that accuracy, its training time and the dataset's digest in its metadata."""
    train, test = load_sprites(data_dir, "train"), load_sprites(data_dir, "test")
    start, cpu = time.perf_counter(), time.process_time()
    net = train_feature_net(train, steps, batch_size, seed, progress, device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    meta = {"steps": steps, "batch_size": batch_size, "seed": seed, "train_seconds": round(seconds, 1),
            "train_cpu_seconds": round(cpu, 1),
            "dataset_digest": train.digest, "test_accuracy": head_accuracy(net, test)}
    save_feature_net(out, net, meta)
    net.meta = meta
    return net


# ----------------------------------------------------------------------------- features

@torch.no_grad()
def extract_features(net: FeatureNet, images: torch.Tensor, batch_size: int = 1000,
                     progress: bool = False) -> torch.Tensor:
    """net.features of images (N, 3, 16, 16), uint8 pixels or model space, in batches -> float32 (N, D) on the CPU."""
    device, net = module_device(net), net.eval()
    return torch.cat([net.features(as_model_space(images[i:i + batch_size]).to(device)).float().cpu()
                      for i in tqdm(range(0, len(images), batch_size), desc="features", disable=not progress,
                                    leave=False)])


def inception_feature_fn(device=None):
    """torchvision's Inception-v3 pool features (2048) as a function of images (uint8 pixels or model
    space), or None when its weights file is not already in torch.hub.get_dir()/checkpoints/ (this never
    downloads anything; pytorch-fid's pt_inception weights need that package's own network, so they are
    not used). Images are resized bilinearly to the 299 x 299 the network expects."""
    from torchvision.models import inception_v3

    files = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob(INCEPTION_GLOB))
    if not files:
        return None
    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    net.load_state_dict(torch.load(files[-1], map_location="cpu", weights_only=True))
    net.fc = nn.Identity()
    net = net.to(device or "cpu").eval()

    @torch.no_grad()
    def features(x: torch.Tensor) -> torch.Tensor:  # the Google weights expect [-1, 1], i.e. model space
        x = F.interpolate(as_model_space(x).to(module_device(net)), size=(299, 299), mode="bilinear")
        return net(x).float().cpu()
    return features
