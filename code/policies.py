r"""Policies: structure objects with explicit parameters.

A policy object holds no parameters; every method takes ``theta`` (a float array of
shape ``policy.theta_shape``) explicitly, so the same object serves the exact
computations, the samplers and the finite-difference checks.  Every method is
vectorised over any leading batch shape of the observations.

Every policy is a :class:`Policy` (``theta_shape``, ``check_theta``, ``init_theta``); the
softmax policies are a :class:`SoftmaxPolicy`, whose probabilities are the softmax of its
``logits(theta, obs)``.  Three families here, each with an analytic score
:math:`\nabla_\theta \log \pi_\theta(a\mid s)` (and :class:`pgbook.mlp.MLPSoftmax`, a fourth):

* :class:`TabularSoftmax` -- one row of logits per state, :math:`\pi(a\mid s) = \mathrm{softmax}(\theta_s)_a`;
  score :math:`\nabla_{\theta_{s'}} \log\pi(a\mid s) = [s'=s]\,(e_a - \pi(\cdot\mid s))`.
* :class:`LinearSoftmax` -- logits :math:`x^\top\theta` with :math:`x = [\text{obs}, 1]`;
  score :math:`x\,(e_a - \pi(\cdot\mid s))^\top`.
* :class:`LinearGaussian` -- :math:`a \sim \mathcal N(x^\top W, \mathrm{diag}(e^{2\ell}))`;
  score :math:`x\,((a-\mu)/\sigma^2)^\top` for :math:`W` and :math:`(a-\mu)^2/\sigma^2 - 1` for
  the log standard deviation :math:`\ell`.
"""
from __future__ import annotations

import numpy as np

from ._validate import (NonFiniteError, check_bool, check_finite, check_nonnegative, check_positive_int,
                        check_real_array, check_rng, check_shape)

__all__ = ["Policy", "SoftmaxPolicy", "TabularSoftmax", "LinearSoftmax", "LinearGaussian", "softmax", "log_softmax",
           "sample_categorical"]


def _check_logits(logits) -> np.ndarray:
    """``logits`` as a float array with at least one entry along the last axis, no NaN, no
    :math:`+\\infty`, and at least one finite entry per row (:math:`-\\infty` marks an impossible action)."""
    z = check_real_array(logits, "logits")
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have at least one entry along the last axis (one per action), got shape {z.shape}")
    if np.isnan(z).any() or np.isposinf(z).any():
        bad = int(np.count_nonzero(np.isnan(z) | np.isposinf(z)))
        raise NonFiniteError(f"logits must not be NaN or +inf, but {bad} of their {z.size} entries are "
                             "(-inf is allowed: it gives an action probability 0)")
    if np.isneginf(z).all(axis=-1).any():
        raise ValueError("logits must have at least one finite entry per row: a row of -inf is no distribution")
    return z


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable :math:`\\log \\mathrm{softmax}` along the last axis.

    ``logits`` must be real with at least one entry along the last axis; NaN or :math:`+\\infty`
    raise a :class:`pgbook._validate.NonFiniteError` (:math:`-\\infty` gives probability 0)."""
    logits = _check_logits(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax along the last axis (same checks as :func:`log_softmax`)."""
    return np.exp(log_softmax(logits))


def sample_categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``probs`` (shape (..., K)) by inverting the cumulative sum; shape (...)."""
    check_rng(rng)
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1])[..., None] * cdf[..., -1:]
    return np.minimum((cdf <= u).sum(axis=-1), probs.shape[-1] - 1)




def _discrete_actions(actions, n_actions: int, batch_shape) -> np.ndarray:
    """Check that ``actions`` are integers in [0, n_actions) with shape ``batch_shape``."""
    a = np.asarray(actions)
    if a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() >= n_actions)):
        raise ValueError(f"actions must be integers in [0, {n_actions}), got {a.dtype} values")
    if a.shape != tuple(batch_shape):
        raise ValueError(f"actions must have shape {tuple(batch_shape)} (one per state or observation), got {a.shape}")
    return a.astype(np.int64)


class Policy:
    """What every policy of the book offers: ``theta_shape``, :meth:`check_theta`, :meth:`init_theta`
    and :attr:`n_params`; a subclass adds ``log_prob``, ``sample`` and ``score``."""

    theta_shape: tuple

    def check_theta(self, theta) -> np.ndarray:
        """Return ``theta`` as a float array after checking that it holds real numbers (not
        complex, not text), its shape and that it is finite."""
        theta = check_shape(check_real_array(theta, "theta"), self.theta_shape, "theta")
        return check_finite(theta, "theta")

    def init_theta(self, rng: np.random.Generator | None = None, scale: float = 0.0) -> np.ndarray:
        """Initial parameters: zeros of ``theta_shape`` (``scale`` 0, the default; ``rng`` may then be
        None), or independent N(0, scale^2) entries drawn from ``rng``, which a random
        initialisation requires."""
        scale = check_nonnegative(scale, "scale")
        if rng is None and scale == 0.0:
            return np.zeros(self.theta_shape)
        rng = check_rng(rng)
        return scale * rng.standard_normal(self.theta_shape) if scale > 0 else np.zeros(self.theta_shape)

    @property
    def n_params(self) -> int:
        """The number of parameters, the size of ``theta``."""
        return int(np.prod(self.theta_shape))


class SoftmaxPolicy(Policy):
    """A policy over ``n_actions`` discrete actions with :math:`\\pi_\\theta(\\cdot\\mid s) = \\mathrm{softmax}`
    of ``logits(theta, obs)``, which a subclass defines; the probabilities, log-probabilities and
    samples follow from the logits here.  Actions are integers in ``[0, n_actions)``."""

    n_actions: int

    def logits(self, theta, obs) -> np.ndarray:
        """Unnormalised log-probabilities, shape ``(*batch, n_actions)``."""
        raise NotImplementedError

    def probs(self, theta, obs) -> np.ndarray:
        """Action probabilities, shape ``(*batch, n_actions)``."""
        return softmax(self.logits(theta, obs))

    def log_prob(self, theta, obs, actions) -> np.ndarray:
        """:math:`\\log\\pi_\\theta(a\\mid s)` for each observation/action pair, shape ``batch``."""
        logp = log_softmax(self.logits(theta, obs))
        a = self._actions(actions, logp.shape[:-1])
        return np.take_along_axis(logp, a[..., None], axis=-1)[..., 0]

    def sample(self, theta, obs, rng) -> np.ndarray:
        """One action per observation, integers of shape ``batch``."""
        return sample_categorical(self.probs(theta, obs), rng)

    def _actions(self, actions, batch_shape) -> np.ndarray:
        return _discrete_actions(actions, self.n_actions, batch_shape)

    def _logit_score(self, probs, actions) -> np.ndarray:
        """:math:`\\nabla_{\\text{logits}}\\log\\pi(a) = \\mathrm{onehot}(a) - \\pi`, shape of ``probs``."""
        a = self._actions(actions, probs.shape[:-1])
        g = -probs
        np.put_along_axis(g, a[..., None], np.take_along_axis(g, a[..., None], -1) + 1.0, axis=-1)
        return g


class TabularSoftmax(SoftmaxPolicy):
    """Softmax over a table of logits: ``theta`` has shape (n_states, n_actions).

    Observations are integer states in ``[0, n_states)``; actions integers in ``[0, n_actions)``.
    """

    def __init__(self, n_states: int, n_actions: int):
        self.n_states = check_positive_int(n_states, "n_states")
        self.n_actions = check_positive_int(n_actions, "n_actions")
        self.theta_shape = (self.n_states, self.n_actions)

    def __repr__(self) -> str:
        return f"TabularSoftmax(n_states={self.n_states}, n_actions={self.n_actions})"

    def _states(self, states) -> np.ndarray:
        s = np.asarray(states)
        if s.dtype.kind not in "iu" or (s.size and (s.min() < 0 or s.max() >= self.n_states)):
            raise ValueError(f"states must be integers in [0, {self.n_states}), got {s.dtype} values"
                             + (f" in [{s.min()}, {s.max()}]" if s.size and s.dtype.kind in "iuf" else ""))
        return s.astype(np.int64)

    def table(self, theta) -> np.ndarray:
        """The (n_states, n_actions) table of action probabilities."""
        return softmax(self.check_theta(theta))

    def logits(self, theta, states) -> np.ndarray:
        """The rows of ``theta`` of the given states, shape ``(*states.shape, n_actions)``."""
        return self.check_theta(theta)[self._states(states)]

    def score(self, theta, states, actions) -> np.ndarray:
        """Analytic :math:`\\nabla_\\theta\\log\\pi_\\theta(a\\mid s)`, shape
        ``(*states.shape, n_states, n_actions)``.

        Only row ``s`` is non-zero, where it equals ``onehot(a) - pi(.|s)``.
        """
        s = self._states(states)
        row = self._logit_score(softmax(self.check_theta(theta)[s]), actions)      # (..., A)
        out = np.zeros(s.shape + self.theta_shape)
        flat = out.reshape(-1, self.n_states, self.n_actions)
        flat[np.arange(flat.shape[0]), s.reshape(-1)] = row.reshape(-1, self.n_actions)
        return out


class _LinearFeatures(Policy):
    def _features(self, obs) -> np.ndarray:
        obs = check_finite(obs, "obs")
        if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
            raise ValueError(f"obs must have shape (..., {self.obs_dim}), got {obs.shape}")
        if getattr(self, "bias", True):
            obs = np.concatenate([obs, np.ones(obs.shape[:-1] + (1,))], axis=-1)
        return obs


class LinearSoftmax(_LinearFeatures, SoftmaxPolicy):
    """Softmax of linear logits ``[obs, 1] @ theta``; ``theta`` has shape (obs_dim + bias, n_actions)."""

    def __init__(self, obs_dim: int, n_actions: int, bias: bool = True):
        self.obs_dim = check_positive_int(obs_dim, "obs_dim")
        self.n_actions = check_positive_int(n_actions, "n_actions")
        self.bias = check_bool(bias, "bias")
        self.theta_shape = (self.obs_dim + int(self.bias), self.n_actions)

    def __repr__(self) -> str:
        return f"LinearSoftmax(obs_dim={self.obs_dim}, n_actions={self.n_actions}, bias={self.bias})"

    def logits(self, theta, obs) -> np.ndarray:
        """``[obs, 1] @ theta``, shape ``(*batch, n_actions)``."""
        return self._features(obs) @ self.check_theta(theta)

    def score(self, theta, obs, actions) -> np.ndarray:
        """Analytic score ``x (onehot(a) - pi)^T``, shape ``(*batch, *theta_shape)``."""
        x = self._features(obs)
        g = self._logit_score(softmax(x @ self.check_theta(theta)), actions)
        return x[..., :, None] * g[..., None, :]


class LinearGaussian(_LinearFeatures):
    """Gaussian with linear mean and state-independent log standard deviation.

    ``theta`` has shape ``(obs_dim + 2, act_dim)``: rows ``0..obs_dim`` are ``W`` (the last of
    them the bias), the final row is ``log_std``.  Actions have shape ``(*batch, act_dim)``.
    """

    bias = True

    def __init__(self, obs_dim: int, act_dim: int):
        self.obs_dim = check_positive_int(obs_dim, "obs_dim")
        self.act_dim = check_positive_int(act_dim, "act_dim")
        self.theta_shape = (self.obs_dim + 2, self.act_dim)

    def __repr__(self) -> str:
        return f"LinearGaussian(obs_dim={self.obs_dim}, act_dim={self.act_dim})"

    def mean_std(self, theta, obs):
        """Mean, shape ``(*batch, act_dim)``, and standard deviation, shape ``(act_dim,)``."""
        theta = self.check_theta(theta)
        return self._features(obs) @ theta[:-1], np.exp(theta[-1])

    def _actions(self, actions, mean) -> np.ndarray:
        a = check_finite(actions, "actions")
        if a.shape != mean.shape:
            raise ValueError(f"actions must have shape {mean.shape} (batch of obs, act_dim), got {a.shape}")
        return a

    def log_prob(self, theta, obs, actions) -> np.ndarray:
        mean, std = self.mean_std(theta, obs)
        a = self._actions(actions, mean)
        zsq = ((a - mean) / std) ** 2
        return np.sum(-0.5 * zsq - np.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)

    def sample(self, theta, obs, rng) -> np.ndarray:
        check_rng(rng)
        mean, std = self.mean_std(theta, obs)
        return mean + std * rng.standard_normal(mean.shape)

    def score(self, theta, obs, actions) -> np.ndarray:
        """Analytic score, shape ``(*batch, obs_dim + 2, act_dim)``."""
        x = self._features(obs)
        mean, std = self.mean_std(theta, obs)
        a = self._actions(actions, mean)
        u = (a - mean) / std
        grad_w = x[..., :, None] * (u / std)[..., None, :]
        grad_log_std = (u ** 2 - 1.0)[..., None, :]
        return np.concatenate([grad_w, grad_log_std], axis=-2)
