r"""The geometry of policies: Fisher information, expected KL divergence, natural gradients.

On a tabular MDP everything is exact.  With :math:`d^\pi` the discounted state-visitation
measure of the problem without a time limit (:func:`pgbook.mdp.discounted_visitation`, the
measure of the policy gradient theorem), the policy's Fisher information is the expected outer
product of the score,

.. math::

   F(\theta) = \sum_s d^{\pi_\theta}(s) \sum_a \pi_\theta(a\mid s)\,
   \nabla_\theta \log \pi_\theta(a\mid s)\, \nabla_\theta \log \pi_\theta(a\mid s)^\top,

the covariance of the score under the same weighting (its mean at each state is zero), and the
expected KL divergence between two policies is

.. math::

   \bar D(\theta, \theta') = \sum_s d^{\pi_\theta}(s)\,
   \mathrm{KL}\big(\pi_\theta(\cdot\mid s)\,\|\,\pi_{\theta'}(\cdot\mid s)\big)
   = \tfrac12\, \Delta\theta^\top F(\theta)\, \Delta\theta + O(\|\Delta\theta\|^3),
   \quad \Delta\theta = \theta' - \theta.

The natural gradient is :math:`F^{+}\nabla J` (:func:`natural_gradient`; the pseudo-inverse,
since a softmax policy's :math:`F` is singular), and :func:`conjugate_gradient` solves
:math:`F x = g` with products :math:`F v` only, as the sampled methods do.  Parameters are
flattened to vectors: :math:`F` is ``(k, k)`` with ``k = theta.size``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._validate import (ArgumentTypeError, check_finite, check_mdp, check_nonnegative, check_policy_theta,
                        check_positive_int, check_real_array)
from .mdp import discounted_visitation, policy_table, score_table
from .policies import log_softmax

__all__ = ["fisher_exact", "expected_kl", "natural_gradient", "conjugate_gradient"]


def _flat_scores(mdp, policy, theta) -> np.ndarray:
    """The score at every state and action, flattened: shape (S, A, k)."""
    score = score_table(mdp, policy, theta)
    return score.reshape(mdp.n_states, mdp.n_actions, -1)


def fisher_exact(mdp, policy, theta) -> np.ndarray:
    """:math:`F(\\theta) = \\sum_s d^\\pi(s) \\sum_a \\pi(a\\mid s)\\, \\nabla\\log\\pi\\, \\nabla\\log\\pi^\\top`,
    shape ``(k, k)`` with ``k = theta.size``, symmetric and positive semi-definite.

    ``policy`` must accept integer states (e.g. :class:`pgbook.policies.TabularSoftmax`); the
    weighting is :func:`pgbook.mdp.discounted_visitation` of ``policy`` at ``theta``."""
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    pi = policy_table(mdp, policy, theta)
    d = discounted_visitation(mdp, pi)
    score = _flat_scores(mdp, policy, theta)
    weight = d[:, None] * pi                                              # (S, A)
    return np.einsum("sa,sai,saj->ij", weight, score, score)


def expected_kl(mdp, policy, theta, theta_new) -> float:
    """:math:`\\sum_s d^{\\pi_\\theta}(s)\\, \\mathrm{KL}(\\pi_\\theta(\\cdot\\mid s)\\,\\|\\,\\pi_{\\theta'}(\\cdot\\mid s))`,
    the KL divergence from the policy at ``theta`` to the one at ``theta_new``, weighted by the
    discounted visitation of the first.  0 when the two policies agree; for a small step
    :math:`\\Delta\\theta` it is :math:`\\tfrac12\\Delta\\theta^\\top F\\Delta\\theta` to second order (:func:`fisher_exact`)."""
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    theta_new = check_policy_theta(policy, theta_new)
    if theta_new.shape != theta.shape:
        raise ValueError(f"theta_new must have the shape of theta, {theta.shape}; got {theta_new.shape}")
    states = np.arange(mdp.n_states)
    log_p = log_softmax(np.asarray(policy.logits(theta, states), dtype=float))
    log_q = log_softmax(np.asarray(policy.logits(theta_new, states), dtype=float))
    p = np.exp(log_p)
    kl = np.sum(np.where(p > 0, p * (log_p - log_q), 0.0), axis=1)
    d = discounted_visitation(mdp, p)
    return float(d @ kl)


def natural_gradient(fisher, grad, rcond: float = 1e-10) -> np.ndarray:
    """:math:`F^{+} g`: the minimum-norm solution of :math:`F x = g` by the pseudo-inverse.

    ``fisher`` (k, k), symmetric; ``grad`` of any shape with ``k`` entries (the result has its
    shape).  Eigenvalues below ``rcond`` times the largest are treated as zero: a softmax
    policy's Fisher matrix is singular (adding a constant to every logit of a state changes
    nothing), and its null space is left out of the step."""
    F = check_finite(check_real_array(fisher, "fisher"), "fisher")
    if F.ndim != 2 or F.shape[0] != F.shape[1]:
        raise ValueError(f"fisher must be a square (k, k) matrix, got shape {F.shape}")
    g = check_finite(check_real_array(grad, "grad"), "grad")
    if g.size != F.shape[0]:
        raise ValueError(f"grad must have {F.shape[0]} entries (fisher is {F.shape}), got shape {g.shape}")
    rcond = check_nonnegative(rcond, "rcond")
    return (np.linalg.pinv(F, rcond=rcond, hermitian=True) @ g.reshape(-1)).reshape(g.shape)


def conjugate_gradient(matvec: Callable[[np.ndarray], np.ndarray], b, iterations: int = 10,
                       tol: float = 1e-10) -> np.ndarray:
    """Solve :math:`F x = b` for a symmetric positive semi-definite :math:`F` known only through
    ``matvec(v)`` :math:`= F v`, by at most ``iterations`` conjugate-gradient steps from
    :math:`x = 0`; stops early once the residual's norm is below ``tol`` times that of ``b``.

    With exact arithmetic it reaches the solution in at most ``k`` steps (``k = b.size``); for
    a singular :math:`F` and :math:`b` in its range it converges to the minimum-norm solution,
    :func:`natural_gradient`'s.  Returns an array of ``b``'s shape."""
    if not callable(matvec):
        raise ArgumentTypeError(f"matvec must be a function v -> F v, got {type(matvec).__name__}")
    b = check_finite(check_real_array(b, "b"), "b")
    shape, b = b.shape, b.reshape(-1)
    iterations = check_positive_int(iterations, "iterations")
    tol = check_nonnegative(tol, "tol")
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = r @ r
    stop = (tol * np.linalg.norm(b)) ** 2
    for _ in range(iterations):
        if rr <= stop:
            break
        Fp = np.asarray(matvec(p.reshape(shape)), dtype=float).reshape(-1)
        if Fp.shape != b.shape or not np.all(np.isfinite(Fp)):
            raise ValueError(f"matvec must return a finite array of shape {shape}, got "
                             f"{np.shape(Fp)} with non-finite entries" if Fp.shape == b.shape else
                             f"matvec must return an array of shape {shape}, got {Fp.size} entries")
        curvature = p @ Fp
        if curvature <= 0:  # p lies in F's null space: no further progress along it
            break
        alpha = rr / curvature
        x += alpha * p
        r -= alpha * Fp
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x.reshape(shape)
