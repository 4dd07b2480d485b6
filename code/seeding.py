"""One seed for the whole book.

Every random check in the book draws from a ``numpy.random.Generator`` made by
:func:`make_rng`.  The seed comes from the environment variable ``PGBOOK_SEED``
(default 0), so ``PGBOOK_SEED=7 make test`` reruns every chapter on other random
numbers; each check's margin must hold for any seed.
"""
from __future__ import annotations

import os

import numpy as np

from ._validate import check_seed

__all__ = ["book_seed", "make_rng"]


def book_seed() -> int:
    """The seed set by ``PGBOOK_SEED`` (default 0)."""
    raw = os.environ.get("PGBOOK_SEED", "0")
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"PGBOOK_SEED must be a non-negative integer, got {raw!r}") from None
    if seed < 0:
        raise ValueError(f"PGBOOK_SEED must be a non-negative integer, got {seed}")
    return seed


def make_rng(stream: int = 0) -> np.random.Generator:
    """A generator for one independent stream of the book seed.

    Different ``stream`` numbers give statistically independent generators for
    the same ``PGBOOK_SEED``, so one cell's draws never depend on another's.  ``stream`` must be
    a non-negative integer: a float such as 1.5 is refused rather than silently truncated.
    """
    return np.random.default_rng([book_seed(), check_seed(stream, "stream")])
