"""How good are generated sprites? Frechet distance, class accuracy and memorisation.

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
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from .device import module_device
from .features import FeatureNet
from .images import as_model_space
from .sprites import LABEL_NAMES

NEAR_COPY_FACTOR = 0.5


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
    device, net = module_device(net), net.eval()
    pred = torch.cat([net(as_model_space(images[i:i + batch_size]).to(device)).label.argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])
    hit = (pred == labels).double()
    out = {name: hit[labels == k].mean().item() for k, name in enumerate(LABEL_NAMES) if (labels == k).any()}
    return {**out, "all": hit.mean().item()}


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
