"""Variational inference with the score-function (black-box) and pathwise ELBO gradients.

We want a distribution :math:`q_\\phi(z)` close to the posterior :math:`p(z \\mid y)`.  The
evidence lower bound (ELBO)

.. math::

    \\mathcal L(\\phi) = \\mathbb E_{z \\sim q_\\phi}\\big[\\log p(y, z) - \\log q_\\phi(z)\\big]
                     = \\log p(y) - \\mathrm{KL}\\big(q_\\phi \\,\\|\\, p(\\cdot \\mid y)\\big)

is an expectation under a distribution we control, so its gradient has the score-function
form (black-box VI, Ranganath et al. 2014)

.. math::

    \\nabla_\\phi \\mathcal L = \\mathbb E_{q_\\phi}\\big[(\\log p(y, z) - \\log q_\\phi(z))\\,
                                  \\nabla_\\phi \\log q_\\phi(z)\\big]

(the term from differentiating :math:`-\\log q_\\phi` inside the bracket has mean zero).
When q is reparameterisable and :math:`\\log p(y, z)` differentiable in z, the pathwise
estimator applies too.

Three models, each with ``log_joint(z)``, ``elbo(params)``, ``elbo_grad(params)``, ``make_q(params)``
and ``initial_params()``:

* :class:`ConjugateGaussianModel`: :math:`y_i \\sim \\mathcal N(z, \\sigma_y^2)`, :math:`z \\sim \\mathcal N(m_0, \\sigma_0^2)`,
  Gaussian q with ``params`` :math:`\\phi = (\\mu, \\omega)` (mean, log standard deviation): ELBO, its
  gradient, the posterior and :math:`\\log p(y)` in closed form.
* :class:`LogisticRegressionModel`: Bayesian logistic regression with a Gaussian prior on the
  coefficients :math:`\\beta` and a diagonal Gaussian q; no closed form, so ``elbo`` and ``elbo_grad`` use
  Gauss-Hermite quadrature (accurate to many digits for the book's 2-D example).
* :class:`DiscreteSourceModel`: a discrete latent (which of K sources produced the readings)
  with a categorical q; exact by enumeration.  Only the score function applies.

Estimators: :func:`score_function_elbo_samples`, :func:`pathwise_elbo_samples`; fitting:
:func:`fit` with the settings of :class:`VIConfig` (Adam on stochastic ELBO gradients, with a
running-mean baseline for the score function and iterate averaging); helpers :func:`gaussian_kl`,
:func:`gaussian_entropy`.  Gaussian expectations without a closed form use the Gauss-Hermite
rule of :mod:`pgbook.quadrature`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from ._validate import (check_bool, check_choice, check_finite, check_positive, check_positive_int,
                        check_probabilities, check_real, check_rng, check_shape)
from .distributions import Categorical, Gaussian
from .estimators import score_function_from_draws, score_function_samples
from .optim import make_optimiser
from .pathwise import pathwise_from_eps, pathwise_samples
from .quadrature import gaussian_expectation
from .training import Config, TracedResult, TrainingDivergedWarning, divergence_message, learning_rate_hint

__all__ = [
    "gaussian_kl",
    "gaussian_entropy",
    "ConjugateGaussianModel",
    "LogisticRegressionModel",
    "logistic_regression_data",
    "DiscreteSourceModel",
    "elbo_signal",
    "elbo_estimate",
    "score_function_elbo_samples",
    "pathwise_elbo_samples",
    "VIConfig",
    "FitResult",
    "fit",
    "symbolic_conjugate_elbo",
]

LOG_2PI = float(np.log(2.0 * np.pi))
ESTIMATORS = ("score", "pathwise", "exact")
OPTIMISERS = ("adam", "sgd")


# ---------------------------------------------------------------------------------------------
# Gaussian helpers
# ---------------------------------------------------------------------------------------------
def gaussian_kl(mean_q, std_q, mean_p, std_p) -> float:
    """:math:`\\mathrm{KL}(\\mathcal N(\\mu_q, \\sigma_q^2) \\,\\|\\, \\mathcal N(\\mu_p, \\sigma_p^2))`, summed over independent dimensions.

    Per dimension: :math:`\\log(\\sigma_p/\\sigma_q) + (\\sigma_q^2 + (\\mu_q - \\mu_p)^2)/(2 \\sigma_p^2) - 1/2`.
    Arguments are numbers or arrays of one shape; standard deviations must be positive.
    """
    mean_q, std_q, mean_p, std_p = (np.atleast_1d(check_finite(a, nm)) for a, nm in (
        (mean_q, "mean_q"), (std_q, "std_q"), (mean_p, "mean_p"), (std_p, "std_p")))
    if np.any(std_q <= 0) or np.any(std_p <= 0):
        raise ValueError("std_q and std_p must be positive standard deviations")
    try:
        b = np.broadcast(mean_q, std_q, mean_p, std_p)
    except ValueError:
        raise ValueError(
            f"mean_q, std_q, mean_p, std_p must have matching shapes, got {mean_q.shape}, {std_q.shape}, "
            f"{mean_p.shape}, {std_p.shape}") from None
    del b
    per_dim = np.log(std_p / std_q) + (std_q**2 + (mean_q - mean_p) ** 2) / (2.0 * std_p**2) - 0.5
    return float(np.sum(per_dim))


def gaussian_entropy(log_std) -> float:
    """Entropy of a diagonal Gaussian: :math:`\\sum_i \\omega_i + \\tfrac d2 \\log(2\\pi e)`,
    with the log standard deviations :math:`\\omega_i = \\log\\sigma_i` (``log_std``)."""
    log_std = np.atleast_1d(check_finite(log_std, "log_std"))
    return float(np.sum(log_std) + 0.5 * log_std.size * (LOG_2PI + 1.0))


# ---------------------------------------------------------------------------------------------
# Shared behaviour of the models with a Gaussian q
# ---------------------------------------------------------------------------------------------
class _GaussianQModel:
    """Shared code: q is a diagonal Gaussian over ``dim`` latent dimensions."""

    dim: int

    def make_q(self, params) -> Gaussian:
        """The variational distribution for ``params = [mean..., log_std...]`` (shape (2*dim,))."""
        params = check_shape(check_finite(params, "params"), (2 * self.dim,), "params")
        return Gaussian(params[: self.dim], params[self.dim:])

    def initial_params(self) -> np.ndarray:
        """Start of every fit: q = N(0, I) (mean 0, log_std 0)."""
        return np.zeros(2 * self.dim)

    def _z(self, z) -> np.ndarray:
        z = check_finite(z, "z")
        if z.ndim == 1 and self.dim == 1:
            z = z[:, None]
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"z must have shape (n, {self.dim}), got {z.shape}")
        return z


class ConjugateGaussianModel(_GaussianQModel):
    r"""Unknown mean with a Gaussian prior: :math:`z \sim \mathcal N(m_0, \sigma_0^2)`,
    :math:`y_i \mid z \sim \mathcal N(z, \sigma_y^2)`.

    Parameters
    ----------
    y : array (N,)
        The observations, N >= 1.
    noise_std : float
        :math:`\sigma_y > 0`.
    prior_mean : float
        :math:`m_0`.
    prior_std : float
        :math:`\sigma_0 > 0`.

    With :math:`q_\phi = \mathcal N(\mu, e^{2\omega})` (``params`` :math:`\phi` ``= [mu, omega]``),
    every quantity is in closed form:

    .. math::

        \mathcal L(\mu, \omega)
          = {} & \sum_i \Big[-\tfrac12\log 2\pi\sigma_y^2
                 - \frac{(y_i-\mu)^2 + e^{2\omega}}{2\sigma_y^2}\Big] \\
               & - \tfrac12\log 2\pi \sigma_0^2 - \frac{(\mu - m_0)^2 + e^{2\omega}}{2 \sigma_0^2}
                 + \omega + \tfrac12\log 2\pi e .
    """

    dim = 1

    def __init__(self, y, noise_std: float = 1.0, prior_mean: float = 0.0, prior_std: float = 1.0):
        y = check_finite(y, "y")
        if y.ndim != 1 or y.size < 1:
            raise ValueError(f"y must be a 1-D array of at least one observation, got shape {y.shape}")
        self.y = y.copy()
        self.noise_std = check_positive(noise_std, "noise_std")
        self.prior_mean = float(check_finite(prior_mean, "prior_mean"))
        self.prior_std = check_positive(prior_std, "prior_std")

    @classmethod
    def generate(cls, rng, n_data: int = 20, true_mean: float = 1.5, noise_std: float = 1.0,
                 prior_mean: float = 0.0, prior_std: float = 2.0) -> "ConjugateGaussianModel":
        """A model with ``n_data`` observations drawn from :math:`\\mathcal N(\\text{true\\_mean}, \\sigma_y^2)`."""
        rng = check_rng(rng)
        n_data = check_positive_int(n_data, "n_data")
        y = true_mean + check_positive(noise_std, "noise_std") * rng.standard_normal(n_data)
        return cls(y, noise_std, prior_mean, prior_std)

    @property
    def n_data(self) -> int:
        return int(self.y.size)

    def log_joint(self, z) -> np.ndarray:
        """:math:`\\log p(y, z) = \\sum_i \\log \\mathcal N(y_i; z, \\sigma_y^2) + \\log \\mathcal N(z; m_0, \\sigma_0^2)`; z (n, 1) -> (n,)."""
        z = self._z(z)[:, 0]
        noise_var, prior_var = self.noise_std**2, self.prior_std**2
        loglik = -0.5 * self.n_data * (LOG_2PI + np.log(noise_var)) - 0.5 * (
            np.sum(self.y**2) - 2.0 * z * np.sum(self.y) + self.n_data * z**2) / noise_var
        logprior = -0.5 * (LOG_2PI + np.log(prior_var)) - 0.5 * (z - self.prior_mean) ** 2 / prior_var
        return loglik + logprior

    def grad_log_joint(self, z) -> np.ndarray:
        """:math:`\\partial_z \\log p(y, z) = \\sum_i (y_i - z)/\\sigma_y^2 - (z - m_0)/\\sigma_0^2`; z (n, 1) -> (n, 1)."""
        z = self._z(z)
        return (np.sum(self.y) - self.n_data * z) / self.noise_std**2 - (z - self.prior_mean) / self.prior_std**2

    def posterior(self) -> tuple[float, float]:
        """Exact posterior mean and standard deviation: precision :math:`N/\\sigma_y^2 + 1/\\sigma_0^2`."""
        precision = self.n_data / self.noise_std**2 + 1.0 / self.prior_std**2
        mean = (np.sum(self.y) / self.noise_std**2 + self.prior_mean / self.prior_std**2) / precision
        return float(mean), float(1.0 / np.sqrt(precision))

    def posterior_params(self) -> np.ndarray:
        """The exact posterior as q parameters :math:`\\phi^\\star` ``= [mean, log_std]`` (the ELBO's maximiser)."""
        mean, std = self.posterior()
        return np.array([mean, np.log(std)])

    def log_evidence(self) -> float:
        """:math:`\\log p(y) = \\log p(y, z) - \\log p(z \\mid y)` at the posterior mean (true for any z)."""
        mean, std = self.posterior()
        z = np.array([[mean]])
        return float(self.log_joint(z)[0] + 0.5 * (LOG_2PI + 2.0 * np.log(std)))

    def elbo(self, params) -> float:
        """Closed-form ELBO at ``params = [mu, omega]`` (see the class docstring)."""
        params = self.make_q(params).params
        mu, omega = params
        v = np.exp(2.0 * omega)
        noise_var, prior_var = self.noise_std**2, self.prior_std**2
        e_loglik = np.sum(-0.5 * (LOG_2PI + np.log(noise_var)) - ((self.y - mu) ** 2 + v) / (2.0 * noise_var))
        e_logprior = -0.5 * (LOG_2PI + np.log(prior_var)) - ((mu - self.prior_mean) ** 2 + v) / (2.0 * prior_var)
        return float(e_loglik + e_logprior + gaussian_entropy(omega))

    def elbo_grad(self, params) -> np.ndarray:
        """Closed-form gradient ``[dL/dmu, dL/domega]``:
        :math:`\\sum_i (y_i-\\mu)/\\sigma_y^2 - (\\mu-m_0)/\\sigma_0^2` and :math:`1 - e^{2\\omega}(N/\\sigma_y^2 + 1/\\sigma_0^2)`."""
        mu, omega = self.make_q(params).params
        precision = self.n_data / self.noise_std**2 + 1.0 / self.prior_std**2
        d_mu = np.sum(self.y - mu) / self.noise_std**2 - (mu - self.prior_mean) / self.prior_std**2
        d_omega = 1.0 - np.exp(2.0 * omega) * precision
        return np.array([d_mu, d_omega])


def _sigmoid(t):
    """:math:`\\operatorname{sigmoid}(t) = 1/(1 + e^{-t})`, without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def logistic_regression_data(n_data: int = 30, weights=(2.0, -1.0), seed: int = 2014):
    """A small, fixed classification data set for Bayesian logistic regression.

    One feature :math:`x_i \\sim \\mathcal N(0, 1)` plus a constant column (the bias), labels
    :math:`y_i \\sim \\mathrm{Bernoulli}(\\operatorname{sigmoid}(\\beta_0 x_i + \\beta_1))` with the true
    coefficients :math:`(\\beta_0, \\beta_1)` = ``weights``.  The data set is the same for
    every ``PGBOOK_SEED`` (it has its own ``seed``): it is part of the example, not of the
    Monte Carlo.  Returns ``X`` (n_data, 2) and ``y`` (n_data,) of 0/1.
    """
    n_data = check_positive_int(n_data, "n_data")
    weights = check_shape(check_finite(weights, "weights"), (2,), "weights")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_data)
    X = np.stack([x, np.ones(n_data)], axis=1)
    y = (rng.random(n_data) < _sigmoid(X @ weights)).astype(np.int64)
    return X, y


class LogisticRegressionModel(_GaussianQModel):
    """Bayesian logistic regression: :math:`\\beta \\sim \\mathcal N(0, \\sigma_0^2 I)`,
    :math:`y_i \\sim \\mathrm{Bernoulli}(\\operatorname{sigmoid}(x_i^\\top \\beta))`; the latent z is the
    coefficient vector :math:`\\beta`.

    Parameters
    ----------
    X : array (N, D) of features (include a column of ones for a bias)
    y : array (N,) of labels 0/1
    prior_std : :math:`\\sigma_0 > 0`

    The posterior is not Gaussian and the ELBO has no closed form.  For D <= 3, ``elbo`` and
    ``elbo_grad`` evaluate the Gaussian expectations by Gauss-Hermite quadrature with
    ``quadrature_order`` nodes per dimension (the gradient is the pathwise formula evaluated on
    the quadrature nodes), accurate to many digits for smooth integrands like this one.
    """

    def __init__(self, X, y, prior_std: float = 2.0, quadrature_order: int = 20):
        X = check_finite(X, "X")
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"X must be a 2-D array (N, D) of features, got shape {X.shape}")
        y = check_shape(check_finite(y, "y"), (X.shape[0],), "y")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("y must hold labels 0 or 1")
        self.X, self.y = X.copy(), y.astype(float)
        self.dim = int(X.shape[1])
        self.prior_std = check_positive(prior_std, "prior_std")
        self.quadrature_order = check_positive_int(quadrature_order, "quadrature_order")

    def log_joint(self, z) -> np.ndarray:
        """:math:`\\sum_i [y_i u_i - \\log(1+e^{u_i})] + \\log \\mathcal N(\\beta; 0, \\sigma_0^2 I)`, :math:`u = X\\beta`; z (n, D) -> (n,)."""
        beta = self._z(z)
        u = beta @ self.X.T  # (n, N)
        loglik = np.sum(self.y * u - np.logaddexp(0.0, u), axis=1)
        logprior = (-0.5 * np.sum(beta**2, axis=1) / self.prior_std**2
                    - 0.5 * self.dim * (LOG_2PI + 2 * np.log(self.prior_std)))
        return loglik + logprior

    def grad_log_joint(self, z) -> np.ndarray:
        """:math:`\\nabla_\\beta \\log p(y, \\beta) = X^\\top (y - \\operatorname{sigmoid}(X\\beta)) - \\beta/\\sigma_0^2`; z (n, D) -> (n, D)."""
        beta = self._z(z)
        u = beta @ self.X.T
        return (self.y - _sigmoid(u)) @ self.X - beta / self.prior_std**2

    def elbo(self, params) -> float:
        """ELBO by quadrature: :math:`\\mathbb E_q[\\log p(y, \\beta)] + H[q]`."""
        q = self.make_q(params)
        e = gaussian_expectation(self.log_joint, q.mean(), q.std(), self.quadrature_order)
        return float(e + gaussian_entropy(q.log_std))

    def elbo_grad(self, params) -> np.ndarray:
        """ELBO gradient by quadrature: :math:`\\mathbb E[\\nabla\\log p]` for the means and
        :math:`\\mathbb E[\\nabla\\log p \\odot \\sigma\\varepsilon] + 1` for the log-stds :math:`\\omega`."""
        q = self.make_q(params)
        mean, std = q.mean(), q.std()

        def both(beta):
            g = self.grad_log_joint(beta)
            return np.concatenate([g, g * (beta - mean)], axis=1)

        e = gaussian_expectation(both, mean, std, self.quadrature_order)
        return np.concatenate([e[: self.dim], e[self.dim:] + 1.0])

    def log_posterior_grid(self, axes):
        """Unnormalised log posterior :math:`\\log p(y, \\beta)` on the grid spanned by ``axes`` (list of D 1-D arrays)."""
        if len(axes) != self.dim:
            raise ValueError(f"axes must hold {self.dim} 1-D arrays (one per weight), got {len(axes)}")
        grids = np.meshgrid(*[check_finite(a, "axes") for a in axes], indexing="ij")
        beta = np.stack([g.ravel() for g in grids], axis=1)
        return self.log_joint(beta).reshape(grids[0].shape)

    def grid_posterior(self, half_width: float = 6.0, n_grid: int = 301):
        """Posterior moments and :math:`\\log p(y)` by brute-force summation on a grid (D = 2 only).

        Returns a dict with ``mean`` (2,), ``std`` (2,), ``corr`` (the correlation of the two
        weights), ``log_evidence`` and the grid itself
        (``axes``, ``density``), for checks and contour plots.
        """
        if self.dim != 2:
            raise ValueError(f"grid_posterior is for D = 2 weights, this model has D = {self.dim}")
        half_width = check_positive(half_width, "half_width")
        n_grid = check_positive_int(n_grid, "n_grid")
        a = np.linspace(-half_width, half_width, n_grid)
        logp = self.log_posterior_grid([a, a])
        cell = (a[1] - a[0]) ** 2
        top = logp.max()
        unnorm = np.exp(logp - top)
        total = unnorm.sum()
        density = unnorm / (total * cell)
        p = unnorm / total
        W0, W1 = np.meshgrid(a, a, indexing="ij")
        mean = np.array([np.sum(p * W0), np.sum(p * W1)])
        var = np.array([np.sum(p * (W0 - mean[0]) ** 2), np.sum(p * (W1 - mean[1]) ** 2)])
        corr = np.sum(p * (W0 - mean[0]) * (W1 - mean[1])) / np.sqrt(var[0] * var[1])
        return {"mean": mean, "std": np.sqrt(var), "corr": float(corr),
                "log_evidence": float(top + np.log(total * cell)),
                "axes": (a, a), "density": density}


class DiscreteSourceModel:
    """A discrete latent: which of K sources produced all the readings?

    z is one of K sources with prior probabilities :math:`p(z = k)` (``prior_probs``) and known
    means :math:`m_k`; given z, the readings are :math:`y_i \\sim \\mathcal N(m_z, \\sigma_y^2)`.  The
    variational family is ``Categorical(logits)`` (params :math:`\\phi`, shape (K,)), which contains the exact posterior
    :math:`p(z = k \\mid y) \\propto p(z = k) \\prod_i \\mathcal N(y_i; m_k, \\sigma_y^2)`.  z is discrete,
    so there is no pathwise gradient; the score function still works.

    Exact ELBO by enumeration, :math:`\\mathcal L = \\sum_k q_k (\\log p(y, z = k) - \\log q_k)`, and its
    gradient :math:`\\partial\\mathcal L/\\partial\\phi_j = q_j (\\log p(y, z = j) - \\log q_j - \\mathcal L)`.
    """

    def __init__(self, y, source_means, prior_probs=None, noise_std: float = 1.0):
        y = check_finite(y, "y")
        if y.ndim != 1 or y.size < 1:
            raise ValueError(f"y must be a 1-D array of at least one reading, got shape {y.shape}")
        means = check_finite(source_means, "source_means")
        if means.ndim != 1 or means.size < 2:
            raise ValueError(f"source_means must be a 1-D array of K >= 2 means, got shape {means.shape}")
        k = means.size
        prior = np.full(k, 1.0 / k) if prior_probs is None else check_shape(
            check_probabilities(prior_probs, "prior_probs"), (k,), "prior_probs")
        if np.any(prior <= 0):
            raise ValueError("prior_probs must be strictly positive for every source")
        self.y, self.source_means, self.prior_probs = y.copy(), means.copy(), prior.copy()
        self.noise_std = check_positive(noise_std, "noise_std")

    @property
    def n_sources(self) -> int:
        return int(self.source_means.size)

    def make_q(self, params) -> Categorical:
        """``Categorical(logits=params)``, params shape (K,)."""
        params = check_shape(check_finite(params, "params"), (self.n_sources,), "params")
        return Categorical(params)

    def initial_params(self) -> np.ndarray:
        """Start of every fit: the uniform q (all logits 0)."""
        return np.zeros(self.n_sources)

    def log_joint_table(self) -> np.ndarray:
        """:math:`\\log p(y, z = k) = \\log p(z = k) + \\sum_i \\log\\mathcal N(y_i; m_k, \\sigma_y^2)` for every k, shape (K,)."""
        r = self.y[None, :] - self.source_means[:, None]
        loglik = np.sum(-0.5 * (r / self.noise_std) ** 2 - np.log(self.noise_std) - 0.5 * LOG_2PI, axis=1)
        return np.log(self.prior_probs) + loglik

    def log_joint(self, z) -> np.ndarray:
        """:math:`\\log p(y, z)` for integer sources z (n,) -> (n,)."""
        z = np.asarray(z)
        if z.ndim != 1 or not np.issubdtype(z.dtype, np.integer) or np.any(z < 0) or np.any(z >= self.n_sources):
            raise ValueError(f"z must be a 1-D array of integer sources in 0..{self.n_sources - 1}")
        return self.log_joint_table()[z]

    def log_evidence(self) -> float:
        """:math:`\\log p(y) = \\log\\sum_k p(y, z = k)`."""
        log_joint = self.log_joint_table()
        return float(log_joint.max() + np.log(np.sum(np.exp(log_joint - log_joint.max()))))

    def posterior(self) -> np.ndarray:
        """Exact :math:`p(z \\mid y)`, shape (K,)."""
        return np.exp(self.log_joint_table() - self.log_evidence())

    def posterior_params(self) -> np.ndarray:
        """Logits of the exact posterior (up to an additive constant, fixed to mean zero)."""
        logp = self.log_joint_table() - self.log_evidence()
        return logp - logp.mean()

    def elbo(self, params) -> float:
        """Exact ELBO :math:`\\sum_k q_k(\\log p(y, z = k) - \\log q_k)`."""
        q = self.make_q(params)
        return float(np.sum(q.probs() * (self.log_joint_table() - q.log_probs())))

    def elbo_grad(self, params) -> np.ndarray:
        """Exact gradient :math:`q_j (\\log p(y, z = j) - \\log q_j - \\mathcal L)` with respect to the logits :math:`\\phi_j`."""
        q = self.make_q(params)
        c = self.log_joint_table() - q.log_probs()
        probs = q.probs()
        return probs * (c - np.sum(probs * c))

    def kl_to_posterior(self, params) -> float:
        """:math:`\\mathrm{KL}(q \\,\\|\\, p(\\cdot \\mid y)) = \\sum_k q_k \\log(q_k / p_k)`."""
        q = self.make_q(params)
        logpost = self.log_joint_table() - self.log_evidence()
        return float(np.sum(q.probs() * (q.log_probs() - logpost)))


# ---------------------------------------------------------------------------------------------
# Estimators of the ELBO and its gradient
# ---------------------------------------------------------------------------------------------
def _check_model(model):
    for name in ("log_joint", "make_q"):
        if not hasattr(model, name):
            raise ValueError(f"model must provide {name}() like the models in pgbook.vi; {type(model).__name__} does not")
    return model


def _signal(model, q):
    """:func:`elbo_signal` for a checked model."""

    def f(z):
        return model.log_joint(z) - q.log_prob(z)

    return f


def _entropy_gradient(q) -> np.ndarray:
    """Gradient of the entropy of a diagonal Gaussian q in its params: 0 for the means, 1 for each log-std."""
    return np.concatenate([np.zeros(q.dim), np.ones(q.dim)])


def _check_pathwise(model):
    if not hasattr(model, "grad_log_joint"):
        raise ValueError(
            f"{type(model).__name__} has a discrete latent (no grad_log_joint), so there is no pathwise "
            "gradient; use the score function (score_function_elbo_samples, or fit with estimator='score')")
    return model


def elbo_signal(model, q):
    """The integrand ``f(z) = log p(y, z) - log q(z)`` (the "ELBO signal"), vectorised: z (n, ...) -> (n,).

    Its mean under q is the ELBO; at the exact posterior it equals :math:`\\log p(y)` for every z.
    """
    return _signal(_check_model(model), q)


def elbo_estimate(model, params, n: int, rng) -> tuple[float, float]:
    """Monte Carlo ELBO at ``params``: mean of the ELBO signal over ``n`` draws from q, and its standard error."""
    n = check_positive_int(n, "n")
    q = _check_model(model).make_q(params)
    values = _signal(model, q)(q.sample(rng, n))
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def score_function_elbo_samples(model, params, n: int, rng, baseline=None) -> np.ndarray:
    """Black-box VI gradient samples :math:`(\\log p(y,z_k) - \\log q_\\phi(z_k) - b)\\,\\nabla_\\phi\\log q_\\phi(z_k)`, shape (n, P).

    Computed by ``pgbook.estimators.score_function_samples`` with f = :func:`elbo_signal`.
    ``baseline`` b (a number fixed before sampling, or None) leaves the mean unchanged because
    :math:`\\mathbb E_q[\\nabla\\log q] = 0`.  Works for any q with a score: Gaussian or categorical.
    """
    q = _check_model(model).make_q(params)
    return score_function_samples(q, _signal(model, q), n, rng, baseline=baseline)


def pathwise_elbo_samples(model, params, n: int, rng) -> np.ndarray:
    """Pathwise ELBO gradient samples, shape (n, P): :func:`pgbook.pathwise.pathwise_samples` applied to
    :math:`\\log p(y, z)` plus the exact gradient of the Gaussian entropy (0 for the means, 1 for each log-std).

    Needs a reparameterisable q and a differentiable ``model.grad_log_joint``; a model with a
    discrete latent raises ValueError.
    """
    q = _check_pathwise(_check_model(model)).make_q(params)
    return pathwise_samples(q, model.grad_log_joint, n, rng) + _entropy_gradient(q)


# ---------------------------------------------------------------------------------------------
# Stochastic gradient ascent
# ---------------------------------------------------------------------------------------------
@dataclass
class VIConfig(Config):
    """Every setting of a variational-inference fit (:func:`fit`).

    ``VIConfig(estimator="pathwise")`` changes one field; ``config.replace(...)`` returns a
    modified copy; :meth:`validate` (called on construction and by :func:`fit`) raises an error
    naming any bad field: :class:`pgbook._validate.ArgumentTypeError` (a TypeError that is also a
    ValueError) for a value of the wrong type, ValueError for one out of range.
    """

    estimator: str = "score"
    """``"score"`` (black-box VI), ``"pathwise"`` (reparameterisation) or ``"exact"``
    (``model.elbo_grad``, deterministic: the reference answer)."""
    n_samples: int = 32
    """Draws from q per iteration (one vectorised batch); not used by ``"exact"``."""
    baseline: bool = True
    """For ``"score"``: subtract a running mean of the ELBO signal of the previous iterations (an
    exponential moving average with ``baseline_decay``); fixed before each batch is drawn, so the
    estimate stays unbiased."""
    baseline_decay: float = 0.9
    """Decay in [0, 1) of the running-mean baseline."""
    learning_rate: float = 0.05
    """Step size of the first iteration; iteration t (from 0) uses
    ``learning_rate / sqrt(1 + 10 t / max_iterations)``, a slow decay."""
    optimiser: str = "adam"
    """``"adam"`` (Adam with beta1=0.9, beta2=0.999, eps=1e-8) or ``"sgd"`` (plain steps with ``momentum``)."""
    momentum: float = 0.0
    """Momentum in [0, 1) of the ``"sgd"`` steps (0: plain gradient steps)."""
    max_iterations: int = 1500
    """Budget: the number of gradient steps."""
    average_fraction: float = 0.5
    """The result's ``theta`` is the mean of the iterates over this last fraction, in (0, 1], of the
    run, which removes most of the remaining jitter."""

    def validate(self) -> "VIConfig":
        """Raise an error naming the first field with a bad value; return self."""
        check_choice(self.estimator, ESTIMATORS, "estimator")
        check_positive_int(self.n_samples, "n_samples")
        check_bool(self.baseline, "baseline")
        if not 0.0 <= check_real(self.baseline_decay, "baseline_decay") < 1.0:
            raise ValueError(f"baseline_decay must lie in [0, 1), got {self.baseline_decay}")
        check_positive(self.learning_rate, "learning_rate")
        check_choice(self.optimiser, OPTIMISERS, "optimiser")
        if not 0.0 <= check_real(self.momentum, "momentum") < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        check_positive_int(self.max_iterations, "max_iterations")
        if not 0.0 < check_real(self.average_fraction, "average_fraction") <= 1.0:
            raise ValueError(f"average_fraction must lie in (0, 1], got {self.average_fraction}")
        return self


@dataclass
class FitResult(TracedResult):
    """What :func:`fit` returns: a :class:`pgbook.training.TracedResult` (starting parameters
    ``theta0`` = ``model.initial_params()``, ``thetas`` the whole path) with the fit's ``config``.

    ``theta`` is the *averaged* iterate, the fit's answer: the mean of the parameters over the
    last ``config.average_fraction`` of the iterations.  ``history`` holds one dict per iteration
    (see :func:`fit`); the parameters after the final step are :attr:`last_theta`.  ``status`` is
    ``"budget"``.
    """

    config: VIConfig

    @property
    def last_theta(self) -> np.ndarray:
        """The parameters after the final step (not averaged); ``theta0`` if no step was taken
        (a fit that diverged at its first step)."""
        return (self.history[-1]["theta"] if self.history else self.theta0).copy()


def fit(model, rng=None, config: VIConfig | None = None, **overrides) -> FitResult:
    """Fit q by stochastic gradient ascent on the ELBO.

    Every iteration draws ``n_samples`` z from the current q (one vectorised batch), forms the
    gradient estimate (the batch mean of the per-sample gradients: the score-function samples of
    :func:`pgbook.estimators.score_function_samples` with f the ELBO signal, or the pathwise
    samples of :func:`pathwise_elbo_samples`), and takes an Adam (or SGD) step with step size
    ``learning_rate / sqrt(1 + 10 t / max_iterations)`` (a slow decay).

    Parameters
    ----------
    model : ConjugateGaussianModel, LogisticRegressionModel or DiscreteSourceModel
        The model whose ELBO is maximised, from ``model.initial_params()``.
    rng : numpy.random.Generator
        The source of the samples (not needed for ``estimator="exact"``).
    config : VIConfig, optional
        All settings (default: ``VIConfig()``); keyword ``overrides`` replace fields.

    History, one dict per iteration: ``iteration`` (from 1), ``theta`` (the parameters after
    the step), ``elbo`` (the mean ELBO signal of the batch, a Monte Carlo ELBO estimate at the
    parameters before the step; NaN for ``"exact"``) and ``learning_rate`` (the step size used).

    Returns a :class:`FitResult` whose ``theta`` is the averaged iterate (``status="budget"``).
    If a step makes the parameters non-finite or sends a log-std out of [-20, 20], the run stops
    with ``status="diverged"``, warns with :class:`pgbook.training.TrainingDivergedWarning`, says
    in ``message`` what to change, and ``theta`` is the last iterate before that step.

    Raises
    ------
    ValueError
        On bad settings.
    """
    config = VIConfig.make(config, **overrides)
    _check_model(model)
    if config.estimator != "exact":
        rng = check_rng(rng)
    if config.estimator == "pathwise":
        _check_pathwise(model)
    start = time.perf_counter()
    theta0 = model.initial_params()
    step = make_optimiser(config.optimiser, theta0.size, config.learning_rate, config.momentum)
    log_std = slice(theta0.size // 2, None) if isinstance(model.make_q(theta0), Gaussian) else slice(0, 0)
    theta, history, running = theta0, [], None
    for iteration in range(1, config.max_iterations + 1):
        q = model.make_q(theta)
        if config.estimator == "exact":
            grad, elbo = model.elbo_grad(theta), float("nan")
        else:
            if config.estimator == "score":
                z = q.sample(rng, config.n_samples)
                values = _signal(model, q)(z)
                b = running if config.baseline else None
                grad = score_function_from_draws(q, z, values, baseline=b).mean(axis=0)
            else:
                eps = q.sample_eps(rng, config.n_samples)
                values = _signal(model, q)(q.reparameterize(eps))
                grad = pathwise_from_eps(q, model.grad_log_joint, eps).mean(axis=0) + _entropy_gradient(q)
            elbo = float(np.mean(values))                     # the batch's ELBO estimate
            d = config.baseline_decay
            running = elbo if running is None else d * running + (1 - d) * elbo
        step.learning_rate = config.learning_rate / np.sqrt(1.0 + 10.0 * (iteration - 1) / config.max_iterations)
        with np.errstate(all="ignore"):          # a non-finite step is caught just below
            new_theta = theta + step.step(grad)
        if not np.all(np.isfinite(new_theta)) or np.any(np.abs(new_theta[log_std]) > 20):
            message = divergence_message(
                iteration, f"the parameters became NaN or infinite or a log standard deviation left [-20, 20] "
                f"({new_theta})", f"{learning_rate_hint(config.learning_rate)}, or raise n_samples (now {config.n_samples})")
            warnings.warn(message, TrainingDivergedWarning, stacklevel=2)
            return FitResult(theta=theta, history=history, status="diverged", message=message,
                             wall_time=time.perf_counter() - start, config=config, theta0=theta0)
        theta = new_theta
        history.append({"iteration": iteration, "theta": theta.copy(), "elbo": elbo,
                        "learning_rate": step.learning_rate})
    first = max(1, int(round((1.0 - config.average_fraction) * config.max_iterations)))
    averaged = np.mean([row["theta"] for row in history[first - 1:]], axis=0)
    return FitResult(theta=averaged, history=history, status="budget",
                     message=f"ran its budget of {config.max_iterations} iterations; theta is the mean of the "
                             f"last {config.max_iterations - first + 1} iterates",
                     wall_time=time.perf_counter() - start, config=config, theta0=theta0)


# ---------------------------------------------------------------------------------------------
# SymPy: the conjugate model's ELBO derived from its definition, independently of the closed form
# ---------------------------------------------------------------------------------------------
def symbolic_conjugate_elbo(model: ConjugateGaussianModel):
    """The ELBO of a :class:`ConjugateGaussianModel` derived by SymPy from its definition.

    Writes :math:`z = \\mu + e^{\\omega} \\varepsilon` with :math:`\\varepsilon \\sim \\mathcal N(0, 1)`, expands
    :math:`\\log p(y, z) - \\log q(z)` as a polynomial in :math:`\\varepsilon` and integrates it term by term against
    the standard normal density (the data enter as exact rationals).  Nothing from the
    closed-form methods is used.  Returns ``(elbo, mu, omega)``: a SymPy expression and its symbols.
    """
    import sympy as sp

    if not isinstance(model, ConjugateGaussianModel):
        raise ValueError(f"model must be a ConjugateGaussianModel, got {type(model).__name__}")
    eps = sp.Symbol("epsilon", real=True)
    mu, omega = sp.symbols("mu omega", real=True)

    def exact(x):
        return sp.Rational(float(x))

    def log_normal(x, mean, std):
        return -sp.log(2 * sp.pi) / 2 - sp.log(std) - (x - mean) ** 2 / (2 * std**2)

    z = mu + sp.exp(omega) * eps
    sigma_y, m0, sigma_0 = exact(model.noise_std), exact(model.prior_mean), exact(model.prior_std)
    integrand = sum(log_normal(exact(y), z, sigma_y) for y in model.y) + log_normal(z, m0, sigma_0) \
        - log_normal(z, mu, sp.exp(omega))
    poly = sp.Poly(sp.expand(integrand), eps)
    density = sp.exp(-(eps**2) / 2) / sp.sqrt(2 * sp.pi)
    elbo = sum(c * sp.integrate(eps**k * density, (eps, -sp.oo, sp.oo)) for (k,), c in poly.terms())
    return sp.simplify(sp.expand_log(elbo, force=True)), mu, omega
