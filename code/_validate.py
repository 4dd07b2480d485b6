"""Input checks shared by every module: each raises a ValueError that names the
argument and says what was expected, so that bad input never turns into a silent NaN."""
from __future__ import annotations

import numpy as np

__all__ = [
    "check_gamma",
    "check_finite",
    "check_shape",
    "check_probabilities",
    "check_positive_int",
    "check_positive",
]


def check_gamma(gamma, name: str = "gamma") -> float:
    """Return ``gamma`` as a float after checking it is a finite number in [0, 1]."""
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {gamma!r}") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def check_finite(x, name: str) -> np.ndarray:
    """Return ``x`` as a float array after checking every entry is finite."""
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, but {bad} of its {arr.size} entries are NaN or infinite")
    return arr


def check_shape(x, shape: tuple, name: str) -> np.ndarray:
    """Check that ``x`` has ``shape``; ``None`` in ``shape`` matches any length."""
    arr = np.asarray(x)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


def check_probabilities(p, name: str, axis: int = -1, atol: float = 1e-8) -> np.ndarray:
    """Check that ``p`` is non-negative and sums to 1 along ``axis``."""
    arr = check_finite(p, name)
    if np.any(arr < -atol):
        raise ValueError(f"{name} must be non-negative probabilities, found a minimum of {arr.min():.3g}")
    sums = arr.sum(axis=axis)
    if not np.allclose(sums, 1.0, atol=atol * max(1, arr.shape[axis] if arr.ndim else 1) + 1e-12):
        worst = float(np.max(np.abs(sums - 1.0)))
        raise ValueError(f"{name} must sum to 1 along axis {axis}; the worst sum is off by {worst:.3g}")
    return arr


def check_positive_int(n, name: str) -> int:
    """Check that ``n`` is an integer >= 1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def check_positive(x, name: str) -> float:
    """Check that ``x`` is a finite number > 0."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {x!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return value
