"""Input checks shared by every module, so that bad input never turns into a silent NaN.

Every check names the argument and says what was expected:

* a value of the wrong *type* (text where numbers belong, complex numbers, ``None``, a float
  seed, a string where a bool belongs, something that is not a random generator) raises
  :class:`ArgumentTypeError`, which is a ``TypeError`` and also a ``ValueError`` (so code written
  when every bad input raised ``ValueError`` still catches it);
* a value of the right type but outside its range (a negative seed, ``gamma`` above 1, a wrong
  shape, an empty array) raises ``ValueError``;
* a NaN or an infinity where a finite number is needed raises :class:`NonFiniteError`, a
  ``ValueError`` that callers can recognise by its type (the trainers do, to report divergence).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "NonFiniteError",
    "check_real_array",
    "check_real",
    "check_finite_real",
    "check_gamma",
    "check_finite",
    "check_shape",
    "check_probabilities",
    "check_positive_int",
    "check_positive",
    "check_nonnegative",
    "check_seed",
    "check_bool",
    "check_rng",
    "check_choice",
    "check_mdp",
    "check_policy_theta",
    "check_policy_table",
    "check_episodes",
    "check_env_id",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError`` that is also a ``ValueError``."""


class NonFiniteError(ValueError):
    """A value that must be finite is NaN or infinite."""


def _describe(x) -> str:
    """A short description of ``x`` for an error message: its type and a clipped repr."""
    text = repr(x)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(x).__name__} {text}"


def check_real_array(x, name: str, what: str = "real numbers") -> np.ndarray:
    """Return ``x`` as a float array after checking that it holds real numbers.

    Raises :class:`ArgumentTypeError` for complex numbers (whose imaginary part a float
    conversion would silently drop), text, ``None`` (which numpy would turn into NaN) and other
    objects that are not real numbers, and ``ValueError`` for ragged nested sequences.  Booleans
    and integers are accepted (as 0/1 and their values).  Does not check finiteness: see
    :func:`check_finite`.  ``what`` names the expected value in the messages.
    """
    try:
        arr = np.asarray(x)
    except ValueError:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of {what}; "
                         f"its nested sequences have different lengths: {_describe(x)}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ArgumentTypeError(f"{name} must be {what}, got complex numbers (dtype {arr.dtype}); "
                                f"pass np.real({name}) if the real part is what you mean")
    if kind == "O":  # e.g. sympy numbers or fractions, which convert; None or complex, which must not
        if any(v is None or isinstance(v, (str, bytes, complex, np.complexfloating)) for v in arr.flat):
            raise ArgumentTypeError(f"{name} must be {what}, got {_describe(x)}")
        try:
            return arr.astype(float)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{name} must be {what}, got {_describe(x)}") from None
    if kind not in "biuf":
        got = {"U": "text", "S": "bytes", "M": "dates", "m": "time spans"}.get(kind, "non-numbers")
        raise ArgumentTypeError(f"{name} must be {what}, got {got} (dtype {arr.dtype}): {_describe(x)}")
    return arr.astype(float, copy=False)


def check_real(x, name: str) -> float:
    """Return the single real number ``x`` as a float (it may be NaN or infinite).

    Raises :class:`ArgumentTypeError` for booleans, text, ``None``, complex numbers and other
    non-numbers, and ``ValueError`` for an array of more than one number.
    """
    if isinstance(x, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be a real number, got the boolean {x!r}")
    arr = check_real_array(x, name, "a real number")
    if arr.size != 1:
        raise ValueError(f"{name} must be a single number, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def check_finite_real(x, name: str) -> float:
    """Return the single finite real number ``x`` as a float (see :func:`check_real`)."""
    value = check_real(x, name)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check_gamma(gamma, name: str = "gamma") -> float:
    """Return ``gamma`` as a float after checking it is a number in [0, 1]."""
    value = check_real(gamma, name)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def check_finite(x, name: str) -> np.ndarray:
    """Return ``x`` as a float array after checking it holds real numbers that are all finite.

    Wrong types raise :class:`ArgumentTypeError` (see :func:`check_real_array`), NaN or
    infinite entries :class:`NonFiniteError`.
    """
    arr = check_real_array(x, name)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise NonFiniteError(f"{name} must be finite, but {bad} of its {arr.size} entries are NaN or infinite")
    return arr


def check_shape(x, shape: tuple, name: str) -> np.ndarray:
    """Check that ``x`` has ``shape``; ``None`` in ``shape`` matches any length."""
    try:
        arr = np.asarray(x)
    except ValueError:
        raise ValueError(f"{name} must be a rectangular array; its nested sequences have different lengths") from None
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


def check_probabilities(p, name: str, axis: int = -1, atol: float = 1e-8) -> np.ndarray:
    """Check that ``p`` is non-negative and sums to 1 along ``axis``."""
    arr = check_finite(p, name)
    if arr.size == 0:
        raise ValueError(f"{name} must hold probabilities, got an empty array of shape {arr.shape}")
    if np.any(arr < -atol):
        raise ValueError(f"{name} must be non-negative probabilities, found a minimum of {arr.min():.3g}")
    sums = arr.sum(axis=axis)
    if not np.allclose(sums, 1.0, atol=atol * max(1, arr.shape[axis] if arr.ndim else 1) + 1e-12):
        worst = float(np.max(np.abs(sums - 1.0)))
        raise ValueError(f"{name} must sum to 1 along axis {axis}; the worst sum is off by {worst:.3g}")
    return arr


def _check_integer(n, name: str, minimum: int, what: str) -> int:
    """Check that ``n`` is an integer >= ``minimum`` (a bool or a float such as 3.0 is refused)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be {what}, got {_describe(n)}")
    if n < minimum:
        raise ValueError(f"{name} must be {what}, got {n!r}")
    return int(n)


def check_positive_int(n, name: str) -> int:
    """Check that ``n`` is an integer >= 1 (a bool or a float such as 3.0 is refused)."""
    return _check_integer(n, name, 1, "a positive integer")


def check_positive(x, name: str) -> float:
    """Check that ``x`` is a finite number > 0."""
    value = check_real(x, name)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return value


def check_nonnegative(x, name: str) -> float:
    """Check that ``x`` is a finite number >= 0."""
    value = check_real(x, name)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_seed(seed, name: str = "seed") -> int:
    """Check that ``seed`` is a non-negative integer (a float such as 1.5 or 1.0, or a bool, is refused)."""
    return _check_integer(seed, name, 0, "a non-negative integer")


def check_bool(x, name: str) -> bool:
    """Check that ``x`` is True or False (not a string such as ``'no'``, not None, not a number)."""
    if not isinstance(x, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, got {_describe(x)}")
    return bool(x)


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Check that ``rng`` is a ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(f"{name} must be a numpy.random.Generator (e.g. pgbook.make_rng()), "
                                f"got {type(rng).__name__}")
    return rng


def check_choice(x, options: tuple, name: str):
    """Check that ``x`` is one of ``options`` (a tuple of strings, or of other constants)."""
    if all(isinstance(o, str) for o in options) and not isinstance(x, str):
        raise ArgumentTypeError(f"{name} must be one of {options}, got {_describe(x)}")
    if x not in options:
        raise ValueError(f"{name} must be one of {options}, got {x!r}")
    return x


def check_mdp(mdp, name: str = "mdp"):
    """Check that ``mdp`` is a :class:`pgbook.mdp.TabularMDP`."""
    from .mdp import TabularMDP  # mdp imports this module; imported here, at call time

    if not isinstance(mdp, TabularMDP):
        raise ArgumentTypeError(f"{name} must be a pgbook.mdp.TabularMDP, got {type(mdp).__name__}")
    return mdp


def check_policy_theta(policy, theta, needs=("probs", "score")) -> np.ndarray:
    """Check that ``policy`` is a policy object (it has the methods ``needs``) and that ``theta``
    suits it: real, finite and, when the policy can say, of its ``theta_shape``."""
    missing = [m for m in needs if not callable(getattr(policy, m, None))]
    if missing:
        raise ArgumentTypeError(f"policy must be a policy object such as pgbook.policies.TabularSoftmax "
                                f"(with methods {', '.join(needs)}), got {type(policy).__name__}")
    if hasattr(policy, "check_theta"):
        return policy.check_theta(theta)
    return check_finite(theta, "theta")


def check_policy_table(mdp, pi, name: str = "pi") -> np.ndarray:
    """Check that ``pi`` is an (S, A) table of action probabilities for ``mdp`` (rows sum to 1)."""
    pi = check_shape(check_real_array(pi, name), (mdp.n_states, mdp.n_actions), name)
    return check_probabilities(pi, name, axis=-1)


def check_episodes(episodes, name: str = "episodes"):
    """Check that ``episodes`` is a :class:`pgbook.episodes.Episodes`."""
    from .episodes import Episodes

    if not isinstance(episodes, Episodes):
        raise ArgumentTypeError(f"{name} must be a pgbook.episodes.Episodes (from enumerate_trajectories, "
                                f"sample_trajectories or collect_episodes), got {type(episodes).__name__}")
    return episodes


def check_env_id(env_id) -> str:
    """``env_id`` must be a non-empty string such as ``"CartPole-v1"``."""
    if not isinstance(env_id, str):
        raise ArgumentTypeError(f"env_id must be a gymnasium environment id string, got {type(env_id).__name__}")
    if not env_id:
        raise ValueError("env_id must be a gymnasium environment id string such as 'CartPole-v1', got ''")
    return env_id
