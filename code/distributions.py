"""Three small families of distributions for the score-function estimator.

Each object holds its parameters as one flat float vector ``params`` and knows how to
draw samples, evaluate the log-density (or log-mass) and its analytic gradient with
respect to ``params``, the *score* :math:`\\nabla_\\theta \\log p_\\theta(x)` (method ``score``).

The families and their parametrisations:

* :class:`Bernoulli` ``(logit)``: :math:`P(x = 1) = \\operatorname{sigmoid}(\\ell)`, ``params`` shape (1,);
  score :math:`x - \\operatorname{sigmoid}(\\ell)`.
* :class:`Categorical` ``(logits)``: :math:`P(x = k) = \\operatorname{softmax}(z)_k`,
  ``params`` shape (K,); score :math:`e_x - \\operatorname{softmax}(z)`.
* :class:`Gaussian` ``(mean, log_std)``: diagonal normal in d dimensions with mean :math:`\\mu`
  and log standard deviation :math:`\\omega = \\log\\sigma`, ``params`` shape (2d,) =
  ``[mean..., log_std...]`` :math:`= (\\mu, \\omega)`; score :math:`(x - \\mu)/\\sigma^2` for the means and
  :math:`(x - \\mu)^2/\\sigma^2 - 1` for the log standard deviations.

All methods are vectorised over a batch of ``n`` samples, never mutate their inputs,
and raise a ``ValueError`` naming the argument when given bad input.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_finite, check_positive_int, check_rng

__all__ = ["Bernoulli", "Categorical", "Gaussian"]


def _sigmoid(z):
    """Logistic function, computed without overflow for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def _check_labels(x, n_categories: int, name: str = "x") -> np.ndarray:
    """Check that ``x`` is a 1-D array of integers in ``0 .. n_categories - 1``."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of samples with shape (n,), got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold integer outcomes 0..{n_categories - 1}, found NaN or infinite values")
    as_int = np.round(arr).astype(np.int64)
    if np.any(as_int != arr):
        raise ValueError(f"{name} must hold integer outcomes 0..{n_categories - 1}")
    if np.any(as_int < 0) or np.any(as_int >= n_categories):
        raise ValueError(
            f"{name} must hold outcomes in 0..{n_categories - 1}, found values from {as_int.min()} to {as_int.max()}"
        )
    return as_int


class _Distribution:
    """Shared plumbing: the flat parameter vector and ``with_params``."""

    _params: np.ndarray

    @property
    def params(self) -> np.ndarray:
        """A copy of the flat parameter vector (changing it does not change the distribution)."""
        return self._params.copy()

    @property
    def n_params(self) -> int:
        """Length P of the flat parameter vector (the score has shape (n, P))."""
        return int(self._params.size)

    def _check_new_params(self, params) -> np.ndarray:
        arr = check_finite(params, "params")
        if arr.shape != self._params.shape:
            raise ValueError(
                f"params must have shape {self._params.shape} for this {type(self).__name__}, got {arr.shape}"
            )
        return arr

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={np.array2string(self._params, precision=4)})"


class Bernoulli(_Distribution):
    """Coin flip with :math:`P(x = 1) = \\operatorname{sigmoid}(\\ell) = 1 / (1 + e^{-\\ell})`.

    Parameters
    ----------
    logit : float or array of shape (1,)
        The log-odds :math:`\\ell`; must be finite.

    Samples are integers 0 or 1, shape (n,). ``params`` is ``[logit]``.
    """

    def __init__(self, logit):
        arr = check_finite(logit, "logit")
        if arr.size != 1 or arr.ndim > 1:
            raise ValueError(f"logit must be a single number (shape () or (1,)), got shape {arr.shape}")
        self._params = arr.reshape(1).copy()

    @property
    def logit(self) -> float:
        return float(self._params[0])

    def with_params(self, params) -> "Bernoulli":
        """A new Bernoulli with ``params`` (shape (1,)) in place of this one's."""
        return Bernoulli(self._check_new_params(params))

    def prob(self) -> float:
        """:math:`P(x = 1) = \\operatorname{sigmoid}(\\ell)`."""
        return float(_sigmoid(self.logit))

    def probs(self) -> np.ndarray:
        """Probabilities of the outcomes 0 and 1, shape (2,)."""
        p = self.prob()
        return np.array([1.0 - p, p])

    def support(self) -> np.ndarray:
        """Every outcome, ``[0, 1]`` (for exact expectations by summation)."""
        return np.array([0, 1])

    def mean(self) -> float:
        """:math:`E[x] = \\operatorname{sigmoid}(\\ell)`."""
        return self.prob()

    def sample(self, rng, n: int) -> np.ndarray:
        """``n`` independent draws, integers 0/1 of shape (n,)."""
        rng = check_rng(rng)
        n = check_positive_int(n, "n")
        return (rng.random(n) < self.prob()).astype(np.int64)

    def log_prob(self, x) -> np.ndarray:
        """:math:`\\log p(x) = x\\ell - \\log(1 + e^{\\ell})` for each sample; x (n,) of 0/1, returns (n,)."""
        x = _check_labels(x, 2)
        return x * self.logit - np.logaddexp(0.0, self.logit)

    def score(self, x) -> np.ndarray:
        """:math:`\\partial_\\ell \\log p(x) = x - \\operatorname{sigmoid}(\\ell)`; x (n,) of 0/1, returns (n, 1)."""
        x = _check_labels(x, 2)
        return (x - self.prob()).astype(float)[:, None]


class Categorical(_Distribution):
    """Softmax distribution over K outcomes: :math:`P(x = k) = e^{z_k} / \\sum_j e^{z_j}`.

    Parameters
    ----------
    logits : array of shape (K,), K >= 2
        The unnormalised log-probabilities :math:`z`; must be finite.

    Samples are integers in 0..K-1, shape (n,). ``params`` is ``logits``. Adding the same
    constant to every logit leaves the distribution unchanged, so the score of every
    outcome sums to zero over its K components.
    """

    def __init__(self, logits):
        arr = check_finite(logits, "logits")
        if arr.ndim != 1 or arr.size < 2:
            raise ValueError(f"logits must be a 1-D array of K >= 2 numbers, got shape {arr.shape}")
        self._params = arr.copy()

    @property
    def logits(self) -> np.ndarray:
        return self._params.copy()

    @property
    def n_categories(self) -> int:
        return int(self._params.size)

    def with_params(self, params) -> "Categorical":
        """A new Categorical with ``params`` (shape (K,)) in place of this one's."""
        return Categorical(self._check_new_params(params))

    def log_probs(self) -> np.ndarray:
        """:math:`\\log \\operatorname{softmax}(z)`, shape (K,), computed stably."""
        z = self._params - self._params.max()
        return z - np.log(np.exp(z).sum())

    def probs(self) -> np.ndarray:
        """:math:`\\operatorname{softmax}(z)`, shape (K,)."""
        return np.exp(self.log_probs())

    def support(self) -> np.ndarray:
        """Every outcome, ``[0, 1, ..., K-1]`` (for exact expectations by summation)."""
        return np.arange(self.n_categories)

    def mean(self) -> np.ndarray:
        """Mean of the one-hot encoding of x, i.e. the probability vector (K,)."""
        return self.probs()

    def sample(self, rng, n: int) -> np.ndarray:
        """``n`` independent draws, integers in 0..K-1 of shape (n,) (inverse-CDF sampling)."""
        rng = check_rng(rng)
        n = check_positive_int(n, "n")
        cdf = np.cumsum(self.probs())
        cdf[-1] = 1.0
        return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)

    def log_prob(self, x) -> np.ndarray:
        """:math:`\\log p(x) = z_x - \\log\\sum_j e^{z_j}`; x (n,) integers, returns (n,)."""
        x = _check_labels(x, self.n_categories)
        return self.log_probs()[x]

    def score(self, x) -> np.ndarray:
        """:math:`\\nabla_z \\log p(x) = e_x - \\operatorname{softmax}(z)`; x (n,), returns (n, K)."""
        x = _check_labels(x, self.n_categories)
        out = -np.broadcast_to(self.probs(), (x.size, self.n_categories)).copy()
        out[np.arange(x.size), x] += 1.0
        return out


class Gaussian(_Distribution):
    """Diagonal normal :math:`\\mathcal N(\\mu, \\operatorname{diag}(\\sigma^2))` with :math:`\\sigma = e^{\\omega}`.

    Parameters
    ----------
    mean : float or array of shape (d,)
        The mean :math:`\\mu`; must be finite.
    log_std : float or array of shape (d,)
        The log standard deviations :math:`\\omega = \\log\\sigma`; a single number is used for every dimension.
        Must be finite and no larger than 300 in absolute value (so that
        :math:`\\sigma` and :math:`1/\\sigma^2` stay finite).

    Samples have shape (n, d). ``params`` is ``[mean..., log_std...]``, shape (2d,).
    Parametrising by :math:`\\omega = \\log\\sigma` keeps :math:`\\sigma > 0` for every parameter value.
    """

    LOG_STD_LIMIT = 300.0

    def __init__(self, mean, log_std=0.0):
        mean = check_finite(mean, "mean")
        if mean.ndim > 1:
            raise ValueError(f"mean must be a number or a 1-D array of shape (d,), got shape {mean.shape}")
        mean = mean.reshape(-1)
        if mean.size < 1:
            raise ValueError("mean must have at least one entry, got an empty array")
        log_std = check_finite(log_std, "log_std")
        if log_std.ndim > 1 or (log_std.size not in (1, mean.size)):
            raise ValueError(
                f"log_std must be a number or an array of shape ({mean.size},) like mean, got shape {log_std.shape}"
            )
        log_std = np.broadcast_to(log_std.reshape(-1), mean.shape)
        if np.any(np.abs(log_std) > self.LOG_STD_LIMIT):
            raise ValueError(
                f"log_std must lie in [-{self.LOG_STD_LIMIT:g}, {self.LOG_STD_LIMIT:g}] so that exp(log_std) is finite, "
                f"got values up to {np.abs(log_std).max():.3g} in absolute value"
            )
        self._params = np.concatenate([mean, log_std]).astype(float)

    @property
    def dim(self) -> int:
        """Dimension d of a sample."""
        return self._params.size // 2

    @property
    def log_std(self) -> np.ndarray:
        return self._params[self.dim:].copy()

    def std(self) -> np.ndarray:
        """:math:`\\sigma = e^{\\omega}`, shape (d,)."""
        return np.exp(self._params[self.dim:])

    def mean(self) -> np.ndarray:
        """:math:`\\mu`, shape (d,)."""
        return self._params[: self.dim].copy()

    def with_params(self, params) -> "Gaussian":
        """A new Gaussian with ``params`` = ``[mean..., log_std...]`` (shape (2d,)) in place of this one's."""
        params = self._check_new_params(params)
        return Gaussian(params[: self.dim], params[self.dim:])

    def _check_x(self, x, name: str = "x") -> np.ndarray:
        arr = check_finite(x, name)
        if arr.ndim == 1 and self.dim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {arr.shape}")
        return arr

    def sample_eps(self, rng, n: int) -> np.ndarray:
        """``n`` standard-normal noise vectors :math:`\\varepsilon`, shape (n, d)."""
        rng = check_rng(rng)
        n = check_positive_int(n, "n")
        return rng.standard_normal((n, self.dim))

    def reparameterize(self, eps) -> np.ndarray:
        """:math:`x = \\mu + \\sigma \\odot \\varepsilon`; eps (n, d), returns (n, d).

        With :math:`\\varepsilon \\sim \\mathcal N(0, I)` this x has this distribution, and
        x depends smoothly on the parameters (the pathwise or reparameterisation route).
        """
        eps = self._check_x(eps, "eps")
        return self.mean() + self.std() * eps

    def reparameterize_jacobian(self, eps) -> np.ndarray:
        """:math:`\\partial x/\\partial(\\mu, \\omega)` at each noise draw, shape (n, d, 2d):
        :math:`\\partial x_i/\\partial\\mu_j = \\delta_{ij}` and
        :math:`\\partial x_i/\\partial\\omega_j = \\delta_{ij}\\,\\sigma_i\\varepsilon_i`."""
        eps = self._check_x(eps, "eps")
        n, d = eps.shape
        jac = np.zeros((n, d, 2 * d))
        idx = np.arange(d)
        jac[:, idx, idx] = 1.0
        jac[:, idx, d + idx] = self.std() * eps
        return jac

    def sample(self, rng, n: int) -> np.ndarray:
        """``n`` independent draws, shape (n, d) (``reparameterize(sample_eps(rng, n))``)."""
        return self.reparameterize(self.sample_eps(rng, n))

    def log_prob(self, x) -> np.ndarray:
        """:math:`\\log p(x) = \\sum_i [-\\tfrac12 ((x_i-\\mu_i)/\\sigma_i)^2 - \\log\\sigma_i - \\tfrac12\\log 2\\pi]`;
        x (n, d) (or (n,) when d = 1), returns (n,)."""
        x = self._check_x(x)
        u = (x - self.mean()) / self.std()
        return np.sum(-0.5 * u**2 - self.log_std - 0.5 * np.log(2.0 * np.pi), axis=1)

    def score(self, x) -> np.ndarray:
        """Analytic :math:`\\nabla_{(\\mu, \\omega)} \\log p(x)`, :math:`\\omega = \\log\\sigma`; x (n, d), returns (n, 2d).

        The first d columns are :math:`(x - \\mu)/\\sigma^2`, the last d are
        :math:`((x - \\mu)/\\sigma)^2 - 1`.
        """
        x = self._check_x(x)
        std = self.std()
        u = (x - self.mean()) / std
        return np.concatenate([u / std, u**2 - 1.0], axis=1)
