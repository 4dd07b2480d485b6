r"""Gradient estimators and the tools that check them.

* :func:`discounted_return`, :func:`returns_to_go` -- :math:`R(\tau)` and :math:`G_t`.
* :func:`policy_gradient_samples` -- one score-function gradient sample per trajectory,
  :math:`\sum_t w_t\,\nabla\log\pi(a_t\mid s_t)\,(\Psi_t - b_t)`.
* :func:`trajectory_gradient_samples` -- the same straight from sampled trajectories, in chunks.
* :func:`estimand` -- which gradient the mean of those samples is (:math:`\nabla J_\gamma`,
  :math:`\nabla J_1` or neither); :func:`exact_estimator_mean` -- that mean, exactly, on a small MDP.
* :func:`score_function_samples` -- :math:`f(x)\nabla\log p(x)` for any distribution object.
* :func:`finite_difference_gradient` (deterministic) and :func:`finite_difference_gradient_crn`
  (noisy, common random numbers); :func:`finite_difference_jacobian` for a function that returns
  an array (e.g. one log-probability per sample), all outputs differenced at once.
* :func:`compare` -- the book's one check of a Monte Carlo estimate against an exact value: z-scores
  held to :func:`z_threshold`, which accounts for how many comparisons are made and for skewed
  samples, with a stated false-failure probability (:data:`FALSE_FAILURE` by default).
* :func:`batch_rms_error` -- how the error of a Monte Carlo average shrinks with the batch size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validate import (check_episodes, check_finite, check_gamma, check_policy_theta, check_positive,
                        check_positive_int, check_rng)
from .policies import TabularSoftmax

__all__ = [
    "discounted_return",
    "returns_to_go",
    "psi",
    "step_weights",
    "step_scores",
    "policy_gradient_samples",
    "trajectory_gradient_samples",
    "estimand",
    "exact_estimator_mean",
    "score_function_samples",
    "score_function_from_draws",
    "finite_difference_gradient",
    "finite_difference_gradient_crn",
    "finite_difference_jacobian",
    "FALSE_FAILURE",
    "z_threshold",
    "Comparison",
    "compare",
    "batch_rms_error",
]


def _rewards_mask(rewards, mask):
    rewards = check_finite(rewards, "rewards")
    if rewards.ndim != 2:
        raise ValueError(f"rewards must have shape (n, T), got {rewards.shape}")
    if mask is None:
        return rewards, np.ones(rewards.shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != rewards.shape:
        raise ValueError(f"mask must have the shape of rewards {rewards.shape}, got {mask.shape}")
    if mask.dtype != bool:
        if not np.all(np.isin(mask, (0, 1))):
            raise ValueError("mask must be boolean (True where an action was taken)")
        mask = mask.astype(bool)
    return rewards, mask


def discounted_return(rewards, gamma, mask=None) -> np.ndarray:
    """:math:`R(\\tau) = \\sum_{t} \\gamma^t r_t` over unmasked steps; rewards (n, T) -> (n,)."""
    rewards, mask = _rewards_mask(rewards, mask)
    gamma = check_gamma(gamma)
    disc = gamma ** np.arange(rewards.shape[1])
    return (np.where(mask, rewards, 0.0) * disc).sum(axis=1)


def returns_to_go(rewards, gamma, mask=None) -> np.ndarray:
    """:math:`G_t = \\sum_{k \\ge t} \\gamma^{k-t} r_k`, shape (n, T); zero where ``mask`` is False."""
    rewards, mask = _rewards_mask(rewards, mask)
    gamma = check_gamma(gamma)
    r = np.where(mask, rewards, 0.0)
    G = np.zeros_like(r)
    running = np.zeros(r.shape[0])
    for t in range(r.shape[1] - 1, -1, -1):
        running = r[:, t] + gamma * running
        G[:, t] = running
    return np.where(mask, G, 0.0)


def psi(rewards, gamma, mask=None, reward_to_go: bool = True) -> np.ndarray:
    """:math:`\\Psi_t`, what weighs the score of step t, shape (n, T); zero where ``mask`` is False.

    ``reward_to_go=True``: the reward-to-go :math:`G_t` (:func:`returns_to_go`);
    ``reward_to_go=False``: the full discounted return :math:`R(\\tau)` at every step taken.
    """
    rewards, mask = _rewards_mask(rewards, mask)
    G = returns_to_go(rewards, gamma, mask)
    if reward_to_go:
        return G
    return np.where(mask, G[:, :1], 0.0)          # G_0 = R(tau), the return discounted from step 0


def step_weights(gamma, T: int, reward_to_go: bool = True, discount_weighting: bool = True) -> np.ndarray:
    """:math:`w_t`, shape (T,): :math:`\\gamma^t` for the reward-to-go with ``discount_weighting``,
    else 1 (the full return :math:`R(\\tau)` is already discounted from step 0)."""
    gamma = check_gamma(gamma)
    T = check_positive_int(T, "T")
    if reward_to_go and discount_weighting:
        return gamma ** np.arange(T)
    return np.ones(T)


def step_scores(policy, theta, episodes) -> np.ndarray:
    """:math:`\\nabla_\\theta\\log\\pi_\\theta(a_t\\mid s_t)` at every step of ``episodes``
    (a :class:`pgbook.episodes.Episodes`), shape ``(n, T, *theta_shape)``, zero where no action was taken."""
    check_episodes(episodes)
    mask = episodes.mask
    actions = episodes.actions
    if actions.ndim == 2:                        # discrete actions: padding holds a valid index
        actions = np.where(mask, actions, 0)
    score = policy.score(theta, episodes.states, actions)
    return score * mask.reshape(mask.shape + (1,) * (score.ndim - 2))


def policy_gradient_samples(score, psi, w=None, baseline=None, mask=None) -> np.ndarray:
    """The book's estimator, one sample per episode, shape ``(n, *theta_shape)``:

    .. math::

       \\hat g_i = \\sum_{t=0}^{T-1} w_t\\,
       \\nabla_\\theta \\log\\pi_\\theta(a_t\\mid s_t)\\,(\\Psi_t - b_t),
       \\qquad \\hat g = \\frac1n \\sum_i \\hat g_i .

    ``score`` of shape ``(n, T, *theta_shape)`` from :func:`step_scores`; ``psi`` (n, T) from :func:`psi`;
    ``w`` (T,) from :func:`step_weights` (None: 1); ``baseline`` :math:`b_t`: None (0), a scalar,
    a (T,) or an (n, T) array; ``mask`` (n, T), True where an action was taken (None: every
    step): other steps contribute 0.  With :math:`w_t = \\gamma^t` for the reward-to-go (or
    :math:`w_t = 1` for the full return) and any baseline that does not depend on the action
    taken, the mean is an unbiased estimate of :math:`\\nabla_\\theta J`
    (:func:`estimand` names the target of the other settings).
    """
    psi = check_finite(psi, "psi")
    if psi.ndim != 2:
        raise ValueError(f"psi must have shape (n, T), got {psi.shape}")
    n, T = psi.shape
    score = check_finite(score, "score")
    if score.shape[:2] != (n, T):
        raise ValueError(f"score must have shape (n, T, *theta_shape) = ({n}, {T}, ...), got {score.shape}")
    coef = psi
    if baseline is not None:
        b = check_finite(baseline, "baseline")
        if b.shape not in ((), (T,), (n, T)):
            raise ValueError(f"baseline must be a scalar, shape ({T},) or ({n}, {T}); got {b.shape}")
        coef = coef - b
    if w is not None:
        w = check_finite(w, "w")
        if w.shape not in ((), (T,)):
            raise ValueError(f"w must be a scalar or have shape ({T},); got {w.shape}")
        coef = coef * w
    if mask is not None:
        coef = np.where(_rewards_mask(psi, mask)[1], coef, 0.0)
    return np.einsum("nt,nt...->n...", coef, score)


def trajectory_gradient_samples(policy, theta, episodes, gamma, reward_to_go: bool = True,
                                discount_weighting: bool = True, baseline=None,
                                chunk: int = 2048) -> np.ndarray:
    """:func:`policy_gradient_samples` straight from ``episodes`` (a :class:`pgbook.episodes.Episodes`).

    Forms :math:`\\Psi_t` (:func:`psi`) and :math:`w_t` (:func:`step_weights`) once, then the
    scores (:func:`step_scores`) in chunks of ``chunk`` episodes, without the trailing steps
    where no episode acts, so long horizons with short episodes stay cheap.  For a
    :class:`~pgbook.policies.TabularSoftmax` the same sums are formed by scattering each step's
    coefficient into row :math:`s_t` (no (n, T, S, A) score array is built).  ``baseline`` as in
    :func:`policy_gradient_samples`.
    """
    chunk = check_positive_int(chunk, "chunk")
    check_episodes(episodes)
    theta = check_policy_theta(policy, theta, ("score",))
    T_full = episodes.mask.shape[1]
    b = None if baseline is None else check_finite(baseline, "baseline")
    if b is not None and b.shape not in ((), (T_full,), (episodes.n, T_full)):
        raise ValueError(f"baseline must be a scalar, shape ({T_full},) or ({episodes.n}, {T_full}); got {b.shape}")
    episodes = episodes.trimmed()
    n, T = episodes.mask.shape
    if b is not None and b.ndim:
        b = b[..., :T]
    Psi = psi(episodes.rewards, gamma, episodes.mask, reward_to_go)
    w = step_weights(gamma, T, reward_to_go, discount_weighting)
    if isinstance(policy, TabularSoftmax):
        # Fast path, same numbers: score_t = onehot(s_t) (onehot(a_t) - pi(.|s_t)), so the sum over t
        # scatters each step's coefficient into row s_t instead of building (n, T, S, A) scores.
        S, A = policy.theta_shape
        coef = np.where(episodes.mask, (Psi - (0.0 if b is None else b)) * w, 0.0)
        i, t = np.nonzero(episodes.mask)                               # only the steps where an action was taken
        c, s, a = coef[i, t], episodes.states[i, t], episodes.actions[i, t]
        for name, values, size in (("states", s, S), ("actions", a, A)):
            if values.size and (values.dtype.kind not in "iu" or values.min() < 0 or values.max() >= size):
                raise ValueError(f"episodes.{name} must be integers in [0, {size}) at every valid step for "
                                 f"{policy!r}; got {values.dtype} values in [{values.min()}, {values.max()}]")
        out = np.bincount((i * S + s) * A + a, weights=c, minlength=n * S * A).reshape(n, S, A)
        pi = policy.table(theta)
        for k in range(A):                                             # minus c_t * pi(k | s_t) in row s_t
            out[:, :, k] -= np.bincount(i * S + s, weights=c * pi[s, k], minlength=n * S).reshape(n, S)
        return out
    out = []
    for i in range(0, n, chunk):
        rows = slice(i, min(i + chunk, n))
        bi = b[rows] if b is not None and b.ndim == 2 else b
        out.append(policy_gradient_samples(step_scores(policy, theta, episodes.take(rows)), Psi[rows], w,
                                           baseline=bi, mask=episodes.mask[rows]))
    return np.concatenate(out, axis=0)


def estimand(gamma, reward_to_go: bool = True, discount_weighting: bool = True) -> str:
    r"""What the mean of :func:`policy_gradient_samples` is, for these settings.

    Two objectives are in play: :math:`J_\gamma = \mathbb E[\sum_t \gamma^t r_t]`, the one the
    estimator is derived for, and :math:`J_1 = \mathbb E[\sum_t r_t]`, the plain total reward (for
    CartPole, the episode length).  Returns

    * ``"grad J_1"`` when ``gamma == 1`` (then :math:`J_\gamma = J_1` and every setting is unbiased);
    * ``"grad J_gamma"`` for the full return (``reward_to_go=False``, weights 1) or for the
      reward-to-go with :math:`w_t = \gamma^t` (``discount_weighting=True``), any action-independent
      baseline;
    * ``"neither"`` for the reward-to-go without :math:`\gamma^t` when :math:`\gamma < 1`: its mean is
      not the gradient of :math:`J_\gamma`, of :math:`J_1`, or of any function (Nota and Thomas, 2020).
    """
    gamma = check_gamma(gamma)
    if gamma == 1.0:
        return "grad J_1"
    if not reward_to_go or discount_weighting:
        return "grad J_gamma"
    return "neither"


def exact_estimator_mean(mdp, policy, theta, reward_to_go: bool = True, discount_weighting: bool = True,
                         baseline=None) -> np.ndarray:
    r"""The exact mean of :func:`policy_gradient_samples` on a small tabular MDP, by listing every trajectory.

    :math:`\sum_\tau P_\theta(\tau)\,\hat g(\tau)` over all trajectories of ``mdp`` under the
    policy (``pgbook.mdp.enumerate_trajectories``); ``baseline`` as in :func:`policy_gradient_samples`
    (None, a scalar or a (T,) array).  Returns an array of ``policy.theta_shape``.
    """
    from . import mdp as mdp_module                      # estimators is imported by mdp's users; no cycle

    theta = policy.check_theta(theta)
    enum = mdp_module.enumerate_trajectories(mdp, mdp_module.policy_table(mdp, policy, theta))
    samples = trajectory_gradient_samples(policy, theta, enum, mdp.gamma, reward_to_go, discount_weighting,
                                          baseline)
    return enum.expectation(samples)


def score_function_samples(dist, f, n: int, rng: np.random.Generator, baseline=None) -> np.ndarray:
    """Samples of :math:`(f(x) - b)\\,\\nabla\\log p(x)`, :math:`x \\sim p`, shape (n, P).

    ``dist`` needs ``sample(rng, n)`` and ``score(x) -> (n, P)``; ``f`` maps the (n, ...) samples to
    (n,) values; ``baseline`` is None or a scalar.  Their mean estimates :math:`\\nabla\\mathbb E_p[f]`.
    """
    n = check_positive_int(n, "n")
    x = dist.sample(check_rng(rng), n)
    fx = check_finite(f(x), "f(x)")
    if fx.shape != (n,):
        raise ValueError(f"f must return one value per sample, shape ({n},); got {fx.shape}")
    return score_function_from_draws(dist, x, fx, baseline)


def score_function_from_draws(dist, x, fx, baseline=None) -> np.ndarray:
    """:func:`score_function_samples` for draws already made: ``x`` (n, ...) from ``dist`` and
    their values ``fx`` (n,); returns :math:`(f(x) - b)\\,\\nabla\\log p(x)`, shape (n, P).

    For a loop that needs the draws and their values itself (evolution strategies ranks the
    values; variational inference records their mean), so nothing is drawn twice.
    """
    fx = check_finite(fx, "fx")
    if fx.ndim != 1:
        raise ValueError(f"fx must have shape (n,), one value per draw; got {fx.shape}")
    n = fx.shape[0]
    if baseline is not None:
        b = check_finite(baseline, "baseline")
        if b.shape != ():
            raise ValueError(f"baseline must be a scalar, got shape {b.shape}")
        fx = fx - b
    score = np.asarray(dist.score(x), dtype=float)
    return fx.reshape((n,) + (1,) * (score.ndim - 1)) * score


def finite_difference_gradient(fn, theta, eps: float = 1e-5) -> np.ndarray:
    """Central differences :math:`(f(\\theta + \\epsilon e_i) - f(\\theta - \\epsilon e_i)) / 2\\epsilon`
    of a deterministic scalar function; returns an array of ``theta``'s shape (the scalar case of
    :func:`finite_difference_jacobian`)."""
    return finite_difference_jacobian(lambda t: np.asarray(float(fn(t))), theta, eps)


def finite_difference_gradient_crn(fn, theta, seed, eps: float = 1e-2) -> np.ndarray:
    """Central differences of a noisy function ``fn(theta, rng)`` with common random numbers.

    Both sides of every difference get a fresh ``numpy.random.default_rng(seed)``, so the noise
    largely cancels.  ``seed`` is an int or a sequence of ints.
    """
    return finite_difference_gradient(lambda t: fn(t, np.random.default_rng(seed)), theta, eps)


def finite_difference_jacobian(fn, theta, eps: float = 1e-5) -> np.ndarray:
    """Central differences of an array-valued deterministic function, all outputs at once.

    ``fn(theta)`` returns an array of some shape ``out_shape`` (for instance one value per sample,
    ``(n,)``); the result has shape ``(*out_shape, *theta.shape)`` with entry
    :math:`[i, j] = (f_i(\\theta + \\epsilon e_j) - f_i(\\theta - \\epsilon e_j)) / 2\\epsilon`.
    It costs ``2 * theta.size`` calls of ``fn``, however many outputs there are.  Raises ValueError if
    ``fn`` returns values that are not finite or whose shape changes with ``theta``.
    """
    theta = check_finite(theta, "theta")
    eps = check_positive(eps, "eps")
    columns = []
    out_shape = None
    for i in range(theta.size):
        e = np.zeros(theta.size)
        e[i] = eps
        e = e.reshape(theta.shape)
        up, down = (check_finite(fn(theta + e), "fn(theta)"), check_finite(fn(theta - e), "fn(theta)"))
        if out_shape is None:
            out_shape = up.shape
        if up.shape != out_shape or down.shape != out_shape:
            raise ValueError(f"fn must return arrays of one fixed shape; got {out_shape}, {up.shape} and {down.shape}")
        columns.append((up - down) / (2 * eps))
    return np.stack(columns, axis=-1).reshape(out_shape + theta.shape)


#: The false-failure probability of one check (one call of :func:`compare`) unless a caller says otherwise.
FALSE_FAILURE = 1e-6


def _normal_upper_tail(x):
    r""":math:`1 - \Phi(x)` for a standard normal, elementwise."""
    return 0.5 * np.vectorize(math.erfc)(np.asarray(x, dtype=float) / math.sqrt(2.0))


def _regularized_beta(a: float, b: float, x):
    """:math:`I_x(a, b)`, the regularised incomplete beta function, elementwise in ``x`` in [0, 1]
    (Lentz's continued fraction, as in Numerical Recipes' ``betacf``)."""
    x = np.asarray(x, dtype=float)
    flip = x > (a + 1) / (a + b + 2)                  # the fraction converges fast below this point
    a2, b2 = np.where(flip, b, a), np.where(flip, a, b)
    y = np.where(flip, 1 - x, x)
    tiny = 1e-300
    log_front = (a2 * np.log(np.maximum(y, tiny)) + b2 * np.log(np.maximum(1 - y, tiny))
                 + np.vectorize(math.lgamma)(a2 + b2) - np.vectorize(math.lgamma)(a2)
                 - np.vectorize(math.lgamma)(b2))
    c, d = np.ones_like(y), 1 - (a2 + b2) * y / (a2 + 1)
    d = 1 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    for m in range(1, 300):
        for numerator in (m * (b2 - m) * y / ((a2 + 2 * m - 1) * (a2 + 2 * m)),
                          -(a2 + m) * (a2 + b2 + m) * y / ((a2 + 2 * m) * (a2 + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / np.where(np.abs(d) < tiny, tiny, d)
            c = 1 + numerator / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            h = h * d * c
        if np.all(np.abs(d * c - 1) < 1e-15):
            break
    front = np.exp(log_front) * h / a2
    out = np.where(flip, 1 - front, front)
    return np.where(y <= 0, np.where(flip, 1.0, 0.0), out)


def _student_upper_tail(x, dof: float):
    r""":math:`P(t_\nu > x)` for Student's t with ``dof`` degrees of freedom, elementwise in ``x`` >= 0."""
    x = np.asarray(x, dtype=float)
    return 0.5 * _regularized_beta(dof / 2, 0.5, dof / (dof + x * x))


def z_threshold(comparisons: int = 1, false_failure: float = FALSE_FAILURE, skewness=0.0, n=None):
    r"""The bound on :math:`|z|` that a correct Monte Carlo estimate exceeds with probability at most
    ``false_failure``, over ``comparisons`` z-scores taken together.

    Each of the ``comparisons`` z-scores gets the share ``false_failure / comparisons`` (Bonferroni:
    valid whatever the dependence between them), split evenly between the two tails.  Each tail of
    the studentised mean :math:`z` of ``n`` samples is charged

    .. math:: P(t_{n-1} > x) + \frac{|\kappa|}{6\sqrt n}(2x^2+1)\,\varphi(x)
              + \frac{\kappa^2}{18\,n}\,x\,(x^4 + 2x^2 - 3)\,\varphi(x),

    Student's t tail (exact for normal samples) plus the skewness terms of the Edgeworth expansion
    of the studentised mean to order :math:`1/n` (Hall, 1987), with :math:`\kappa` the skewness of
    the samples.  The first skewness term shifts probability from one tail to the other; it is
    charged in full to both.  The bound returned is the :math:`x` at which this equals
    ``false_failure / (2 * comparisons)``.  With ``n=None`` it is the normal quantile
    :math:`\Phi^{-1}(1 - \alpha/2m)` (the limit of many samples).  ``skewness`` may be an array
    (one value per z-score); the result then has its shape.
    """
    comparisons = check_positive_int(comparisons, "comparisons")
    alpha = check_positive(false_failure, "false_failure")
    if alpha >= 1:
        raise ValueError(f"false_failure must be a probability in (0, 1), got {alpha}")
    kappa = np.abs(check_finite(skewness, "skewness"))
    if n is not None:
        n = check_positive_int(n, "n")
        if n < 2:
            raise ValueError(f"n must be at least 2 (a standard error needs two samples), got {n}")
    target = alpha / (2 * comparisons)
    lo, hi = np.zeros_like(kappa), np.full_like(kappa, 50.0 if n is None else 1e4)

    def tail(x):
        if n is None:
            return _normal_upper_tail(x)
        density = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        first = kappa / (6 * math.sqrt(n)) * (2 * x * x + 1) * density
        second = kappa ** 2 / (18 * n) * x * (x ** 4 + 2 * x ** 2 - 3) * density
        return _student_upper_tail(x, n - 1) + first + second

    for _ in range(100):                     # bisection: the tail falls from about 1/2 to ~0
        mid = 0.5 * (lo + hi)
        above = tail(mid) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    out = hi
    return float(out) if out.ndim == 0 else out


def _skewness(samples):
    """Sample skewness of each column of ``samples`` (n, ...); 0 where the column is constant."""
    centred = samples - samples.mean(axis=0)
    m2 = np.mean(centred ** 2, axis=0)
    m3 = np.mean(centred ** 3, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(m2 > 0, m3 / np.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)
    return kappa


@dataclass(frozen=True, eq=False)
class Comparison:
    """Monte Carlo samples against an exact value, per component, and the verdict.

    ``mean``, ``standard_error`` (sample std / sqrt(n)), ``z = (mean - exact) / standard_error``
    (0 where both the error and the standard error are 0), ``max_abs_z``, ``n``, ``exact``;
    ``skewness`` of each component's samples; ``threshold``, the bound on each component's
    :math:`|z|` from :func:`z_threshold`; ``comparisons`` and ``false_failure``, the family the
    check belongs to and the probability that a correct estimator fails it.  ``passed`` is True
    when every testable :math:`|z|` is below its threshold: the estimate agrees with the exact value.
    ``testable`` marks the components with enough samples for their skewness (see :func:`compare`);
    the others are counted by ``untested`` and named in :meth:`verdict`, never judged, so a check
    that must cover every component asserts ``c.passed and c.untested == 0``.
    """

    mean: np.ndarray
    standard_error: np.ndarray
    z: np.ndarray
    max_abs_z: float
    n: int
    exact: np.ndarray
    skewness: np.ndarray
    threshold: np.ndarray
    comparisons: int
    false_failure: float
    testable: np.ndarray

    @property
    def passed(self) -> bool:
        """True when every testable component's :math:`|z|` is below its threshold."""
        return bool(np.all((np.abs(self.z) < self.threshold) | ~self.testable))

    @property
    def untested(self) -> int:
        """How many components were too skewed (or had no spread) to be judged by a z-score."""
        return int(np.size(self.testable) - np.count_nonzero(self.testable))

    def verdict(self) -> str:
        """One line (under 80 characters): the component nearest its bound (largest
        :math:`|z|` / threshold), and what the bound guarantees; a second line says how many
        components were too skewed to test, if any."""
        ratio = np.where(self.testable, np.abs(self.z) / self.threshold, -1.0).reshape(-1)
        k = int(np.argmax(ratio))
        word = "agrees" if self.passed else "DISAGREES"
        z = np.abs(self.z).reshape(-1)[k]
        bound = np.reshape(self.threshold, -1)[k]
        plural = "s" if self.comparisons != 1 else ""
        line = (f"{word}: |z| {z:.2f} vs bound {bound:.2f}, {self.comparisons} "
                f"comparison{plural}, false-failure prob. {self.false_failure:.0e}")
        if self.untested:
            line += f"\n  ({self.untested} of {self.testable.size} untested: too skewed to judge)"
        return line

    def __str__(self) -> str:
        mean, se, z, ex, th = (np.atleast_1d(x).reshape(-1) for x in (self.mean, self.standard_error, self.z,
                                                                       self.exact, self.threshold))
        lines = [f"{'component':>9} {'exact':>11} {'MC mean':>11} {'std err':>10} {'z':>7} {'bound':>6}"]
        idx = list(np.ndindex(np.shape(self.exact))) or [()]
        for k, (e, m, s, zz, b) in enumerate(zip(ex, mean, se, z, th)):
            name = ",".join(map(str, idx[k])) if idx[k] else "-"
            lines.append(f"{name:>9} {e:11.5f} {m:11.5f} {s:10.5f} {zz:7.2f} {b:6.2f}")
        lines.append(f"n = {self.n} samples")
        lines.append(self.verdict())
        return "\n".join(lines)


def _samples_and_exact(samples, exact):
    """Check that ``samples`` (n, *shape) are finite and match the finite ``exact`` value (shape)."""
    samples = check_finite(samples, "samples")
    exact = check_finite(exact, "exact")
    if samples.ndim < 1 or samples.shape[1:] != exact.shape:
        raise ValueError(f"samples must have shape (n, *exact.shape) = (n, {', '.join(map(str, exact.shape))}), "
                         f"got {samples.shape}")
    return samples, exact


def compare(samples, exact, comparisons: int | None = None, false_failure: float = FALSE_FAILURE) -> Comparison:
    r"""Does the Monte Carlo average of ``samples`` agree with the ``exact`` value?

    ``samples`` has shape ``(n, *exact.shape)``: one row per Monte Carlo draw.

    The book's one test of a Monte Carlo estimate against an exact value.  Each component's
    :math:`z` = (mean - exact) / standard error is held to :func:`z_threshold` for the skewness
    of that component's samples, so that a correct estimator fails with probability at most
    ``false_failure`` over ``comparisons`` z-scores (default: the components of ``exact``).  When
    one cell makes several comparisons that should all pass, give each the total count, e.g.
    ``comparisons=5 * exact.size`` for five estimators, so that the whole family keeps the stated
    probability.  ``Comparison.passed`` is the verdict; printing it shows the table.

    The normal approximation needs enough samples for their skewness :math:`\kappa`: a component
    with ``n < 28 + 25 kappa**2`` (the rule of Sugden, Smith and Jones, 2000), or whose samples do
    not vary while its mean differs from ``exact``, is not judged (``Comparison.testable`` is False
    there, and the verdict says how many), rather than given a verdict the check cannot stand
    behind; if no component can be judged the call raises ValueError.
    """
    samples, exact = _samples_and_exact(samples, exact)
    n = samples.shape[0]
    if n < 2:
        raise ValueError(f"samples must hold at least 2 samples to estimate a standard error, got {n}")
    comparisons = exact.size if comparisons is None else check_positive_int(comparisons, "comparisons")
    if comparisons < exact.size:
        raise ValueError(f"comparisons must count at least the {exact.size} components compared here, "
                         f"got {comparisons}")
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(n)
    err = mean - exact
    scale = np.maximum(np.abs(exact), np.abs(mean)) + 1.0
    both_zero = (np.abs(err) <= 1e-12 * scale) & (se <= 1e-12 * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(both_zero, 0.0, err / np.where(se > 0, se, 0.0))
    z = np.where(both_zero, 0.0, z)
    kappa = _skewness(samples)
    # Sugden, Smith and Jones (2000): a mean of n samples with skewness kappa is close enough to normal
    # when n >= 28 + 25 kappa^2.  Rarer, more skewed components (and components whose samples do not
    # vary at all) cannot be judged by a z-score: they are reported as untested, never as passed.
    testable = (n >= 28 + 25 * kappa ** 2) & ((se > 0) | both_zero)
    if not np.any(testable):
        needed = int(np.ceil(28 + 25 * float(np.min(kappa)) ** 2))
        raise ValueError(f"samples: no component can be judged by a z-score with {n} samples (each is constant "
                         f"or too skewed: skewness kappa needs n >= 28 + 25 kappa^2, here at least {needed})")
    threshold = np.asarray(z_threshold(comparisons, false_failure, kappa, n))
    return Comparison(mean=mean, standard_error=se, z=z, max_abs_z=float(np.max(np.abs(z))) if z.size else 0.0,
                      n=n, exact=exact, skewness=kappa, threshold=threshold, comparisons=comparisons,
                      false_failure=float(false_failure), testable=testable)


def batch_rms_error(samples, exact, batch_sizes) -> np.ndarray:
    """Root-mean-square error of batch means, one value per batch size.

    For each ``N`` in ``batch_sizes`` the first ``(n // N) * N`` samples are split into ``n // N``
    disjoint batches of ``N``; the result is
    :math:`\\sqrt{\\operatorname{mean}_b \\|\\bar x_b - x^\\star\\|^2}`, the RMS over batches of the
    Euclidean norm of (batch mean - ``exact``).  For independent samples with covariance
    :math:`\\Sigma` it estimates :math:`\\sqrt{\\operatorname{tr}\\Sigma / N}`.
    ``samples`` has shape ``(n, *exact.shape)``; returns shape ``(len(batch_sizes),)``.
    Raises ValueError for mismatched shapes or a batch size that is not in ``1..n``.
    """
    samples, exact = _samples_and_exact(samples, exact)
    n = samples.shape[0]
    flat = samples.reshape(n, -1) - exact.reshape(1, -1)
    out = []
    for N in np.atleast_1d(batch_sizes):
        if isinstance(N, (bool, np.bool_)) or not float(N).is_integer() or not 1 <= N <= n:
            raise ValueError(f"batch_sizes must be integers in 1..{n} (the number of samples), got {N!r}")
        N = int(N)
        means = flat[: n // N * N].reshape(n // N, N, -1).mean(axis=1)
        out.append(np.sqrt(np.mean(np.sum(means ** 2, axis=1))))
    return np.array(out)
