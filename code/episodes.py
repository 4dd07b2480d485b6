r"""One container for episodes, wherever they come from.

The book meets episodes in three ways: it *enumerates* every trajectory of a tiny MDP with its
probability (:func:`pgbook.mdp.enumerate_trajectories`), *samples* episodes of a tabular MDP
(:func:`pgbook.mdp.sample_trajectories`) and *plays* them in gymnasium environments
(:func:`pgbook.rollout.collect_episodes`).  All three return an :class:`Episodes`: whole
episodes laid out as ``(n, T)`` arrays, step :math:`t` of episode :math:`i` in column
:math:`t`, with a mask that says which steps were really taken.  The estimator of
:mod:`pgbook.estimators` reads nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._validate import ArgumentTypeError, check_real_array

__all__ = ["Episodes"]


@dataclass(frozen=True, eq=False)
class Episodes:
    """A batch of ``n`` whole episodes padded to ``T`` steps, the longest (or the horizon).

    ``states`` (n, T), or (n, T, d) for observation features: what the policy saw at step t;
    ``actions`` (n, T), or (n, T, k) for continuous actions; ``rewards`` (n, T), 0 where masked;
    ``mask`` (n, T) bool, True where an action was taken.  After an episode ends its padding
    repeats the last state with action 0 and reward 0.  Optional: ``next_states`` (n, T) the
    state after each step (tabular episodes; needed for the dynamics' share of
    :math:`\\log P(\\tau)`), ``prob`` (n,) the probability of each trajectory (enumerations, where
    the rows are every trajectory and their probabilities sum to 1) and ``env_steps``, the
    environment steps spent, masked autoreset steps included (gymnasium rollouts).
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    next_states: np.ndarray | None = None
    prob: np.ndarray | None = None
    env_steps: int | None = None

    def __post_init__(self):
        mask = np.asarray(self.mask)
        if mask.ndim != 2:
            raise ValueError(f"mask must have shape (n, T), got {mask.shape}")
        if mask.dtype != bool:
            if not np.all(np.isin(mask, (0, 1))):
                raise ValueError("mask must be boolean (True where an action was taken)")
            mask = mask.astype(bool)
        object.__setattr__(self, "mask", mask)
        for name in ("states", "actions", "rewards", "next_states"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value)
            if value.shape[:2] != mask.shape or (name in ("rewards", "next_states") and value.ndim != 2):
                raise ValueError(f"{name} must have shape {mask.shape} (n, T) like the mask"
                                 f"{', plus trailing dimensions' if name in ('states', 'actions') else ''}; "
                                 f"got {value.shape}")
            object.__setattr__(self, name, value)
        if self.prob is not None:
            prob = np.asarray(self.prob, dtype=float)
            if prob.shape != mask.shape[:1]:
                raise ValueError(f"prob must have shape ({mask.shape[0]},), one per episode; got {prob.shape}")
            object.__setattr__(self, "prob", prob)

    @property
    def n(self) -> int:
        """Number of episodes."""
        return self.mask.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        """Number of actions taken in each episode, shape (n,)."""
        return self.mask.sum(axis=1)

    @property
    def returns(self) -> np.ndarray:
        """Undiscounted return :math:`\\sum_t r_t` of each episode, shape (n,)."""
        return np.where(self.mask, self.rewards, 0.0).sum(axis=1)

    def trimmed(self) -> "Episodes":
        """The same episodes without the trailing steps where none of them acts."""
        used = np.nonzero(self.mask.any(axis=0))[0]
        t = int(used[-1]) + 1 if used.size else 1
        return self.take(slice(None), t)

    def take(self, rows, steps: int | None = None) -> "Episodes":
        """The episodes ``rows`` (a slice, indices or a boolean array), cut to the first ``steps``."""
        cut = slice(None, steps)
        fields = {name: getattr(self, name)[rows, cut]
                  for name in ("states", "actions", "rewards", "mask", "next_states")
                  if getattr(self, name) is not None}
        if self.prob is not None:
            fields["prob"] = self.prob[rows]
        return replace(self, **fields)

    def expectation(self, values) -> np.ndarray:
        """:math:`\\sum_\\tau P(\\tau) f(\\tau)` for values of shape (n, ...), one row per trajectory.

        Only for an enumeration (``prob`` given), where the sum is the exact expectation.
        """
        if self.prob is None:
            raise ArgumentTypeError("expectation needs an enumeration (Episodes with prob), from "
                                    "pgbook.mdp.enumerate_trajectories; for sampled episodes take the mean")
        values = check_real_array(values, "values")
        if values.shape[:1] != (self.n,):
            raise ValueError(f"values must have shape ({self.n}, ...), one row per trajectory; got {values.shape}")
        return np.tensordot(self.prob, values, axes=1)
