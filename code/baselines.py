r"""Baselines, and how to measure what they buy: the variance of the gradient estimate.

Every estimator here is one gradient sample per trajectory (from
:func:`pgbook.estimators.policy_gradient_samples`),

.. math::

   \hat g(\tau) = \sum_t w_t\,\nabla_\theta\log\pi_\theta(a_t\mid s_t)\,(\Psi_t - b_t),

and what changes between the variants is the signal :math:`\Psi_t` (full return or
reward-to-go) and the baseline :math:`b_t`.  Variances are *total* variances: the trace of the
covariance matrix of :math:`\hat g`, i.e. the sum of the variances of its components (the
expected squared distance of a sample from the true gradient).

* :func:`total_variance` and :func:`weighted_moments` measure it from samples or, with
  trajectory probabilities from :func:`pgbook.mdp.enumerate_trajectories`, exactly.
* :func:`optimal_constant_baseline` is the constant :math:`b` minimising that variance
  (Greensmith, Bartlett and Baxter, 2004):  writing the estimator as :math:`X - bY` with
  :math:`X = \hat g` at :math:`b = 0` and :math:`Y = \sum_t w_t \nabla\log\pi(a_t\mid s_t)`
  (mean zero), :math:`\operatorname{tr}\operatorname{Cov}(X - bY)` is a parabola in :math:`b`
  with its minimum at :math:`b^\star = \mathbb E[X\cdot Y] / \mathbb E[Y\cdot Y]`.
* :func:`fit_linear_value` / :func:`linear_value` fit a state-value baseline
  :math:`b_t = \phi(s_t, t)^\top w` by least squares on the returns-to-go.
* :func:`estimator_variants` returns the book's five estimators on one batch, and
  :func:`variance_table` compares them (variance ratios and, when the exact gradient is
  known, a z-test of unbiasedness).
* finite-horizon value iteration lives in :func:`pgbook.mdp.optimal_values`
  (the benchmark an optimal policy would reach); chapter 11 compares against it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import estimators
from ._validate import (ArgumentTypeError, check_bool, check_finite, check_finite_real, check_nonnegative,
                        check_positive_int, check_shape)
from .mdp import TabularMDP

__all__ = [
    "total_variance",
    "weighted_moments",
    "baseline_direction",
    "optimal_constant_baseline",
    "constant_baseline_variance",
    "leave_one_out_mean",
    "one_hot_features",
    "cartpole_features",
    "fit_linear_value",
    "linear_value",
    "estimator_variants",
    "VarianceRow",
    "variance_table",
    "format_variance_table",
    "PilotBaselines",
    "fit_pilot_baselines",
    "mdp_pilot_baselines",
    "mdp_estimator_variants",
    "action_baseline_bias",
    "cartpole_variants",
]


def _flat(samples, name: str = "samples") -> np.ndarray:
    x = check_finite(samples, name)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, ...) with n >= 1 samples, got {x.shape}")
    return x.reshape(x.shape[0], -1)


def _weights(prob, n: int) -> np.ndarray:
    if prob is None:
        return np.full(n, 1.0 / n)
    p = check_shape(check_finite(prob, "prob"), (n,), "prob")
    if np.any(p < 0) or abs(p.sum() - 1.0) > 1e-8:
        raise ValueError(f"prob must be non-negative trajectory probabilities summing to 1, got sum {p.sum():.6g}")
    return p


def weighted_moments(samples, prob=None):
    """Mean (parameter shape) and total variance of gradient samples.

    ``samples`` has shape ``(n, *theta_shape)``.  With ``prob=None`` they are Monte Carlo draws and
    the variance is the unbiased sample variance (divisor n - 1) summed over components.  With
    ``prob`` (n,), the samples are *all* trajectories with their exact probabilities (an
    :class:`pgbook.episodes.Episodes` from :func:`pgbook.mdp.enumerate_trajectories`) and the result is the exact mean and variance.
    """
    x = _flat(samples)
    n = x.shape[0]
    if prob is None and n < 2:
        raise ValueError("samples must hold at least 2 Monte Carlo draws to estimate a variance")
    p = _weights(prob, n)
    mean = p @ x
    sq = p @ ((x - mean) ** 2).sum(axis=1)
    if prob is None:
        sq *= n / (n - 1)
    return mean.reshape(np.shape(samples)[1:]), float(sq)


def total_variance(samples, prob=None) -> float:
    """Trace of the covariance of gradient samples ``(n, *theta_shape)``.

    See :func:`weighted_moments`.
    """
    return weighted_moments(samples, prob)[1]


def _samples(score, rewards, mask, gamma, reward_to_go=True, discount_weighting=True, baseline=None):
    """:func:`pgbook.estimators.policy_gradient_samples` with Psi and w formed from the rewards."""
    Psi = estimators.psi(rewards, gamma, mask, reward_to_go)
    w = estimators.step_weights(gamma, Psi.shape[1], reward_to_go, discount_weighting)
    return estimators.policy_gradient_samples(score, Psi, w, baseline, mask)


def baseline_direction(score, mask, gamma: float, discount_weighting: bool = True,
                       reward_to_go: bool = True) -> np.ndarray:
    """``Y = sum_t w_t score_t`` per trajectory: what a constant baseline of 1 subtracts.

    Shape ``(n, *theta_shape)``.  Computed with
    :func:`pgbook.estimators.policy_gradient_samples` (baseline 1 on zero rewards), so the
    weights ``w_t`` (``gamma**t`` or 1, as the estimator with these flags uses) and the masking
    are exactly the estimator's.  Its mean is zero (the score has mean zero at every step).
    """
    score = check_finite(score, "score")
    if score.ndim < 2:
        raise ValueError(f"score must have shape (n, T, *theta_shape), got {score.shape}")
    discount_weighting = check_bool(discount_weighting, "discount_weighting")
    reward_to_go = check_bool(reward_to_go, "reward_to_go")
    ones = np.ones(score.shape[:2])
    w = estimators.step_weights(gamma, score.shape[1], reward_to_go, discount_weighting)
    return estimators.policy_gradient_samples(score, ones, w, mask=mask)


def optimal_constant_baseline(score, rewards, mask, gamma: float, reward_to_go: bool = True,
                              discount_weighting: bool = True, prob=None) -> float:
    r"""The constant baseline of minimum total variance, :math:`b^\star = E[X\cdot Y]/E[Y\cdot Y]`.

    ``score`` of shape ``(n, T, *theta_shape)``, ``rewards`` and ``mask`` of shape ``(n, T)``, as
    for :func:`pgbook.estimators.policy_gradient_samples`.  Since :math:`E[Y] = 0` this equals
    :math:`\operatorname{tr}\operatorname{Cov}(X, Y) / \operatorname{tr}\operatorname{Cov}(Y)`,
    and that centred form is what is computed: with ``prob=None`` from sample moments (so it is
    exactly the minimiser of the batch's own sample variance; use a separate pilot batch if the
    estimator must stay exactly unbiased), with ``prob`` from exact trajectory probabilities of
    an enumeration.
    """
    reward_to_go = check_bool(reward_to_go, "reward_to_go")
    discount_weighting = check_bool(discount_weighting, "discount_weighting")
    X = _samples(score, rewards, mask, gamma, reward_to_go, discount_weighting)
    Y = baseline_direction(score, mask, gamma, discount_weighting, reward_to_go)
    return _optimal_b(X, Y, prob)


def constant_baseline_variance(score, rewards, mask, gamma: float, b_values, reward_to_go: bool = True,
                               discount_weighting: bool = True, prob=None) -> np.ndarray:
    """Total variance of the estimator with each constant baseline in ``b_values`` (shape (m,)).

    Computed directly from the samples ``X - b Y`` for every b (no formula), so it can be used
    to check that :func:`optimal_constant_baseline` sits at the bottom of the parabola.
    """
    b_values = np.atleast_1d(check_finite(b_values, "b_values"))
    reward_to_go = check_bool(reward_to_go, "reward_to_go")
    discount_weighting = check_bool(discount_weighting, "discount_weighting")
    X = _flat(_samples(score, rewards, mask, gamma, reward_to_go, discount_weighting))
    Y = _flat(baseline_direction(score, mask, gamma, discount_weighting, reward_to_go))
    return np.array([total_variance(X - b * Y, prob) for b in b_values])


def leave_one_out_mean(psi, mask) -> np.ndarray:
    """For each episode, the mean of ``psi`` over the valid steps of the *other* episodes, shape (n,).

    As a baseline it is independent of the episode it is used on, so the estimate stays unbiased.
    """
    psi = check_finite(psi, "psi")
    mask = check_shape(np.asarray(mask, dtype=bool), psi.shape, "mask")
    sums = np.where(mask, psi, 0.0).sum(axis=1)
    counts = mask.sum(axis=1)
    other = np.maximum(counts.sum() - counts, 1)
    return (sums.sum() - sums) / other


# ---------------------------------------------------------------------------------------------
# Learned state-value baselines
# ---------------------------------------------------------------------------------------------

def one_hot_features(states, n_states: int) -> np.ndarray:
    """Tabular features: ``phi(s) = e_s``, shape ``(*states.shape, n_states)``."""
    n_states = check_positive_int(n_states, "n_states")
    s = np.asarray(states)
    if not np.issubdtype(s.dtype, np.integer) or np.any((s < 0) | (s >= n_states)):
        raise ValueError(f"states must be integers in [0, {n_states}), got dtype {s.dtype}")
    return np.eye(n_states)[s]


def cartpole_features(obs, horizon: int = 500) -> np.ndarray:
    """Features for a CartPole value baseline: ``[1, obs, obs**2, t/horizon]``, shape (n, T, 10).

    ``obs`` has shape (n, T, 4); the time feature lets the fit see that fewer steps remain
    before the TimeLimit late in an episode.
    """
    obs = check_finite(obs, "obs")
    if obs.ndim != 3 or obs.shape[-1] != 4:
        raise ValueError(f"obs must have shape (n, T, 4) (CartPole observations), got {obs.shape}")
    horizon = check_positive_int(horizon, "horizon")
    n, T, _ = obs.shape
    t = np.broadcast_to((np.arange(T) / horizon)[None, :, None], (n, T, 1))
    return np.concatenate([np.ones((n, T, 1)), obs, obs**2, t], axis=-1)


def fit_linear_value(features, returns_to_go, mask, ridge: float = 1e-6) -> np.ndarray:
    """Least-squares weights ``w`` with ``phi(s_t)^T w ~ G_t`` over the steps where ``mask`` is True.

    ``features`` (n, T, F), ``returns_to_go`` and ``mask`` (n, T).  A small ``ridge`` keeps the
    solve well posed when some feature is never seen (e.g. a state no episode visited).
    Returns ``w`` of shape (F,).
    """
    phi = check_finite(features, "features")
    if phi.ndim != 3:
        raise ValueError(f"features must have shape (n, T, F), got {phi.shape}")
    G = check_shape(check_finite(returns_to_go, "returns_to_go"), phi.shape[:2], "returns_to_go")
    m = check_shape(np.asarray(mask, dtype=bool), phi.shape[:2], "mask")
    if not m.any():
        raise ValueError("mask has no True entry: there is nothing to fit")
    ridge = check_nonnegative(ridge, "ridge")
    A, y = phi[m], G[m]
    return np.linalg.solve(A.T @ A + ridge * len(y) * np.eye(A.shape[1]), A.T @ y)


def linear_value(features, weights) -> np.ndarray:
    """The fitted baseline ``phi(s_t)^T w``, shape (n, T)."""
    phi = check_finite(features, "features")
    w = check_finite(weights, "weights")
    if w.shape != phi.shape[-1:]:
        raise ValueError(f"weights must have shape ({phi.shape[-1]},) to match the features, got {w.shape}")
    return phi @ w


# ---------------------------------------------------------------------------------------------
# The book's five estimators on one batch, and their comparison
# ---------------------------------------------------------------------------------------------

def estimator_variants(score, rewards, mask, gamma: float, *, constant_baseline: float,
                       optimal_baseline: float | None = None, value_baseline=None) -> dict:
    """One batch, five estimators: a dict name -> samples ``(n, *theta_shape)``.

    ``"full return"`` (Psi = R(tau)), ``"reward-to-go"`` (Psi = G_t), ``"rtg + constant b"``
    (G_t - ``constant_baseline``), ``"rtg + optimal b"`` (G_t - ``optimal_baseline``, included when
    given) and ``"rtg + learned V(s)"`` (G_t - ``value_baseline``, an (n, T) array, when given).
    Baselines should come from a separate pilot batch so every estimator stays exactly unbiased.
    """
    constant_baseline = check_finite_real(constant_baseline, "constant_baseline")
    out = {
        "full return": _samples(score, rewards, mask, gamma, reward_to_go=False),
        "reward-to-go": _samples(score, rewards, mask, gamma),
        "rtg + constant b": _samples(score, rewards, mask, gamma, baseline=constant_baseline),
    }
    if optimal_baseline is not None:
        out["rtg + optimal b"] = _samples(score, rewards, mask, gamma,
                                          baseline=check_finite_real(optimal_baseline, "optimal_baseline"))
    if value_baseline is not None:
        out["rtg + learned V(s)"] = _samples(score, rewards, mask, gamma, baseline=value_baseline)
    return out


@dataclass(frozen=True)
class VarianceRow:
    """One line of :func:`variance_table`: the estimator's name, total variance, ratio to the
    first estimator's variance, and (when the exact gradient was given) the worst :math:`|z|` of
    its mean."""

    name: str
    variance: float
    ratio: float
    max_abs_z: float | None


def variance_table(variants: dict, exact=None) -> list:
    """Compare estimators: a list of :class:`VarianceRow`, ratios relative to the first entry.

    With ``exact`` (the true gradient), each mean is compared with it component by component
    with :func:`pgbook.estimators.compare` (z = error / standard error).
    """
    if not isinstance(variants, dict):
        raise ArgumentTypeError(f"variants must be a dict name -> samples, got {type(variants).__name__}")
    if not variants:
        raise ValueError("variants must be a non-empty dict name -> samples")
    rows, ref = [], None
    for name, samples in variants.items():
        var = total_variance(samples)
        ref = var if ref is None else ref
        z = None
        if exact is not None:
            z = float(estimators.compare(samples, exact).max_abs_z)
        rows.append(VarianceRow(name, var, var / ref if ref > 0 else np.nan, z))
    return rows


def format_variance_table(rows) -> str:
    """The rows of :func:`variance_table` as aligned text."""
    head = f"{'estimator':<22}{'total variance':>16}{'ratio':>9}" + (f"{'max |z|':>10}" if rows[0].max_abs_z is not None else "")
    lines = [head]
    for r in rows:
        line = f"{r.name:<22}{r.variance:>16.4g}{r.ratio:>9.3f}"
        if r.max_abs_z is not None:
            line += f"{r.max_abs_z:>10.2f}"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Drivers: pilot fits and the five estimators on sampled batches (tabular MDPs and gymnasium)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PilotBaselines:
    """Baselines fitted on a pilot batch (kept separate from the batch they are used on).

    ``constant``: the mean discounted return of the pilot episodes; ``optimal``: the
    variance-optimal constant :func:`optimal_constant_baseline`; ``value_weights``: least-squares
    weights of the linear state-value baseline (:func:`fit_linear_value`).
    """

    constant: float
    optimal: float
    value_weights: np.ndarray


def fit_pilot_baselines(score, rewards, mask, gamma: float, features, ridge: float = 1e-6) -> PilotBaselines:
    """Fit the three baselines of :class:`PilotBaselines` on one batch.

    ``score`` of shape ``(n, T, *theta_shape)``, ``rewards`` and ``mask`` of shape ``(n, T)``,
    ``features`` of shape ``(n, T, F)`` for the value fit (e.g. :func:`one_hot_features` or
    :func:`cartpole_features`).
    """
    constant = float(estimators.discounted_return(rewards, gamma, mask).mean())
    optimal = optimal_constant_baseline(score, rewards, mask, gamma)
    G = estimators.returns_to_go(rewards, gamma, mask)
    return PilotBaselines(constant, optimal, fit_linear_value(features, G, mask, ridge))


def _optimal_b(X, Y, prob=None) -> float:
    """tr Cov(X, Y) / tr Cov(Y) under the weights ``prob`` (None: equal weights)."""
    X, Y = _flat(X, "X"), _flat(Y, "Y")
    p = _weights(prob, X.shape[0])
    Xc, Yc = X - p @ X, Y - p @ Y
    denom = p @ (Yc * Yc).sum(axis=1)
    if denom <= 0:
        raise ValueError("every score in the batch is zero, so no baseline changes the estimate; use more or longer episodes")
    return float(p @ (Xc * Yc).sum(axis=1) / denom)


def mdp_pilot_baselines(mdp: TabularMDP, policy, theta, n: int, rng) -> PilotBaselines:
    """:class:`PilotBaselines` fitted on ``n`` episodes sampled from a tabular MDP (one-hot value features).

    Uses :func:`pgbook.mdp.sample_trajectories` and :func:`pgbook.estimators.trajectory_gradient_samples`
    (reward-to-go, discount-weighted).
    """
    from .mdp import sample_trajectories
    n = check_positive_int(n, "n")
    traj = sample_trajectories(mdp, policy, theta, n, rng).trimmed()
    tgs = estimators.trajectory_gradient_samples
    X = tgs(policy, theta, traj, mdp.gamma)
    Y = X - tgs(policy, theta, traj, mdp.gamma, baseline=1.0)             # what a baseline of 1 subtracts
    constant = float(estimators.discounted_return(traj.rewards, mdp.gamma, traj.mask).mean())
    G = estimators.returns_to_go(traj.rewards, mdp.gamma, traj.mask)
    w = fit_linear_value(one_hot_features(traj.states, mdp.n_states), G, traj.mask)
    return PilotBaselines(constant, _optimal_b(X, Y), w)


def mdp_estimator_variants(mdp: TabularMDP, policy, theta, n: int, rng, pilot: PilotBaselines,
                           action_baseline=None) -> dict:
    """The five estimators of :func:`estimator_variants` on ``n`` fresh episodes of a tabular MDP.

    A dict name -> ``(n, *theta_shape)``.  With ``action_baseline`` (an (S, A) table b(s, a)) a
    sixth entry ``"rtg + b(s, a)"`` uses a baseline that depends on the action taken: it is biased
    (see :func:`action_baseline_bias`).
    """
    from .mdp import sample_trajectories
    n = check_positive_int(n, "n")
    traj = sample_trajectories(mdp, policy, theta, n, rng).trimmed()
    tgs = estimators.trajectory_gradient_samples
    g = mdp.gamma
    value = linear_value(one_hot_features(traj.states, mdp.n_states), pilot.value_weights)
    out = {
        "full return": tgs(policy, theta, traj, g, reward_to_go=False),
        "reward-to-go": tgs(policy, theta, traj, g),
        "rtg + constant b": tgs(policy, theta, traj, g, baseline=pilot.constant),
        "rtg + optimal b": tgs(policy, theta, traj, g, baseline=pilot.optimal),
        "rtg + learned V(s)": tgs(policy, theta, traj, g, baseline=value),
    }
    if action_baseline is not None:
        b = check_shape(check_finite(action_baseline, "action_baseline"), (mdp.n_states, mdp.n_actions),
                        "action_baseline")
        out["rtg + b(s, a)"] = tgs(policy, theta, traj, g, baseline=b[traj.states, traj.actions])
    return out


def action_baseline_bias(mdp: TabularMDP, policy, theta, action_baseline) -> np.ndarray:
    r"""Exact mean shift caused by an action-dependent baseline b(s, a) (an (S, A) table).

    Subtracting :math:`b(s_t, a_t)` changes the estimator's mean by

    .. math::

       -\sum_t \gamma^t \sum_s d_t(s) \sum_a \pi(a\mid s)\,\nabla\log\pi(a\mid s)\,b(s, a),

    which is zero whenever b does not depend on a (the score has mean zero) and in general is not.
    Returns an array of ``policy.theta_shape``.
    """
    from .mdp import policy_table, score_table, state_distributions
    b = check_shape(check_finite(action_baseline, "action_baseline"), (mdp.n_states, mdp.n_actions), "action_baseline")
    pi = policy_table(mdp, policy, theta)
    d = state_distributions(mdp, pi)
    weight = (mdp.gamma ** np.arange(mdp.horizon)) @ d                # (S,)
    score = score_table(mdp, policy, theta)                           # (S, A, *theta_shape)
    return -np.tensordot(weight[:, None] * pi * b, score, axes=([0, 1], [0, 1]))


def cartpole_variants(policy, theta, n: int, n_pilot: int, rng, gamma: float = 0.99, num_envs: int = 500) -> tuple:
    """Pilot fit and the five estimators on CartPole-v1 at fixed parameters ``theta``.

    Plays ``n_pilot`` episodes to fit the baselines (:class:`PilotBaselines` with
    :func:`cartpole_features`), then ``n`` fresh episodes, with :func:`pgbook.rollout.collect_episodes`
    on the native vector CartPole (``num_envs`` at a time).  Returns ``(pilot, variants, lengths)``
    where ``lengths`` are the episode lengths of the main batch.
    """
    from .rollout import collect_episodes, make_envs
    n = check_positive_int(n, "n")
    n_pilot = check_positive_int(n_pilot, "n_pilot")
    envs = make_envs("CartPole-v1", check_positive_int(num_envs, "num_envs"), "vector_entry_point")
    try:
        pb = collect_episodes(envs, policy, theta, rng, min_episodes=n_pilot)
        pilot = fit_pilot_baselines(estimators.step_scores(policy, theta, pb), pb.rewards, pb.mask, gamma,
                                    cartpole_features(pb.states))
        b = collect_episodes(envs, policy, theta, rng, min_episodes=n)
    finally:
        envs.close()
    score = estimators.step_scores(policy, theta, b)
    value = linear_value(cartpole_features(b.states), pilot.value_weights)
    variants = estimator_variants(score, b.rewards, b.mask, gamma, constant_baseline=pilot.constant,
                                  optimal_baseline=pilot.optimal, value_baseline=value)
    return pilot, variants, b.lengths
