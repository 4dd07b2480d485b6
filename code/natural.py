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

   \bar D(\theta, \theta') &= \sum_s d^{\pi_\theta}(s)\,
   \mathrm{KL}\big(\pi_\theta(\cdot\mid s)\,\|\,\pi_{\theta'}(\cdot\mid s)\big) \\
   &= \tfrac12\, \Delta\theta^\top F(\theta)\, \Delta\theta + O(\|\Delta\theta\|^3),
   \qquad \Delta\theta = \theta' - \theta.

The natural gradient is :math:`F^{+}\nabla J` (:func:`natural_gradient`; the pseudo-inverse,
since a softmax policy's :math:`F` is singular), and :func:`conjugate_gradient` solves
:math:`F x = g` with products :math:`F v` only, as the sampled methods do.  Parameters are
flattened to vectors: :math:`F` is ``(k, k)`` with ``k = theta.size``.

Chapter 15 adds what its lessons call: :class:`Reparametrised` (the same policies under
:math:`\theta = B\zeta`, for the invariance of the natural step), :func:`policy_change` (the
first-order change of the policy table a step causes), :func:`softmax_natural_gradient` (the
closed form of the tabular softmax case, the advantage), :func:`exact_ascent` (vanilla and
natural ascent with exact gradients, measured by :func:`pgbook.mdp.stationary_J` against
:func:`pgbook.mdp.optimal_stationary_J`), and a sampled natural policy gradient trainer for gymnasium,
:class:`NaturalConfig`, :class:`NaturalLearner` and :func:`train`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validate import (ArgumentTypeError, NonFiniteError, check_bool, check_choice, check_finite, check_mdp,
                        check_nonnegative, check_policy_theta, check_positive, check_positive_int, check_real_array)
from .episodes import Episodes
from .estimators import policy_gradient_samples, psi, step_scores
from .mdp import (discounted_values, discounted_visitation, grad_J_theorem, policy_table, score_table,
                  stationary_J)
from .policies import SoftmaxPolicy, TabularSoftmax, log_softmax
from .reinforce import BASELINES, Learner, RunConfig, TrainResult, policy_spread, run_learner
from .training import divergence_message

__all__ = ["fisher_exact", "expected_kl", "natural_gradient", "conjugate_gradient", "Reparametrised",
           "policy_change", "softmax_natural_gradient", "AscentPath",
           "exact_ascent", "NaturalConfig", "NaturalLearner", "train"]


def _theta_arg(policy, value, name: str) -> np.ndarray:
    """``value`` checked as parameters of ``policy`` (real, finite, of its ``theta_shape``), with
    errors that name the argument ``name``."""
    value = check_finite(check_real_array(value, name), name)
    shape = getattr(policy, "theta_shape", None)
    if shape is not None and value.shape != tuple(shape):
        raise ValueError(f"{name} must have the policy's parameter shape {tuple(shape)}, got {value.shape}")
    return value


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
    theta = check_policy_theta(policy, theta, ("logits",))
    theta_new = _theta_arg(policy, theta_new, "theta_new")
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
        if Fp.shape != b.shape:
            raise ValueError(f"matvec must return an array of shape {shape} (that of b), got {Fp.size} entries")
        if not np.all(np.isfinite(Fp)):
            raise NonFiniteError(f"matvec must return finite values, got {int(np.sum(~np.isfinite(Fp)))} NaN "
                                 f"or infinite entries of {Fp.size}")
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


# ------------------------------------------------------------------------------ parametrisations
class Reparametrised(SoftmaxPolicy):
    """The policies of a softmax ``policy`` under new parameters :math:`\\zeta`, with
    :math:`\\theta = B\\zeta` for a square invertible ``B`` (``(k, k)``, ``k = policy``'s parameter
    count): ``zeta`` is a vector of ``k`` entries, the logits are ``policy``'s at ``B @ zeta`` and
    the score is :math:`\\nabla_\\zeta\\log\\pi = B^\\top\\nabla_\\theta\\log\\pi`.

    The set of policies is the same; only their coordinates change.  So its Fisher information
    is :math:`F_\\zeta = B^\\top F_\\theta B` and its gradient :math:`\\nabla_\\zeta J = B^\\top\\nabla_\\theta J`,
    and every exact function of :mod:`pgbook.mdp` and of this module accepts it."""

    def __init__(self, policy, B):
        if not isinstance(policy, SoftmaxPolicy):
            raise ArgumentTypeError(f"policy must be a softmax policy such as pgbook.policies.TabularSoftmax, "
                                    f"got {type(policy).__name__}")
        k = int(np.prod(policy.theta_shape))
        B = check_finite(check_real_array(B, "B"), "B")
        if B.shape != (k, k):
            raise ValueError(f"B must be a square ({k}, {k}) matrix (the policy has {k} parameters), "
                             f"got shape {B.shape}")
        if np.linalg.cond(B) > 1e12:
            raise ValueError("B must be invertible (its condition number is above 1e12)")
        self.base, self.B = policy, B
        self.n_actions = policy.n_actions
        self.theta_shape = (k,)

    def __repr__(self) -> str:
        return f"Reparametrised({self.base!r}, B of shape {self.B.shape})"

    def theta(self, zeta) -> np.ndarray:
        """The base policy's parameters :math:`\\theta = B\\zeta`, of its ``theta_shape``."""
        return (self.B @ self.check_theta(zeta)).reshape(self.base.theta_shape)

    def zeta(self, theta) -> np.ndarray:
        """The new parameters :math:`\\zeta = B^{-1}\\theta` of the base policy's ``theta``."""
        theta = self.base.check_theta(theta)
        return np.linalg.solve(self.B, theta.reshape(-1))

    def logits(self, zeta, obs) -> np.ndarray:
        return self.base.logits(self.theta(zeta), obs)

    def score(self, zeta, obs, actions) -> np.ndarray:
        """:math:`B^\\top\\nabla_\\theta\\log\\pi`, shape ``(*batch, k)``."""
        g = np.asarray(self.base.score(self.theta(zeta), obs, actions), dtype=float)
        batch = g.shape[:g.ndim - len(self.base.theta_shape)]
        return g.reshape(batch + (-1,)) @ self.B


def policy_change(mdp, policy, theta, step) -> np.ndarray:
    """The first-order change of the policy table caused by the parameter step :math:`\\Delta\\theta`,

    .. math::

       \\sum_i \\frac{\\partial \\pi_\\theta(a\\mid s)}{\\partial\\theta_i}\\Delta\\theta_i
       = \\pi_\\theta(a\\mid s)\\,\\nabla_\\theta\\log\\pi_\\theta(a\\mid s)^\\top\\Delta\\theta,

    shape ``(S, A)``: the step seen in policy space, whatever the parametrisation."""
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    step = check_finite(check_real_array(step, "step"), "step")
    if step.shape != theta.shape:
        raise ValueError(f"step must have the shape of theta, {theta.shape}; got {step.shape}")
    pi = policy_table(mdp, policy, theta)
    return pi * (_flat_scores(mdp, policy, theta) @ step.reshape(-1))


# ------------------------------------------------------------------------------ tabular closed form
def softmax_natural_gradient(mdp, theta) -> np.ndarray:
    """The natural gradient of a :class:`pgbook.policies.TabularSoftmax` in closed form: the
    advantage :math:`A^\\pi(s, a) = Q^\\pi(s, a) - V^\\pi(s)` of :func:`pgbook.mdp.discounted_values`,
    centred over the actions of each state, at every state with :math:`d^\\pi(s) > 0` (0 elsewhere).

    It equals :func:`natural_gradient` of :func:`fisher_exact` and
    :func:`pgbook.mdp.grad_J_theorem`: every solution of :math:`F x = \\nabla J` is
    :math:`A^\\pi(s, a)` plus a constant per state (any row at a state never visited), and the
    pseudo-inverse picks the one of least norm.  Shape ``(S, A)``.

    With :math:`d^\\pi` normalised to a probability, :math:`F` is divided by
    :math:`Z = \\sum_s d^\\pi(s)`, the expected discounted number of actions of an episode, and the
    natural gradient is multiplied by :math:`Z`; :math:`Z = 1/(1-\\gamma)` only when episodes
    never end, and is smaller when they do."""
    mdp = check_mdp(mdp)
    policy = TabularSoftmax(mdp.n_states, mdp.n_actions)
    pi = policy_table(mdp, policy, theta)
    V, Q = discounted_values(mdp, pi)
    A = Q - V[:, None]
    visited = discounted_visitation(mdp, pi) > 0
    return np.where(visited[:, None], A - A.mean(axis=1, keepdims=True), 0.0)


@dataclass
class AscentPath:
    """What :func:`exact_ascent` returns: ``J`` (iterations + 1,), the stationary objective before
    each step and after the last, and ``theta``, the final logits."""

    J: np.ndarray
    theta: np.ndarray

    def iterations_to(self, target: float):
        """The first iteration after which ``J`` is at least ``target`` (0: already at the start),
        or None if it never is."""
        hits = np.flatnonzero(self.J >= target)
        return int(hits[0]) if hits.size else None


def exact_ascent(mdp, theta0, step: float, iterations: int, natural: bool = False) -> AscentPath:
    """Gradient ascent on the stationary objective of a tabular softmax policy with exact
    gradients: ``iterations`` steps :math:`\\theta \\leftarrow \\theta + \\alpha\\,\\nabla J` (the
    policy gradient theorem, :func:`pgbook.mdp.grad_J_theorem`) or, with ``natural=True``,
    :math:`\\theta \\leftarrow \\theta + \\alpha\\,F^{+}\\nabla J` (:func:`softmax_natural_gradient`),
    with the fixed step size ``step`` :math:`= \\alpha`.  Returns an :class:`AscentPath`."""
    mdp = check_mdp(mdp)
    policy = TabularSoftmax(mdp.n_states, mdp.n_actions)
    theta = policy.check_theta(_theta_arg(policy, theta0, "theta0")).copy()
    step = check_positive(step, "step")
    iterations = check_positive_int(iterations, "iterations")
    check_bool(natural, "natural")
    J = np.empty(iterations + 1)
    J[0] = stationary_J(mdp, policy, theta)
    for i in range(1, iterations + 1):
        direction = softmax_natural_gradient(mdp, theta) if natural else grad_J_theorem(mdp, policy, theta)
        theta = theta + step * direction
        J[i] = stationary_J(mdp, policy, theta)
    return AscentPath(J=J, theta=theta)


# ------------------------------------------------------------------------------ sampled trainer
@dataclass
class NaturalConfig(RunConfig):
    """Every setting of a sampled natural policy gradient run; the fields it shares with
    :class:`pgbook.reinforce.ReinforceConfig` are spelled and mean the same, except
    ``learning_rate`` and ``optimiser``, which it does not use: the length of each step is set
    by ``max_kl``.

    Each iteration estimates the gradient as REINFORCE does (reward-to-go minus ``baseline``),
    estimates the Fisher information from the same batch's scores, solves
    :math:`(\\hat F + \\text{damping}\\,I)\\,x = \\hat g` by ``cg_iterations`` conjugate-gradient
    steps and moves by :math:`\\sqrt{2\\,\\text{max\\_kl} / x^\\top(\\hat F + \\text{damping}\\,I) x}\\; x`,
    a step whose expected KL divergence over the batch's states is ``max_kl`` to second order
    (up to the damping term).  See ``benchmarks/natural_cartpole.py``
    for what the defaults achieve on CartPole-v1.
    """

    max_kl: float = 0.01
    """Size of each step: the second-order KL divergence between the policies before and after
    it, averaged over the batch's steps: 0.5 * x' (F + damping I) x = max_kl for the step x."""
    cg_iterations: int = 10
    """Conjugate-gradient steps for (F + damping I) x = g (at most the number of parameters are needed)."""
    damping: float = 1e-3
    """Added to the diagonal of the estimated Fisher matrix, which a batch can leave singular."""
    baseline: str = "value"
    """``"none"``, ``"batch-mean"`` or ``"value"``, as in :class:`pgbook.reinforce.ReinforceConfig`."""

    def validate(self) -> "NaturalConfig":
        """Raise an error naming the first field with a bad value; return self."""
        super().validate()
        check_positive(self.max_kl, "max_kl")
        check_positive_int(self.cg_iterations, "cg_iterations")
        check_nonnegative(self.damping, "damping")
        check_choice(self.baseline, BASELINES, "baseline")
        return self

    def trainer(self) -> Callable:
        return train

    def learner(self, policy, rng: np.random.Generator, horizon: int) -> "NaturalLearner":
        return NaturalLearner(self, policy, rng)


class NaturalLearner(Learner):
    """One sampled natural policy gradient run: the REINFORCE learner
    (:class:`pgbook.reinforce.Learner`: baseline, metrics, collapse watch) whose step is the
    natural one, :meth:`natural_step`."""

    def diverge(self, what: str, iteration: int):
        hint = f"lower max_kl (now {self.config.max_kl:g}), or raise damping (now {self.config.damping:g})"
        self.status, self.message = "diverged", divergence_message(iteration, f"{what} became NaN or infinite", hint)

    def natural_step(self, score, grad, mask):
        """``(step, x)``: ``x`` solves :math:`(\\hat F + \\text{damping}\\, I) x = \\hat g` by conjugate
        gradients, with :math:`\\hat F v` the mean over the batch's steps of
        :math:`s_t (s_t^\\top v)` (``score`` (n, T, ...), ``mask`` (n, T)); ``step`` is ``x`` scaled so
        that :math:`\\tfrac12 \\text{step}^\\top (\\hat F + \\text{damping}\\, I)\\, \\text{step} =
        \\text{max\\_kl}` (0 if that form is 0 at ``x``)."""
        c = self.config
        S = score[mask].reshape(int(mask.sum()), -1)
        shape = grad.shape

        def fisher_vector(v):
            return (S.T @ (S @ v.reshape(-1)) / len(S) + c.damping * v.reshape(-1)).reshape(shape)

        x = conjugate_gradient(fisher_vector, grad, c.cg_iterations)
        curvature = float(x.reshape(-1) @ fisher_vector(x).reshape(-1))
        if not curvature > 0:
            return np.zeros_like(x), x
        return np.sqrt(2.0 * c.max_kl / curvature) * x, x

    def update(self, episodes: Episodes, iteration: int, start: float, cpu_start: float):
        """One iteration on ``episodes``: gradient, Fisher solve, natural step, value refit, metrics."""
        config, policy, theta, mask = self.config, self.policy, self.theta, episodes.mask
        if not self.accept(episodes, iteration):
            return None
        Psi = psi(episodes.rewards, config.gamma, mask)
        try:
            with np.errstate(all="ignore"):  # non-finite scores are caught just below
                score = step_scores(policy, theta, episodes)
                samples = policy_gradient_samples(score, Psi, None, self.baseline(episodes, Psi), mask)
                grad = samples.mean(axis=0)
                step, x = self.natural_step(score, grad, mask) if np.all(np.isfinite(grad)) else (grad, grad)
                spread = policy_spread(policy, theta, episodes)
        except NonFiniteError:  # non-finite logits, scores or Fisher-vector products
            samples = step = np.array([np.nan])
        if not np.all(np.isfinite(samples)):
            self.diverge("the gradient", iteration)
            return None
        if not np.all(np.isfinite(step)):
            self.diverge("the natural step", iteration)
            return None
        new_theta = theta + step
        if not np.all(np.isfinite(new_theta)):
            self.diverge("the parameters", iteration)
            return None
        self.theta = new_theta
        self.fit_value(episodes, Psi)
        metrics = self.metrics(episodes, samples, grad, spread, iteration, start, cpu_start)
        metrics["step_norm"] = float(np.linalg.norm(step))
        self.history.append(metrics)
        se = metrics["return_std"] / np.sqrt(episodes.n)
        if self.watch.observe(iteration, metrics["return_mean"], spread[1], se):
            self.status, self.message = "collapsed", self.watch.message(
                iteration, f"lower max_kl (now {config.max_kl:g})")
        return metrics


def train(config: NaturalConfig | None = None, callback: Callable[[dict], bool | None] | None = None,
          **overrides) -> TrainResult:
    """Train a policy with the sampled natural policy gradient (:class:`NaturalConfig`).

    Same call, budgets, seeding, progress bar, divergence and collapse handling as
    :func:`pgbook.reinforce.train`, and the same metrics per iteration (``return_mean`` of the
    batch played before the update, ``env_steps``, ``wall_time``, ``cpu_time``, ``grad_norm``
    of the vanilla gradient estimate, ``entropy``, ``theta`` ...), plus ``step_norm``, the
    Euclidean length of the natural step taken.  Returns a :class:`pgbook.reinforce.TrainResult`
    whose ``config`` is the :class:`NaturalConfig`.
    """
    return run_learner(NaturalConfig.make(config, **overrides), callback, "natural PG")
