"""Seeds of independent random streams derived from one run seed.

A run that is stopped and resumed, or a job split into batches, must draw exactly the numbers
an uninterrupted run would. So every stream of a run (training step k, data epoch e, evaluation
batch b) gets its own generator, seeded from the run's seed and the stream's index:

    seed_k = seed * 1_000_003 + k

1_000_003 is a prime larger than any index the course uses, so distinct (seed, k) pairs of
non-negative seeds give distinct seeds.
"""
from __future__ import annotations

import torch

STREAM_STRIDE = 1_000_003


def derived_seed(seed: int, k: int) -> int:
    """The seed of stream k of a run seeded with `seed`: seed * 1_000_003 + k."""
    return seed * STREAM_STRIDE + k


def derived_generator(seed: int, k: int) -> torch.Generator:
    """A CPU generator for stream k of a run seeded with `seed`."""
    return torch.Generator().manual_seed(derived_seed(seed, k))
