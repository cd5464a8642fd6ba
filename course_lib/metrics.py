"""How good are generated sprites? Frechet distance, class accuracy, diversity, memorisation, pixel-art fidelity.

Frechet distance (FID). Fit a Gaussian to each feature set (mean mu, covariance S, n - 1 normalisation):

    FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

computed in float64 without scipy: Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2) = sum_i sqrt(lambda_i),
the lambda_i being the eigenvalues of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (tiny negative ones,
rounding errors, are clamped to 0). FID is biased upwards at small n, so only numbers computed at the
same sample count n are comparable. The features come from the sprite feature network (`features`).

Class accuracy. The share of samples generated with label y whose label-head prediction is y.

Memorisation. d(x) = min_j ||x - x_j||_2, the distance (model space, x = pixel / 127.5 - 1, 768 values)
from a sample to its nearest training sprite. A sample is a near-copy when d(x) < tau, with

    tau = 0.5 * median_i min_{j != i} ||x_i - x_j||_2     (over 2,500 training sprites x_i, seeded)

half the typical distance between a training sprite and its nearest *other* training sprite: a scale
taken from the data, not chosen by hand. One pixel turned from black to white moves a sprite by
sqrt(3 * 2^2) = 3.46. The procedural set itself repeats near-twins (same template, palette and pose,
only the colour jitter differs), so some fresh sprites are near-copies too. Hence the baseline

    share_test = P(d(x) < tau) over held-out test sprites, which no model has seen,

and a model is judged by its excess share_model - share_test: a model that generalises like fresh data
sits near 0, memorisation shows as a clear excess, and a pure copier scores a share of 1.

Diversity per label. For the images generated with label y and a head h of the feature net (template,
palette): |{argmax h(x_i) : y_i = y}|, the number of distinct classes the head sees among them. Compare
it with as many real sprites of label y: a model that collapses onto a few templates or palettes scores
fewer.

Pixel-art fidelity, on the 8-bit pixels p = (r, g, b) an image is saved as. Sprites are a few flat
colours on an exact white background, so

    colours(x)        = |{p(x, i)}|, the distinct exact colours over the pixels i of x;
    binned colours(x) = |{p(x, i) // 8}|, the same with each channel cut to 32 levels, so colours within
                        the same 8 levels merge and only visible shades count;
    exact white       = |{i : p_i = (255, 255, 255)}| / |{i : every channel of p_i >= 240}| over all
                        pixels of a set: how much of the near-white background is really white.

Diffusion samples drift from flat colours by a level or two; the binned count ignores that, exact
white does not (a background of 254 shows up there). The course's goals: a mean binned count at most
1.5 x the real sprites', and at least 90% exact white.

Seeds. A measure repeated with k sampling seeds is given as its mean and sample standard deviation
sd = sqrt(sum_k (v_k - mean)^2 / (k - 1)).
"""
from __future__ import annotations

import math
import statistics
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from .device import module_device
from .features import FeatureNet
from .images import as_model_space, to_pixels
from .sprites import LABEL_NAMES

NEAR_COPY_FACTOR = 0.5
NEAR_WHITE = 240   # a pixel is near-white when every channel is at least this
COLOUR_BIN = 8     # binned colours: value // 8, 32 levels per channel
WHITE = 255
MAX_COLOUR_RATIO, MIN_EXACT_WHITE = 1.5, 0.9  # pixel-art goals: binned colours x the data's, exact-white share


# ----------------------------------------------------------------------------- FID

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


# ----------------------------------------------------------------------------- class accuracy and diversity

def _label_indices(requested_labels, n: int) -> torch.Tensor:
    labels = torch.as_tensor(requested_labels)
    labels = labels.argmax(1) if labels.dim() == 2 else labels.long()
    if labels.shape != (n,):
        raise ValueError(f"need one requested label per image: {n} images, labels {tuple(labels.shape)}")
    return labels


@torch.no_grad()
def predicted_classes(net: FeatureNet, images: torch.Tensor, head: str, batch_size: int = 1000) -> torch.Tensor:
    """argmax of the feature net's `head` ("label", "template" or "palette") for every image (uint8 pixels or
    model space), in batches -> int64 (N,) on the CPU."""
    device, net = module_device(net), net.eval()
    return torch.cat([getattr(net(as_model_space(images[i:i + batch_size]).to(device)), head).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def class_accuracy(net: FeatureNet, images: torch.Tensor, requested_labels, batch_size: int = 1000) -> dict[str, float]:
    """Share of images whose label-head prediction equals the label they were generated with.
    requested_labels: ints (N,) or one-hot rows (N, 5). Returns {label name: share} for every label that
    was requested, plus "all" over every image."""
    labels = _label_indices(requested_labels, len(images))
    hit = (predicted_classes(net, images, "label", batch_size) == labels).double()
    out = {name: hit[labels == k].mean().item() for k, name in enumerate(LABEL_NAMES) if (labels == k).any()}
    return {**out, "all": hit.mean().item()}


def distinct_per_label(net: FeatureNet, images: torch.Tensor, requested_labels, heads=("template", "palette"),
                       batch_size: int = 1000) -> dict[str, dict[str, int]]:
    """Diversity per label: for every requested label y, {"sprites": the number of images of label y, and per
    head h: |{argmax h(x_i) : y_i = y}|, the distinct classes h predicts among them}.
    requested_labels: ints (N,) or one-hot rows (N, 5)."""
    labels = _label_indices(requested_labels, len(images))
    pred = {h: predicted_classes(net, images, h, batch_size) for h in heads}
    return {name: {"sprites": int((labels == k).sum()), **{h: len(p[labels == k].unique()) for h, p in pred.items()}}
            for k, name in enumerate(LABEL_NAMES) if (labels == k).any()}


# ----------------------------------------------------------------------------- memorisation

@torch.no_grad()
def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, exclude: torch.Tensor | None = None,
                      chunk: int = 500, ref_chunk: int = 20000, progress: bool = False) -> torch.Tensor:
    """d(q) = min_j ||q - r_j||_2 in model space for every query (uint8 pixels or model space, same image
    shape), chunked so thousands of queries against the whole training split fit in memory. exclude: for
    each query, one reference index to skip (the query itself when both come from one set)."""
    if queries.shape[1:] != reference.shape[1:]:
        raise ValueError(f"queries {tuple(queries.shape)} and reference {tuple(reference.shape)} differ in image shape")
    best = torch.full((len(queries),), math.inf)
    for i in tqdm(range(0, len(queries), chunk), desc="nearest training sprite", disable=not progress, leave=False):
        q = as_model_space(queries[i:i + chunk]).flatten(1)
        for j in range(0, len(reference), ref_chunk):
            d = torch.cdist(q, as_model_space(reference[j:j + ref_chunk]).flatten(1))
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


class NearCopyStats(NamedTuple):
    """share: P(d < tau), the share of near-copies; median_distance: the median of d."""

    share: float
    median_distance: float


def near_copy_stats(distances: torch.Tensor, threshold: float) -> NearCopyStats:
    """The near-copy share and median distance of a set of nearest-training-sprite distances d
    (`nearest_distances`), a near-copy being d < threshold (tau, `near_copy_threshold`)."""
    d = torch.as_tensor(distances)
    return NearCopyStats(share=(d < threshold).double().mean().item(), median_distance=d.median().item())


# ----------------------------------------------------------------------------- pixel-art fidelity

def as_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as they are; model-space images as the 8-bit pixels they are saved as (`images.to_pixels`,
    exact for images quantised with `images.quantize`)."""
    return images if images.dtype == torch.uint8 else to_pixels(images)


def distinct_colours(images: torch.Tensor, bin_size: int = 1) -> torch.Tensor:
    """The number of distinct colours |{p_i // bin_size}| over the pixels p_i = (r, g, b) of each RGB image
    (N, 3, H, W), uint8 or model space -> int64 (N,). bin_size 1: exact 8-bit colours; COLOUR_BIN: 32 levels."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"need RGB images (N, 3, H, W), got shape {tuple(images.shape)}")
    p = as_pixels(images).long() // bin_size
    codes = ((p[:, 0] * 256 + p[:, 1]) * 256 + p[:, 2]).flatten(1).sort(1).values
    return 1 + (codes.diff(dim=1) != 0).sum(1)


def exact_white_share(images: torch.Tensor) -> float | None:
    """Among the near-white pixels of all images (every channel >= NEAR_WHITE), the share that is exactly
    (255, 255, 255); None when no pixel is near-white."""
    p = as_pixels(images)
    near, exact = (p >= NEAR_WHITE).all(1), (p == WHITE).all(1)
    return exact.sum().item() / near.sum().item() if near.any() else None


def pixel_art_stats(images: torch.Tensor, data: dict | None = None) -> dict:
    """Median and mean over the images of their distinct colours, exact and binned (COLOUR_BIN), and the
    exact-white share of their near-white pixels (see the module docstring). Given the stats of real
    sprites (`data`), also colour_ratio = mean binned colours / the data's and goals_met: colour_ratio <=
    MAX_COLOUR_RATIO and exact white >= MIN_EXACT_WHITE."""
    out = {}
    for key, bin_size in (("colours", 1), ("binned_colours", COLOUR_BIN)):
        k = distinct_colours(images, bin_size).double()
        out.update({f"{key}_median": k.quantile(0.5).item(), f"{key}_mean": k.mean().item()})
    out["exact_white"] = exact_white_share(images)
    if data is not None:
        out["colour_ratio"] = out["binned_colours_mean"] / data["binned_colours_mean"]
        out["goals_met"] = out["colour_ratio"] <= MAX_COLOUR_RATIO and (out["exact_white"] or 0.0) >= MIN_EXACT_WHITE
    return out


def mean_sd(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (k - 1 normalisation) of k values, e.g. one per sampling seed;
    the sd is None for a single value."""
    values = [float(v) for v in values]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None
