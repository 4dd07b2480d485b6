r"""Trust regions, exactly and per sample: the importance-weighted surrogate, a KL-limited step,
and PPO's clipped objective.

On a tabular MDP (the problem without a time limit, as in the policy gradient theorem) the
surrogate of a policy :math:`\pi_\theta` around an old one :math:`\pi_{\text{old}}` is

.. math::

   \tilde J_{\theta_{\text{old}}}(\theta) = J(\theta_{\text{old}})
   + \sum_s d^{\pi_{\text{old}}}(s) \sum_a \pi_\theta(a\mid s)\, A^{\pi_{\text{old}}}(s, a),

with :math:`d^{\pi_{\text{old}}}` the book's discounted visitation measure
(:func:`pgbook.mdp.discounted_visitation`, not normalised to a probability: with it the
performance-difference identity :math:`J(\theta) - J(\theta_{\text{old}}) = \sum_s
d^{\pi_\theta}(s)\sum_a \pi_\theta(a\mid s) A^{\pi_{\text{old}}}(s,a)` needs no factor
:math:`1/(1-\gamma)`).  The sum is the exact expectation, over the old policy's visits and
actions, of the ratio-weighted advantage
:math:`\rho(\theta)\, A^{\pi_{\text{old}}}(s,a)` with
:math:`\rho(\theta) = \pi_\theta(a\mid s)/\pi_{\text{old}}(a\mid s)`
(:func:`surrogate`).  Its gradient at :math:`\theta_{\text{old}}` is :math:`\nabla J`
(:func:`surrogate_gradient`); away from it the two drift apart (:func:`along_line`).
:func:`kl_limited_step` takes the step of TRPO on the exact model: the natural direction by
conjugate gradients with exact Fisher-vector products (:func:`fisher_vector_product`), scaled to
the KL radius and shortened by a backtracking line search.

Per sample, PPO replaces :math:`\rho A` by :func:`clipped_objective`,
:math:`\min(\rho A, \operatorname{clip}(\rho, 1-\xi, 1+\xi) A)`; its derivative in the ratio
(:func:`clipped_objective_slope`) is :math:`A` or 0, and :func:`clipped_gradient` chains it
through a softmax policy's score.
"""
from __future__ import annotations

import numpy as np

from ._validate import (check_finite, check_mdp, check_policy_theta, check_positive,
                        check_positive_int, check_real_array)
from .mdp import discounted_values, discounted_visitation, policy_table, score_table, stationary_J
from .natural import conjugate_gradient, expected_kl

__all__ = [
    "surrogate",
    "surrogate_gradient",
    "along_line",
    "fisher_vector_product",
    "kl_limited_step",
    "clipped_objective",
    "clipped_objective_slope",
    "clipped_gradient",
]


def _old_pieces(mdp, policy, theta_old):
    """(pi_old, d^{pi_old}, A^{pi_old}, J(theta_old)) of the problem without a time limit."""
    pi = policy_table(mdp, policy, theta_old)
    V, Q = discounted_values(mdp, pi)
    return pi, discounted_visitation(mdp, pi), Q - V[:, None], float(mdp.mu0 @ V)


def _same_shape(theta, theta_old, name="theta"):
    if theta.shape != theta_old.shape:
        raise ValueError(f"{name} must have the shape of theta_old, {theta_old.shape}; got {theta.shape}")


def surrogate(mdp, policy, theta_old, theta) -> float:
    """:math:`\\tilde J_{\\theta_{\\text{old}}}(\\theta) = J(\\theta_{\\text{old}}) + \\sum_s
    d^{\\pi_{\\text{old}}}(s)\\sum_a \\pi_\\theta(a\\mid s) A^{\\pi_{\\text{old}}}(s,a)`.

    The sum over actions is :math:`\\mathbb E_{a\\sim\\pi_{\\text{old}}}[\\rho\\, A^{\\pi_{\\text{old}}}]`
    with the ratio :math:`\\rho = \\pi_\\theta/\\pi_{\\text{old}}`, so this is the exact mean of the
    sampled, ratio-weighted advantage.  It equals :math:`J(\\theta_{\\text{old}})` at
    :math:`\\theta_{\\text{old}}` (the advantages average to 0 under the old policy)."""
    mdp = check_mdp(mdp)
    theta_old = check_policy_theta(policy, theta_old)
    theta = check_policy_theta(policy, theta)
    _same_shape(theta, theta_old)
    _, d, A, J_old = _old_pieces(mdp, policy, theta_old)
    return J_old + float(np.sum(d[:, None] * policy_table(mdp, policy, theta) * A))


def surrogate_gradient(mdp, policy, theta_old, theta=None) -> np.ndarray:
    """:math:`\\nabla_\\theta \\tilde J_{\\theta_{\\text{old}}}(\\theta) = \\sum_s d^{\\pi_{\\text{old}}}(s)
    \\sum_a \\pi_\\theta(a\\mid s)\\,\\nabla\\log\\pi_\\theta(a\\mid s)\\, A^{\\pi_{\\text{old}}}(s,a)`, at
    ``theta`` (default: ``theta_old``, where it equals :func:`pgbook.mdp.grad_J_theorem`)."""
    mdp = check_mdp(mdp)
    theta_old = check_policy_theta(policy, theta_old)
    theta = theta_old if theta is None else check_policy_theta(policy, theta)
    _same_shape(theta, theta_old)
    _, d, A, _ = _old_pieces(mdp, policy, theta_old)
    weight = d[:, None] * policy_table(mdp, policy, theta) * A
    return np.tensordot(weight, score_table(mdp, policy, theta), axes=([0, 1], [0, 1]))


def along_line(mdp, policy, theta_old, direction, steps) -> dict:
    """:math:`J`, :math:`\\tilde J_{\\theta_{\\text{old}}}` and the expected KL
    :math:`\\bar D(\\theta_{\\text{old}}, \\theta)` (:func:`pgbook.natural.expected_kl`) at
    :math:`\\theta = \\theta_{\\text{old}} + t\\,u` for each ``t`` in ``steps``, with ``u`` =
    ``direction``.  Returns ``{"steps", "J", "surrogate", "kl"}``, arrays of ``len(steps)``."""
    mdp = check_mdp(mdp)
    theta_old = check_policy_theta(policy, theta_old)
    u = check_finite(check_real_array(direction, "direction"), "direction")
    _same_shape(u, theta_old, "direction")
    ts = check_finite(np.atleast_1d(check_real_array(steps, "steps")), "steps")
    if ts.ndim != 1:
        raise ValueError(f"steps must be a 1-d array of step lengths, got shape {ts.shape}")
    _, d, A, J_old = _old_pieces(mdp, policy, theta_old)
    J, sur, kl = [], [], []
    for t in ts:                                    # one exact solve per point of the line
        theta = theta_old + t * u
        J.append(stationary_J(mdp, policy, theta))
        sur.append(J_old + float(np.sum(d[:, None] * policy_table(mdp, policy, theta) * A)))
        kl.append(expected_kl(mdp, policy, theta_old, theta))
    return {"steps": ts, "J": np.array(J), "surrogate": np.array(sur), "kl": np.array(kl)}


def fisher_vector_product(mdp, policy, theta, v) -> np.ndarray:
    """:math:`F(\\theta)\\,v` without forming :math:`F`: :math:`\\sum_s d^\\pi(s)\\sum_a \\pi(a\\mid s)\\,
    \\nabla\\log\\pi\\,(\\nabla\\log\\pi^\\top v)`, the product :func:`pgbook.natural.fisher_exact`
    would give.  ``v`` has the shape of ``theta``; so has the result."""
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    v = check_finite(check_real_array(v, "v"), "v")
    _same_shape(v, theta, "v")
    pi = policy_table(mdp, policy, theta)
    d = discounted_visitation(mdp, pi)
    score = score_table(mdp, policy, theta).reshape(mdp.n_states, mdp.n_actions, -1)
    along = score @ v.reshape(-1)                                           # (S, A)
    return np.einsum("sa,sai->i", d[:, None] * pi * along, score).reshape(theta.shape)


def kl_limited_step(mdp, policy, theta, max_kl: float, cg_iterations: int = 10, shrink: float = 0.5,
                    max_backtracks: int = 10) -> dict:
    """The trust-region step of TRPO on the exact model.

    1. :math:`g = \\nabla J(\\theta)` (:func:`surrogate_gradient` at :math:`\\theta`);
    2. :math:`x \\approx F^{+} g` by ``cg_iterations`` of :func:`pgbook.natural.conjugate_gradient`
       with :func:`fisher_vector_product`;
    3. the full step :math:`\\Delta\\theta = \\sqrt{2\\bar D_{\\max} / x^\\top F x}\\; x`, on which the
       quadratic model of the expected KL equals ``max_kl``;
    4. backtracking: the first of :math:`\\Delta\\theta, s\\Delta\\theta, s^2\\Delta\\theta, \\dots`
       (``s = shrink``, at most ``max_backtracks`` shrinks) whose surrogate improvement is positive
       and whose exact expected KL is at most ``max_kl``.

    Returns ``{"theta", "accepted", "fraction", "step", "full_step", "kl", "improvement",
    "J_old", "J_new", "tries"}``: the new parameters (``theta`` itself if no step was accepted),
    the fraction of the full step taken, the expected KL and surrogate improvement of the taken
    step and the exact objective before and after."""
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    max_kl = check_positive(max_kl, "max_kl")
    cg_iterations = check_positive_int(cg_iterations, "cg_iterations")
    shrink = check_positive(shrink, "shrink")
    if shrink >= 1:
        raise ValueError(f"shrink must be in (0, 1), got {shrink}")
    max_backtracks = check_positive_int(max_backtracks, "max_backtracks")
    g = surrogate_gradient(mdp, policy, theta)
    x = conjugate_gradient(lambda v: fisher_vector_product(mdp, policy, theta, v), g, cg_iterations)
    curvature = float(np.sum(x * fisher_vector_product(mdp, policy, theta, x)))
    J_old = stationary_J(mdp, policy, theta)
    out = {"theta": theta, "accepted": False, "fraction": 0.0, "step": np.zeros_like(theta),
           "full_step": np.zeros_like(theta), "kl": 0.0, "improvement": 0.0, "J_old": J_old, "J_new": J_old,
           "tries": 0}
    if not curvature > 0:                            # zero gradient: nothing to do
        return out
    full = np.sqrt(2.0 * max_kl / curvature) * x
    out["full_step"] = full
    fraction = 1.0
    for tries in range(1, max_backtracks + 2):
        new = theta + fraction * full
        improvement = surrogate(mdp, policy, theta, new) - J_old
        kl = expected_kl(mdp, policy, theta, new)
        out["tries"] = tries
        if improvement > 0 and kl <= max_kl:
            out.update(theta=new, accepted=True, fraction=fraction, step=fraction * full, kl=kl,
                       improvement=improvement, J_new=stationary_J(mdp, policy, new))
            return out
        fraction *= shrink
    return out


def _clip_args(ratio, advantage, clip_range):
    rho = check_finite(check_real_array(ratio, "ratio"), "ratio")
    A = check_finite(check_real_array(advantage, "advantage"), "advantage")
    if np.any(rho < 0):
        raise ValueError("ratio must be non-negative (a ratio of probabilities)")
    xi = check_positive(clip_range, "clip_range")
    if xi >= 1:
        raise ValueError(f"clip_range must be in (0, 1), got {clip_range}")
    return [*np.broadcast_arrays(rho, A), xi]


def clipped_objective(ratio, advantage, clip_range: float) -> np.ndarray:
    """PPO's objective per sample, :math:`\\min(\\rho A,\\ \\operatorname{clip}(\\rho, 1-\\xi, 1+\\xi)\\,A)`,
    with ``clip_range`` :math:`\\xi` in (0, 1); ``ratio`` and ``advantage`` broadcast together."""
    rho, A, xi = _clip_args(ratio, advantage, clip_range)
    return np.minimum(rho * A, np.clip(rho, 1 - xi, 1 + xi) * A)


def clipped_objective_slope(ratio, advantage, clip_range: float) -> np.ndarray:
    """The derivative of :func:`clipped_objective` in the ratio: :math:`A` where the unclipped
    term :math:`\\rho A` is the minimum, 0 where the clipped one is (for :math:`A > 0`: when
    :math:`\\rho > 1+\\xi`; for :math:`A < 0`: when :math:`\\rho < 1-\\xi`).  At the kinks the
    one-sided derivative from inside the band is returned."""
    rho, A, xi = _clip_args(ratio, advantage, clip_range)
    flat = ((A > 0) & (rho > 1 + xi)) | ((A < 0) & (rho < 1 - xi))
    return np.where(flat, 0.0, A)


def clipped_gradient(policy, theta, states, actions, log_prob_old, advantage, clip_range: float):
    """The gradient in :math:`\\theta` of the mean of :func:`clipped_objective` over samples
    :math:`(s_i, a_i, \\hat A_i)`, with :math:`\\rho_i = \\pi_\\theta(a_i\\mid s_i) / \\pi_{\\text{old}}(a_i\\mid s_i)`
    and ``log_prob_old`` the old log-probabilities:

    .. math::

       \\frac1N \\sum_i c_i\\, \\rho_i\\, \\nabla_\\theta \\log\\pi_\\theta(a_i\\mid s_i),

    with :math:`c_i` from :func:`clipped_objective_slope` (the score chain rule:
    :math:`\\nabla\\rho = \\rho\\,\\nabla\\log\\pi`).  A sample whose clipped term is the minimum
    contributes nothing.  Returns ``(gradient, ratio)``: an array of ``policy.theta_shape`` and
    the ratios (N,)."""
    theta = check_policy_theta(policy, theta, ("log_prob", "score"))
    old = check_finite(check_real_array(log_prob_old, "log_prob_old"), "log_prob_old")
    A = check_finite(check_real_array(advantage, "advantage"), "advantage")
    if old.ndim != 1 or A.shape != old.shape:
        raise ValueError(f"log_prob_old and advantage must be 1-d arrays of one length, got shapes "
                         f"{old.shape} and {A.shape}")
    if len(old) == 0:
        raise ValueError("clipped_gradient needs at least one sample")
    if np.shape(actions)[:1] != old.shape or np.shape(states)[:1] != old.shape:
        raise ValueError(f"states and actions must have one row per sample, {len(old)} like "
                         f"log_prob_old; got {np.shape(states)[:1]} and {np.shape(actions)[:1]}")
    ratio = np.exp(policy.log_prob(theta, states, actions) - old)
    c = clipped_objective_slope(ratio, A, clip_range) * ratio
    score = policy.score(theta, states, actions)
    return np.tensordot(c, score, axes=(0, 0)) / len(old), ratio
