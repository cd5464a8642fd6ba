"""evaluation: how good are the generated sprites? FID with a sprite feature network, class accuracy, memorisation.

Feature network. FID needs an image embedding; Inception-v3 weights cannot be downloaded here, so the
course trains its own small CNN (`FeatureNet`) on the sprites' fine-grained attributes: three heads
predict the class label (5), the template (83) and the palette (16) from one shared feature layer, the
penultimate layer, whose activations f(x) are the features.

Frechet distance. Fit a Gaussian to each feature set (mean mu, covariance S, n - 1 normalisation):

    FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

computed in float64 without scipy: Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2) = sum_i sqrt(lambda_i),
the lambda_i being the eigenvalues of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (tiny negative ones,
rounding errors, are clamped to 0). FID is biased upwards at small n, so only numbers computed at the
same sample count n are comparable: the report gives the data-vs-data floor, FID(test half B, test half A),
at that same n, and every model's FID against the same reference half A.

Class accuracy. The share of samples generated with label y whose label-head prediction is y. Labelled
models are sampled with the labels of test half B, i.e. in the data's class mix: FID sees the class mix
too (real sprites in equal class shares score 57 against the data's mix, 18x the floor).

Memorisation. d(x) = min_j ||x - x_j||_2, the distance (model space, x = pixel / 127.5 - 1, 768 values) from
a sample to its nearest training sprite. A sample is a near-copy when d(x) < tau, with

    tau = 0.5 * median_i min_{j != i} ||x_i - x_j||_2     (over 2,500 training sprites x_i, seeded)

half the typical distance between a training sprite and its nearest *other* training sprite. On the course
data tau = 2.5: less than one pixel changed from black to white (sqrt(3 * 2^2) = 3.5); sprites that close
share their template (99%) and nearly always their palette and geometry, and a copy spoilt by per-value
noise of sigma = 0.05 (6 grey levels) is still caught every time (sigma = 0.1: 62% of the time). The
procedural set itself repeats such near-twins (same template, palette and pose, only the colour jitter
differs), so fresh held-out sprites are also measured: their share (about 30% on the course data) is the
baseline. A model that generalises like fresh data sits near it; memorisation shows as a share well above
it (a pure copier scores 100%).

`run_evaluation` computes all of this for a set of checkpoints and writes a Markdown report and a JSON
file with the same numbers. Standard Inception FID is added only when torchvision's Inception-v3 weights
already sit in the torch hub cache; nothing is ever downloaded.
"""
from __future__ import annotations

import json
import math
import platform
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
from .checkpoints import load_checkpoint, load_weights, read_checkpoint_file
from .config import DEFAULT_AUTOGUIDANCE, _Serialisable
from .data import ImageDataset, load_sprites
from .files import atomic_write
from .images import to_model_space
from .samplers import autocast_bf16, make_sampler, pick_device, sample

FEATURES_FORMAT = "course_lib.features/1"
IMAGE_SHAPE = (3, sprites.IMAGE_SIZE, sprites.IMAGE_SIZE)
HEADS = ("label", "template", "palette")
NEAR_COPY_FACTOR = 0.5
INCEPTION_GLOB = "inception_v3_google-*.pth"  # torchvision's IMAGENET1K_V1 weights in the hub cache
INCEPTION_SKIPPED = "Inception FID skipped: weights not present locally"


# ----------------------------------------------------------------------------- feature network

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


def _targets(data: ImageDataset, idx: torch.Tensor, device) -> list[torch.Tensor]:
    return [t.index_select(0, idx).to(device) for t in
            (data.context.argmax(1), data.attributes["template"], data.attributes["palette"])]


def _check_sprites(data: ImageDataset) -> None:
    missing = {"template", "palette"} - set(data.attributes)
    if missing or data.context_dim != len(sprites.LABEL_NAMES) or (data.channels, data.image_size) != IMAGE_SHAPE[:2]:
        raise ValueError(f"the feature net learns the procedural sprites (3x16x16, {len(sprites.LABEL_NAMES)} labels, "
                         f"template and palette attributes); {data!r} does not fit: use load_sprites()")


def train_feature_net(train: ImageDataset, steps: int = 700, batch_size: int = 256, seed: int = 0,
                      progress: bool = True, device="cpu", config: FeatureNetConfig | None = None,
                      lr: float = 3e-3, threads: int | None = 1) -> FeatureNet:
    """Cross-entropy on the three heads (summed), AdamW with a one-cycle schedule (warm-up, cosine decay).
    No augmentation: the sprites already come mirrored and shifted, and the net's job is to tell clean
    sprites apart from flawed ones, not to be invariant to flaws. threads: CPU threads while training
    (None: torch's setting). One thread is the predictable choice on a shared 2-core CPU: 0.22 s/step quiet,
    0.28 s/step busy, against 0.14 s/step quiet but 1.4 s/step busy with two (every small op waits for the
    thread whose core another process holds)."""
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


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with `threads` CPU threads (None: unchanged), then restore torch's setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.no_grad()
def head_accuracy(net: FeatureNet, data: ImageDataset, batch_size: int = 1000) -> dict[str, float]:
    """Share of `data` each head gets right: {"label": ..., "template": ..., "palette": ...}."""
    _check_sprites(data)
    device, correct = _device_of(net), torch.zeros(len(HEADS))
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)))
        x, _ = data.batch(idx, device)
        for k, (out, t) in enumerate(zip(net.eval()(x), _targets(data, idx, device))):
            correct[k] += (out.argmax(1) == t).sum().item()
    return {name: c.item() / len(data) for name, c in zip(HEADS, correct)}


def save_feature_net(path, net: FeatureNet, meta: dict | None = None) -> Path:
    """torch.save of plain data (format, config, meta, float32 state_dict), written atomically."""
    payload = {"format": FEATURES_FORMAT, "config": net.config.to_dict(), "meta": meta or {},
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_feature_net(path, device="cpu") -> FeatureNet:
    """The FeatureNet stored in `path` (eval mode; its metadata in `.meta`); loading never runs pickled code."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"feature net {path} not found: train it with evaluation.build_feature_net() "
                                f"(about 3 minutes on a CPU)")
    payload = read_checkpoint_file(path, fmt=FEATURES_FORMAT)
    try:
        net = FeatureNet(FeatureNetConfig.from_dict(payload["config"]))
        load_weights(net, payload["state_dict"], source=str(path))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} holds an invalid feature net ({e}); retrain it with build_feature_net()") from None
    net.meta = payload.get("meta", {})
    return net.to(device).eval()


def build_feature_net(data_dir="data", out="weights/features.pt", steps: int = 700, batch_size: int = 256,
                      seed: int = 0, progress: bool = True, device="cpu") -> FeatureNet:
    """Train the course's feature net on the training split, measure its heads on the test split, save it."""
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


# ----------------------------------------------------------------------------- FID

def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Model-space images snapped to the 8-bit pixels they would be saved as (clipped to [-1, 1]), so that
    generated and real sprites reach the feature net through the same path."""
    return to_model_space(((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))


def _as_model_space(images: torch.Tensor) -> torch.Tensor:
    return to_model_space(images) if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def extract_features(net: FeatureNet, images: torch.Tensor, batch_size: int = 1000,
                     progress: bool = False) -> torch.Tensor:
    """net.features of images (N, 3, 16, 16), uint8 pixels or model space, in batches -> float32 (N, D) on the CPU."""
    device, net = _device_of(net), net.eval()
    return torch.cat([net.features(_as_model_space(images[i:i + batch_size]).to(device)).float().cpu()
                      for i in tqdm(range(0, len(images), batch_size), desc="features", disable=not progress,
                                    leave=False)])


def _sqrtm_psd(s: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians, in float64."""
    mu1, mu2, s1, s2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, mu2, sigma1, sigma2))
    d = mu1.shape[0] if mu1.dim() == 1 else -1
    if d < 1 or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"need means (D,) and covariances (D, D) of one size D, got {tuple(mu1.shape)}, "
                         f"{tuple(s1.shape)}, {tuple(mu2.shape)}, {tuple(s2.shape)}")
    r1 = _sqrtm_psd(s1)
    m = r1 @ s2 @ r1
    tr_covmean = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr_covmean)


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D), normalised by n - 1, of features (n, D), in float64."""
    f = torch.as_tensor(features, dtype=torch.float64)
    if f.dim() != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors as (n, D), got shape {tuple(f.shape)}")
    return f.mean(0), torch.atleast_2d(torch.cov(f.T))


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Frechet distance between the Gaussians fitted to two feature sets (n_a, D) and (n_b, D)."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


# ----------------------------------------------------------------------------- class accuracy

@torch.no_grad()
def class_accuracy(net: FeatureNet, images: torch.Tensor, requested_labels, batch_size: int = 1000) -> dict[str, float]:
    """Share of images whose label-head prediction equals the label they were generated with.
    requested_labels: ints (N,) or one-hot rows (N, 5). Returns {label name: share} for every label that
    was requested, plus "all" over every image."""
    labels = torch.as_tensor(requested_labels)
    labels = labels.argmax(1) if labels.dim() == 2 else labels.long()
    if labels.shape != (len(images),):
        raise ValueError(f"need one requested label per image: {len(images)} images, labels {tuple(labels.shape)}")
    device, net = _device_of(net), net.eval()
    pred = torch.cat([net(_as_model_space(images[i:i + batch_size]).to(device)).label.argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])
    hit = (pred == labels).double()
    out = {name: hit[labels == k].mean().item() for k, name in enumerate(sprites.LABEL_NAMES) if (labels == k).any()}
    return {**out, "all": hit.mean().item()}


# ----------------------------------------------------------------------------- memorisation

@torch.no_grad()
def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, exclude: torch.Tensor | None = None,
                      chunk: int = 500, ref_chunk: int = 20000, progress: bool = False) -> torch.Tensor:
    """min_j ||q - r_j||_2 in model space for every query (uint8 pixels or model space, same image shape),
    chunked so 2,500 x 60,000 sprites fit in memory. exclude: for each query, one reference index to skip
    (the query itself when both come from one set)."""
    if queries.shape[1:] != reference.shape[1:]:
        raise ValueError(f"queries {tuple(queries.shape)} and reference {tuple(reference.shape)} differ in image shape")
    best = torch.full((len(queries),), math.inf)
    for i in tqdm(range(0, len(queries), chunk), desc="nearest training sprite", disable=not progress, leave=False):
        q = _as_model_space(queries[i:i + chunk]).flatten(1)
        for j in range(0, len(reference), ref_chunk):
            d = torch.cdist(q, _as_model_space(reference[j:j + ref_chunk]).flatten(1))
            if exclude is not None:
                e = exclude[i:i + chunk] - j
                inside = (e >= 0) & (e < d.shape[1])
                d[inside.nonzero().squeeze(1), e[inside]] = math.inf
            best[i:i + chunk] = torch.minimum(best[i:i + chunk], d.min(1).values)
    return best


def near_copy_threshold(train_images: torch.Tensor, n: int = 2500, factor: float = NEAR_COPY_FACTOR, seed: int = 0,
                        progress: bool = False) -> float:
    """tau = factor * median distance from a training sprite to its nearest *other* training sprite,
    estimated on n training sprites drawn with `seed` (see the module docstring)."""
    idx = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed))[:n]
    d = nearest_distances(train_images[idx], train_images, exclude=idx, progress=progress)
    return factor * d.median().item()


def near_copy_share(samples: torch.Tensor, train_images: torch.Tensor, threshold: float,
                    progress: bool = False) -> float:
    """Share of samples whose nearest training sprite (L2, model space) is closer than `threshold`."""
    return (nearest_distances(samples, train_images, progress=progress) < threshold).double().mean().item()


# ----------------------------------------------------------------------------- Inception (only when present locally)

def inception_feature_fn(device=None):
    """torchvision's Inception-v3 pool features (2048) as a function of model-space images, or None when
    its weights file is not already in torch.hub.get_dir()/checkpoints/ (this never downloads anything;
    pytorch-fid's pt_inception weights need that package's own network, so they are not used)."""
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
        x = F.interpolate(_as_model_space(x).to(next(net.parameters()).device), size=(299, 299), mode="bilinear")
        return net(x).float().cpu()
    return features


# ----------------------------------------------------------------------------- the report

def generate(model: nn.Module, sampler, n: int, context: torch.Tensor | None = None, guidance: float = 1.0,
             seed: int = 0, batch_size: int = 500, bf16: bool = False, progress: bool = False,
             desc: str = "sampling", guide: nn.Module | None = None) -> torch.Tensor:
    """n samples, quantised to 8-bit pixels (model space), in batches; batch b uses seed * 1_000_003 + b,
    so every sampler starts from the same x_T and a rerun reproduces the numbers."""
    device, out = _device_of(model), []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    for b, start in enumerate(tqdm(range(0, n, batch_size), desc=desc, disable=not progress, unit="batch")):
        ctx = None if context is None else context[start:start + batch_size]
        with autocast:
            x = sample(model, sampler, min(batch_size, n - start), context=ctx, guidance=guidance, guide=guide,
                       seed=seed * 1_000_003 + b, progress=progress).images
        out.append(quantize(x))
    return torch.cat(out)


def _runs(labelled: bool, guided: bool, ddim_steps, T: int) -> list[tuple[str, str, int | None]]:
    """(mode, method, steps): DDPM and DDIM with each step count <= T in the model's main mode (cond for
    label models), plus DDPM and DDIM 25 unconditionally (context zeros) for label models, and DDPM and
    DDIM 25 unconditionally with autoguidance for models that have a guide."""
    main = "cond" if labelled else "uncond"
    samplers = [("ddpm", None)] + [("ddim", k) for k in sorted(set(ddim_steps) | {min(25, T)}) if k <= T]
    extra_modes = (["uncond"] if labelled else []) + (["autoguided"] if guided else [])
    extra_samplers = [("ddpm", None), ("ddim", min(25, T))]
    return [(main, m, k) for m, k in samplers] + [(mode, m, k) for mode in extra_modes for m, k in extra_samplers]


def run_evaluation(weights: dict, feature_net_path, data_dir="data", n: int = 1000, seed: int = 0,
                   out="weights/EVALUATION.md", device=None, progress: bool = True, guidance: float = 2.0,
                   ddim_steps=(10, 25, 50, 100), batch_size: int = 500, precision: str = "auto",
                   guides: dict | None = None, autoguidance: float = DEFAULT_AUTOGUIDANCE) -> dict:
    """Evaluate checkpoints {name: path} at one sample count n and write `out` (Markdown) and EVALUATION.json
    beside it (atomically). Returns the JSON's dict. See the module docstring for the measures.

    guidance: classifier-free guidance of the labelled samples. guides: {name: path of a weaker snapshot}
    adds unconditional rows autoguided by it with scale `autoguidance` (`samplers.predict_eps`).
    precision: "auto" samples in bfloat16 autocast where the device has native bf16
    (`samplers.has_native_bf16`) and in float32 elsewhere; "bf16" or "fp32" force one. Measured with
    weights/context.pt on a CPU with AVX-512 BF16, n=1000, same seeds: bf16 samples about 2x faster;
    labelled DDIM 25 at guidance 2 scored 0.08 +- 0.14 above float32 (paired over 5 seeds; the seeds'
    own spread: sd 1.7) and, without guidance, -0.28 +- 0.49 (before `UNet.embed` kept float32).
    float32 reproduced the float32 report of an AVX2 CPU to 0.001. On a CPU without native bf16,
    bf16 is emulated and samples about 18x slower."""
    started = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2 (FID needs a covariance)")
    paths = {name: Path(p) for name, p in weights.items()}
    guides = {name: Path(p) for name, p in (guides or {}).items()}
    unknown = sorted(set(guides) - set(paths))
    if unknown:
        raise ValueError(f"guides given for {unknown}, which are not among the evaluated weights {sorted(paths)}")
    missing = [f"{name}: {p}" for name, p in [*paths.items(), *guides.items()] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoints not found ({'; '.join(missing)}): train them first or fix the paths")
    device = torch.device(device) if device is not None else pick_device()
    bf16 = autocast_bf16(device, precision)
    net = load_feature_net(feature_net_path, device)
    train, test = load_sprites(data_dir, "train"), load_sprites(data_dir, "test")
    if 2 * n > len(test):
        raise ValueError(f"n={n} needs two disjoint halves of the test split, but it has only {len(test)} sprites: "
                         f"use n <= {len(test) // 2}")
    times: dict[str, float] = {}
    inception = inception_feature_fn(device)
    extractors = {"fid": lambda x: extract_features(net, x)}
    if inception is not None:
        extractors["inception_fid"] = inception

    def tick(part: str, since: float) -> float:
        times[part] = round(time.perf_counter() - since, 1)
        return time.perf_counter()

    t = time.perf_counter()
    perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    ref, held = test.subset(perm[:n]), test.subset(perm[n:2 * n])
    train_n = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]]
    ref_feats = {key: f(ref.images) for key, f in extractors.items()}
    reference = {f"floor_{key}": fid(f(held.images), ref_feats[key]) for key, f in extractors.items()}
    reference["train_vs_test_fid"] = fid(extract_features(net, train_n), ref_feats["fid"])
    t = tick("reference FIDs", t)
    tau = near_copy_threshold(train.images, seed=seed, progress=progress)
    held_d = nearest_distances(held.images, train.images, progress=progress)
    memorisation = {"threshold": tau, "factor": NEAR_COPY_FACTOR, "test_share": (held_d < tau).double().mean().item(),
                    "test_median_distance": held_d.median().item()}
    t = tick("memorisation baseline", t)

    models = {}
    for name, path in paths.items():
        ckpt = load_checkpoint(path, device)
        cfg = ckpt.model.config
        if (cfg.channels, cfg.image_size) != IMAGE_SHAPE[:2]:
            raise ValueError(f"{path} generates {cfg.channels}x{cfg.image_size}x{cfg.image_size} images; the feature "
                             f"net evaluates 3x16x16 sprites only")
        labelled = cfg.context_dim == len(sprites.LABEL_NAMES)
        guide = load_checkpoint(guides[name], device).model if name in guides else None
        runs = []
        for mode, method, steps in _runs(labelled, guide is not None, ddim_steps, ckpt.schedule.T):
            t = time.perf_counter()
            sampler = make_sampler(ckpt.schedule, method, steps)
            cond, guided = mode == "cond", mode == "autoguided"
            w = guidance if cond else autoguidance if guided else 1.0
            label = f"{name} {mode} {method} {len(sampler.timesteps)}"
            x = generate(ckpt.model, sampler, n, held.context if cond else None, w, seed, batch_size, bf16, progress,
                         desc=label, guide=guide if guided else None)
            d = nearest_distances(x, train.images)
            run = {"mode": mode, "sampler": method, "steps": len(sampler.timesteps),
                   "guidance": w if cond or guided else None}
            if guided:
                run["guide"] = str(guides[name])
            run.update({key: fid(f(x), ref_feats[key]) for key, f in extractors.items()})
            share = (d < tau).double().mean().item()
            run.update(fid_ratio=run["fid"] / reference["floor_fid"], near_copy_share=share,
                       near_copy_excess=share - memorisation["test_share"], median_distance=d.median().item())
            if cond:
                run["class_accuracy"] = class_accuracy(net, x, held.context)
            run["seconds"] = round(time.perf_counter() - t, 1)
            times[label] = run["seconds"]
            runs.append(run)
        models[name] = {"path": str(path), "context_dim": cfg.context_dim, "T": ckpt.schedule.T,
                        "mean_image_start": ckpt.schedule.x0_mean is not None, "runs": runs}

    times["total"] = round(time.perf_counter() - started, 1)
    result = {"settings": {"n": n, "seed": seed, "guidance": guidance, "ddim_steps": list(ddim_steps),
                           "batch_size": batch_size, "bf16": bf16, "device": str(device), "data_dir": str(data_dir),
                           "dataset_digest": train.digest, "feature_net": str(feature_net_path),
                           "feature_net_meta": net.meta, "torch": torch.__version__,
                           "machine": platform.processor() or platform.machine()},
              "reference": reference, "memorisation": memorisation,
              "inception": "computed" if inception is not None else INCEPTION_SKIPPED,
              "models": models, "seconds": times}
    out = Path(out)
    with atomic_write(out) as tmp:
        tmp.write_text(markdown_report(result))
    with atomic_write(out.with_name("EVALUATION.json")) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def markdown_report(r: dict) -> str:
    """The Markdown page of a run_evaluation result."""
    s, ref, mem = r["settings"], r["reference"], r["memorisation"]
    inc = "floor_inception_fid" in ref
    start_mu = ", ".join(name for name, m in r["models"].items() if m.get("mean_image_start")) or "none"
    lines = [
        "# Evaluation of the course's weights", "",
        f"Generated by `course_lib.evaluation.run_evaluation`: n = {s['n']} samples per row, seed {s['seed']}, "
        f"guidance {s['guidance']} for labelled samples, batches of {s['batch_size']}, "
        f"{'bfloat16 autocast' if s['bf16'] else 'float32'} sampling on {s['device']}, torch {s['torch']}. "
        f"The same numbers are in EVALUATION.json.", "",
        "## Reference: real data against real data", "",
        "FID is biased upwards at small n, so every FID here uses n samples against the same n reference "
        "sprites (test half A, drawn with the seed): the floor compares the other n test sprites (half B) "
        "with half A, so a model whose samples were as good as fresh data would score about the floor. "
        "Against all test sprites the models' FIDs would drop but the floor could not (it needs two disjoint "
        "sets), and the ratios would flatter the models.", "",
        "| comparison | sprite-feature FID |" + (" Inception FID |" if inc else ""),
        "|---|---|" + ("---|" if inc else ""),
        f"| floor: test half B vs test half A | {ref['floor_fid']:.3f} |"
        + (f" {ref['floor_inception_fid']:.3f} |" if inc else ""),
        f"| {s['n']} training sprites vs test half A | {ref['train_vs_test_fid']:.3f} |" + (" |" if inc else ""), "",
        r["inception"] if not inc else "Inception FID: torchvision's Inception-v3 pool features, from the local "
                                       "weights file (never downloaded).", "",
        "## Models", "",
        "FID against test half A; x floor = FID / floor. Near-copies: share of samples whose nearest training "
        "sprite is closer than tau (see Memorisation); excess: that share minus the held-out sprites' share, in "
        "percentage points; nearest: median distance to the nearest training sprite. Sampling starts from "
        "x_T = sqrt(alpha_bar_T) mu + sqrt(1 - alpha_bar_T) z, with mu the training data's mean image, for "
        "the models whose checkpoint carries mu (`NoiseSchedule.x_T_from_noise`), and from z ~ N(0, I) "
        f"otherwise. Starting from the mean image: {start_mu}. Context none: context zeros; guided by a "
        "snapshot: autoguidance, eps = eps_guide + w (eps - eps_guide), the guide being an earlier snapshot of "
        "the same model (Karras et al. 2024).", "",
        "| model | context | sampler | steps | FID | x floor |" + (" Inception FID |" if inc else "")
        + " near-copies | excess | nearest | class accuracy | seconds |",
        "|---|---|---|---|---|---|" + ("---|" if inc else "") + "---|---|---|---|---|"]
    for name, m in r["models"].items():
        for run in m["runs"]:
            acc = run.get("class_accuracy", {}).get("all")
            context = {"cond": f"labels, w={run['guidance']}",
                       "autoguided": f"none, guided by {Path(run.get('guide', '')).stem}, w={run['guidance']}"}
            lines.append(f"| {name} | {context.get(run['mode'], 'none')} | "
                         f"{run['sampler'].upper()} | {run['steps']} | {run['fid']:.3f} | {run['fid_ratio']:.2f} |"
                         + (f" {run['inception_fid']:.3f} |" if inc else "")
                         + f" {run['near_copy_share']:.1%} | {100 * run['near_copy_excess']:+.1f} | "
                         f"{run['median_distance']:.2f} | "
                         f"{'-' if acc is None else f'{acc:.1%}'} | {run['seconds']} |")
    labelled = [(name, run) for name, m in r["models"].items() for run in m["runs"] if "class_accuracy" in run]
    if labelled:
        lines += ["", "## Class accuracy per label", "",
                  "Share of the samples generated with each label (labels drawn in the test split's class mix) "
                  "that the feature net's label head classifies as that label.", "",
                  "| model | sampler | steps | " + " | ".join(sprites.LABEL_NAMES) + " |",
                  "|---|---|---|" + "---|" * len(sprites.LABEL_NAMES)]
        lines += [f"| {name} | {run['sampler'].upper()} | {run['steps']} | "
                  + " | ".join(f"{run['class_accuracy'][k]:.1%}" if k in run["class_accuracy"] else "-"
                               for k in sprites.LABEL_NAMES) + " |"
                  for name, run in labelled]
    lines += ["", "## Memorisation", "",
              f"tau = {mem['factor']} x the median distance from a training sprite to its nearest other training "
              f"sprite = {mem['threshold']:.3f} (L2 over the 768 model-space values; one pixel turned from black to "
              f"white is 3.46). Held-out test sprites, which no model has seen, are near-copies at a rate of "
              f"{mem['test_share']:.1%} (median distance to their nearest training sprite "
              f"{mem['test_median_distance']:.2f}): the procedural set repeats near-twins (same template, palette and "
              "pose, different colour jitter). That is the baseline: a model that generalises like fresh data "
              "sits near it, memorisation shows as a share well above it, and a copier scores 100%. So judge a "
              "model by its excess over the baseline (a few points at most), not by the share alone.", "",
              "## Wall time (seconds)", "", "| part | seconds |", "|---|---|"]
    lines += [f"| {part} | {sec} |" for part, sec in r["seconds"].items()]
    meta = s.get("feature_net_meta") or {}
    if meta.get("test_accuracy"):
        lines += ["", "Feature net: held-out accuracy " + ", ".join(f"{k} {v:.1%}" for k, v in
                                                                    meta["test_accuracy"].items()) + "."]
    return "\n".join(lines) + "\n"


def read_report(report=None) -> dict:
    """The numbers of a committed evaluation (default: weights/EVALUATION.json), as run_evaluation returned them."""
    from .config import WEIGHTS_DIR

    path = Path(report) if report is not None else WEIGHTS_DIR / "EVALUATION.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `make evaluate` to write the evaluation report")
    return json.loads(path.read_text())


def quality_vs_steps(report=None, model: str = "context") -> dict:
    """FID against sampling steps for one model, read from a committed EVALUATION.json (default:
    weights/EVALUATION.json), never recomputed. Uses the model's main mode (labels and guidance for a
    labelled model). Returns {"steps": [DDIM step counts, ascending], "fid": [their FIDs], "ddpm_steps",
    "ddpm_fid", "floor", "n", "guidance"}."""
    r = read_report(report)
    if model not in r["models"]:
        raise ValueError(f"{report or 'the report'} has no model {model!r}; it evaluated {sorted(r['models'])}")
    runs = r["models"][model]["runs"]
    main = runs[0]["mode"]
    ddim = sorted((run["steps"], run["fid"]) for run in runs if run["mode"] == main and run["sampler"] == "ddim")
    ddpm = next(run for run in runs if run["mode"] == main and run["sampler"] == "ddpm")
    return {"steps": [k for k, _ in ddim], "fid": [f for _, f in ddim], "ddpm_steps": ddpm["steps"],
            "ddpm_fid": ddpm["fid"], "floor": r["reference"]["floor_fid"], "n": r["settings"]["n"],
            "guidance": ddpm["guidance"]}
