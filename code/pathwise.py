"""The pathwise (reparameterisation) gradient estimator.

For a distribution that can be written as a smooth map of fixed noise,
:math:`x = g_\\theta(\\varepsilon)` with :math:`\\varepsilon \\sim p(\\varepsilon)` free of
:math:`\\theta`, the gradient of an expectation moves inside it:

.. math::

    \\nabla_\\theta \\, \\mathbb E_{x \\sim p_\\theta}[f(x)]
      = \\mathbb E_{\\varepsilon}\\big[ D_\\theta(\\varepsilon)^\\top \\, \\nabla_x f(x) \\big|_{x = g_\\theta(\\varepsilon)} \\big],
    \\qquad D_\\theta(\\varepsilon) = \\partial g_\\theta(\\varepsilon) / \\partial \\theta

(:math:`D_\\theta` is the Jacobian of the map from noise to sample).

Unlike the score-function estimator it needs the gradient of ``f`` (``grad_f``), not
just its values.  For the diagonal Gaussian of :mod:`pgbook.distributions`,
:math:`x = \\mu + \\sigma \\odot \\varepsilon` with :math:`\\sigma = e^{\\omega}` (:math:`\\omega` the
log standard deviation), so the per-sample gradient is

.. math::

    \\frac{\\partial f}{\\partial \\mu_i} = \\frac{\\partial f}{\\partial x_i}, \\qquad
    \\frac{\\partial f}{\\partial \\omega_i} = \\frac{\\partial f}{\\partial x_i} \\, \\sigma_i \\, \\varepsilon_i .

Public functions (stable signatures, used by the VI and black-box chapters):

* :func:`pathwise_samples` ``(dist, grad_f, n, rng) -> (n, P)``: one gradient sample per
  noise draw, in the same parameter order as ``dist.params`` and ``dist.score``.
* :func:`reparameterization_jacobian` ``(dist, eps) -> (n, d, P)``: :math:`\\partial x / \\partial \\theta`.
* :func:`pathwise_from_eps` ``(dist, grad_f, eps) -> (n, P)``: the same samples for given noise
  (for common random numbers or quadrature nodes).
"""
from __future__ import annotations

import numpy as np

from ._validate import ArgumentTypeError, check_finite, check_positive_int

__all__ = ["pathwise_samples", "pathwise_from_eps", "reparameterization_jacobian"]

#: What a distribution needs for the pathwise estimator (:class:`pgbook.distributions.Gaussian` has it all).
REPARAMETERISATION = ("sample_eps", "reparameterize", "reparameterize_jacobian", "params")


def _check_reparameterizable(dist):
    for name in REPARAMETERISATION:
        if not hasattr(dist, name):
            raise ValueError(
                f"dist must be reparameterisable (have {', '.join(REPARAMETERISATION)}, like "
                f"pgbook.distributions.Gaussian); {type(dist).__name__} has no '{name}'. "
                "Discrete distributions (Bernoulli, Categorical) have no pathwise gradient: use the score function."
            )
    return dist


def reparameterization_jacobian(dist, eps) -> np.ndarray:
    """The Jacobian :math:`\\partial x / \\partial \\theta` of the reparameterisation at each noise draw.

    Parameters
    ----------
    dist : pgbook.distributions.Gaussian, or any reparameterisable object
        Its ``reparameterize_jacobian(eps)`` gives the Jacobian.  For a Gaussian with d
        dimensions, ``params = [mean..., log_std...]`` (P = 2d) and
        :math:`\\partial x_i/\\partial\\mu_j = \\delta_{ij}`,
        :math:`\\partial x_i/\\partial\\omega_j = \\delta_{ij}\\,\\sigma_i\\varepsilon_i` (:math:`\\omega = \\log\\sigma`).
    eps : array (n, d) (or (n,) when d = 1)
        Standard-normal noise.

    Returns
    -------
    array (n, d, P)

    Raises
    ------
    ValueError
        If ``dist`` is not reparameterisable or ``eps`` has the wrong shape or is not finite.
    """
    return np.asarray(_check_reparameterizable(dist).reparameterize_jacobian(eps), dtype=float)


def _from_eps(dist, grad_f, eps) -> np.ndarray:
    """:func:`pathwise_from_eps` for a checked ``dist``."""
    if not callable(grad_f):
        raise ArgumentTypeError(f"grad_f must be a callable x (n, d) -> (n, d), got {type(grad_f).__name__}")
    jac = np.asarray(dist.reparameterize_jacobian(eps), dtype=float)
    n, d, _ = jac.shape
    x = np.asarray(dist.reparameterize(eps), dtype=float).reshape(n, d)
    g = np.asarray(grad_f(x))
    if g.shape == (n,) and d == 1:
        g = g[:, None]
    if g.shape != (n, d):
        raise ValueError(f"grad_f must return an array of shape (n, d) = ({n}, {d}), got {g.shape}")
    g = check_finite(g, "grad_f(x)")
    return np.einsum("nd,ndp->np", g, jac)


def pathwise_from_eps(dist, grad_f, eps) -> np.ndarray:
    """Pathwise gradient samples for the given noise draws ``eps``.

    Each row is :math:`D_\\theta(\\varepsilon_k)^\\top \\nabla_x f(x_k)` with
    :math:`x_k = g_\\theta(\\varepsilon_k)`.

    Parameters
    ----------
    dist : reparameterisable distribution
        See :func:`pathwise_samples`.
    grad_f : callable ``x (n, d) -> (n, d)``
        The gradient of the integrand f with respect to x, vectorised over the rows of x.
    eps : array (n, d)
        Standard-normal noise (``dist.sample_eps(rng, n)``), or quadrature nodes.

    Returns
    -------
    array (n, P), P = ``dist.params.size``.

    Raises
    ------
    ValueError
        Bad ``dist``/``eps``, or ``grad_f`` returning the wrong shape or non-finite values.
    """
    return _from_eps(_check_reparameterizable(dist), grad_f, eps)


def pathwise_samples(dist, grad_f, n: int, rng) -> np.ndarray:
    """``n`` independent pathwise (reparameterisation) gradient samples of
    :math:`\\mathbb E_{p_\\theta}[f(x)]`.

    Draws :math:`\\varepsilon_k` with ``dist.sample_eps(rng, n)``, maps them to
    :math:`x_k = g_\\theta(\\varepsilon_k)` and returns
    :math:`D_\\theta(\\varepsilon_k)^\\top \\nabla_x f(x_k)`.  Their mean is an unbiased estimate
    of :math:`\\nabla_\\theta \\mathbb E_{x\\sim p_\\theta}[f(x)]` whenever f is differentiable
    (and the expectation and gradient may be swapped).

    Parameters
    ----------
    dist : pgbook.distributions.Gaussian
        Or any object with ``sample_eps``, ``reparameterize``, ``reparameterize_jacobian`` and
        ``params``.
    grad_f : callable ``x (n, d) -> (n, d)``
        :math:`\\nabla_x f`, vectorised over rows.
    n : int >= 1
        Number of samples.
    rng : numpy.random.Generator
        The source of the noise :math:`\\varepsilon_k`.

    Returns
    -------
    array (n, P): the same parameter order as ``dist.params`` and ``dist.score``, so the
    result can be compared column by column with
    ``pgbook.estimators.score_function_samples(dist, f, n, rng)``.

    Raises
    ------
    ValueError
        If ``dist`` is not reparameterisable (e.g. Bernoulli or Categorical), ``n`` is not a
        positive integer, ``rng`` is not a Generator, or ``grad_f`` misbehaves.
    """
    _check_reparameterizable(dist)
    return _from_eps(dist, grad_f, dist.sample_eps(rng, check_positive_int(n, "n")))
