"""Evolution strategies: black-box optimisation with the score-function estimator.

Replace the objective :math:`f(\\theta)` by its Gaussian smoothing, with :math:`\\sigma` the standard
deviation of the search Gaussian (its width) in every coordinate,

.. math::  J_\\sigma(\\theta) = \\mathbb E_{x \\sim \\mathcal N(\\theta, \\sigma^2 I)}[f(x)]
           = \\mathbb E_{\\varepsilon \\sim \\mathcal N(0, I)}[f(\\theta + \\sigma\\varepsilon)].

Its gradient is the general score-function estimator with the search distribution
:math:`p_\\theta = \\mathcal N(\\theta, \\sigma^2 I)`, whose score in the mean is
:math:`(x - \\theta)/\\sigma^2 = \\varepsilon/\\sigma`:

.. math::  \\nabla_\\theta J_\\sigma(\\theta) = \\mathbb E[f(\\theta + \\sigma\\varepsilon)\\,\\varepsilon] / \\sigma .

Only values of f are needed, never its gradient: f is a black box.  This module provides the
search distribution (:class:`SearchDistribution`, with antithetic sampling), rank-based fitness
shaping (:func:`centered_ranks`), the optimiser of Salimans et al. (2017) (:func:`optimise`
with the settings of :class:`ESConfig`, Adam or SGD steps), standard test functions with
closed forms (:func:`rosenbrock`, :class:`Quadratic`), and a linear CartPole-v1 policy
evaluated as a black box (:class:`CartPoleBlackBox`).  Objectives are vectorised: they take a
batch of parameter vectors ``(n, d)`` and return ``(n,)`` values.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from ._validate import (ArgumentTypeError, check_bool, check_choice, check_finite, check_finite_real,
                        check_nonnegative, check_positive, check_positive_int, check_real, check_rng, check_seed,
                        check_shape)
from .estimators import score_function_from_draws, score_function_samples
from .optim import make_optimiser
from .quadrature import gaussian_expectation
from .training import Config, TracedResult, TrainingDivergedWarning, divergence_message, learning_rate_hint

__all__ = [
    "SearchDistribution",
    "centered_ranks",
    "smoothed_gradient_samples",
    "smoothed_objective_quadrature",
    "ESConfig",
    "ESResult",
    "optimise",
    "rosenbrock",
    "rosenbrock_smoothed",
    "rosenbrock_smoothed_minimiser",
    "Quadratic",
    "quadratic_problem",
    "linear_policy_actions",
    "cartpole_returns",
    "cartpole_start_states",
    "CartPoleBlackBox",
]

SHAPINGS = ("ranks", "none")
OPTIMISERS = ("adam", "sgd")


# ---------------------------------------------------------------------------------------------
# The search distribution and the score-function gradient of the smoothed objective
# ---------------------------------------------------------------------------------------------
class SearchDistribution:
    """The isotropic Gaussian :math:`\\mathcal N(\\theta, \\sigma^2 I)` over parameter vectors.

    A distribution object in the sense of :func:`pgbook.estimators.score_function_samples`:
    its parameters are the mean ``theta`` (d,) only (``sigma`` is fixed), so ``score`` is
    ``(x - theta) / sigma^2`` with shape (n, d).  With ``antithetic=True`` the ``n`` samples
    (n even) come in mirrored pairs: rows ``i`` and ``i + n/2`` are ``theta + sigma*eps`` and
    ``theta - sigma*eps``.
    """

    def __init__(self, theta, sigma: float, antithetic: bool = True):
        theta = check_finite(theta, "theta")
        self.theta = check_shape(theta, (None,), "theta").copy()
        self.sigma = check_positive(sigma, "sigma")
        self.antithetic = bool(antithetic)

    @property
    def params(self) -> np.ndarray:
        return self.theta.copy()

    @property
    def dim(self) -> int:
        return self.theta.size

    def with_params(self, params) -> "SearchDistribution":
        return SearchDistribution(params, self.sigma, self.antithetic)

    def sample_eps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Standard-normal directions (n, d), in mirrored pairs when antithetic."""
        n = check_positive_int(n, "n")
        if self.antithetic:
            if n % 2:
                raise ValueError(f"n must be even for antithetic sampling, got {n}")
            half = rng.standard_normal((n // 2, self.dim))
            return np.concatenate([half, -half])
        return rng.standard_normal((n, self.dim))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` parameter vectors (n, d) drawn from the search distribution."""
        return self.theta + self.sigma * self.sample_eps(rng, n)

    def log_prob(self, x) -> np.ndarray:
        x = check_shape(check_finite(x, "x"), (None, self.dim), "x")
        z = (x - self.theta) / self.sigma
        return -0.5 * np.sum(z**2, axis=1) - self.dim * (np.log(self.sigma) + 0.5 * np.log(2 * np.pi))

    def score(self, x) -> np.ndarray:
        """Gradient of ``log_prob`` in the mean: ``(x - theta) / sigma^2``, shape (n, d)."""
        x = check_shape(check_finite(x, "x"), (None, self.dim), "x")
        return (x - self.theta) / self.sigma**2

    def mean(self) -> np.ndarray:
        return self.theta.copy()


def centered_ranks(values) -> np.ndarray:
    """Rank-based fitness shaping: values (n,) -> utilities in [-0.5, 0.5] (n,).

    The smallest value gets -0.5, the largest +0.5, evenly spaced in rank; tied values share
    the average of their ranks (so a population of equal values gives all zeros: no step).
    The utilities sum to zero, so they act as their own baseline, and they do not change if f
    is replaced by any increasing function of f.
    """
    values = check_shape(check_finite(values, "values"), (None,), "values")
    n = values.size
    if n < 2:
        raise ValueError(f"values needs at least 2 entries to rank, got {n}")
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = (first + (counts - 1) / 2.0)[inverse]
    return ranks / (n - 1) - 0.5


def _call_objective(f, x) -> np.ndarray:
    values = np.asarray(f(x), dtype=float)
    if values.shape != (x.shape[0],):
        raise ValueError(f"the objective must map a batch of shape {x.shape} to values of shape ({x.shape[0]},), "
                         f"got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("the objective returned NaN or infinite values; check it, or make sigma or the "
                         "learning rate smaller so the search stays where f is finite")
    return values


def smoothed_gradient_samples(f, theta, sigma: float, n: int, rng: np.random.Generator,
                              antithetic: bool = False) -> np.ndarray:
    """Independent unbiased samples of :math:`\\nabla_\\theta J_\\sigma(\\theta)` from ``n`` calls of f.

    Each sample is ``f(theta + sigma*eps) * eps / sigma`` (the score-function estimator of
    :mod:`pgbook.estimators` with :class:`SearchDistribution`).  With ``antithetic=True`` the
    two members of each mirrored pair are averaged,
    ``(f(theta + sigma*eps) - f(theta - sigma*eps)) * eps / (2 sigma)``, so the result has
    ``n / 2`` rows; rows are independent either way, so their standard error is honest.
    Returns (n, d) or (n/2, d).
    """
    dist = SearchDistribution(theta, sigma, antithetic)
    samples = score_function_samples(dist, lambda x: _call_objective(f, x), n, rng)
    if antithetic:
        half = samples.shape[0] // 2
        return 0.5 * (samples[:half] + samples[half:])
    return samples


def smoothed_objective_quadrature(f, theta, sigma: float, order: int = 40) -> float:
    """:math:`J_\\sigma(\\theta)` by tensor-product Gauss-Hermite quadrature (deterministic):
    :func:`pgbook.quadrature.gaussian_expectation` of f under :math:`\\mathcal N(\\theta, \\sigma^2 I)`.

    Practical for small dimension (``order ** d`` calls of f in one batch; with the default order
    up to d = 4); exact when f is a polynomial of degree below ``2 * order`` in every coordinate
    (e.g. Rosenbrock, of degree 4, with ``order=6``).
    """
    theta = check_shape(check_finite(theta, "theta"), (None,), "theta")
    return float(gaussian_expectation(lambda x: _call_objective(f, x), theta, check_positive(sigma, "sigma"), order))


# ---------------------------------------------------------------------------------------------
# The optimiser
# ---------------------------------------------------------------------------------------------
@dataclass
class ESConfig(Config):
    """Every setting of an evolution-strategies run (:func:`optimise`).

    ``ESConfig(sigma=0.2)`` changes one field; ``config.replace(...)`` returns a modified copy;
    :meth:`validate` (called on construction and by :func:`optimise`) raises an error naming any
    bad field: :class:`pgbook._validate.ArgumentTypeError` (a TypeError that is also a
    ValueError) for a value of the wrong type, ValueError for one out of range.
    """

    sigma: float = 0.1
    """Standard deviation of the search Gaussian in every coordinate, at the first iteration."""
    sigma_decay: float = 1.0
    """After each iteration sigma is multiplied by this number in (0, 1] (1: sigma stays fixed)."""
    sigma_min: float = 0.0
    """sigma never decays below this number (>= 0)."""
    population: int = 50
    """Parameter vectors drawn and evaluated per iteration (at least 2; even if ``antithetic``)."""
    antithetic: bool = True
    """Draw the population in mirrored pairs theta + sigma eps and theta - sigma eps."""
    shaping: str = "ranks"
    """``"ranks"``: replace the fitness by its centred ranks (:func:`centered_ranks`);
    ``"none"``: use the raw fitness."""
    maximise: bool = False
    """Maximise f (fitness f) instead of minimising it (fitness -f)."""
    learning_rate: float = 0.05
    """Step size of the optimiser at the first iteration."""
    learning_rate_decay: float = 1.0
    """After each iteration the step size is multiplied by this number in (0, 1]."""
    optimiser: str = "adam"
    """``"adam"`` (Adam with beta1=0.9, beta2=0.999, eps=1e-8) or ``"sgd"`` (plain steps with ``momentum``)."""
    momentum: float = 0.0
    """Momentum in [0, 1) of the ``"sgd"`` steps (0: plain gradient steps)."""
    max_iterations: int = 300
    """Budget: at most this many iterations (populations)."""
    target: float | None = None
    """Stop once the mean value of a population reaches this (``>=`` when maximising, ``<=`` when
    minimising); None: run the whole budget."""
    record_population: bool = False
    """Keep every population in the history (key ``"population"``), for pictures."""

    def validate(self) -> "ESConfig":
        """Raise an error naming the first field with a bad value; return self."""
        check_positive(self.sigma, "sigma")
        if not 0.0 < check_real(self.sigma_decay, "sigma_decay") <= 1.0:
            raise ValueError(f"sigma_decay must lie in (0, 1], got {self.sigma_decay}")
        check_nonnegative(self.sigma_min, "sigma_min")
        for name in ("antithetic", "maximise", "record_population"):
            check_bool(getattr(self, name), name)
        if check_positive_int(self.population, "population") < 2 or (self.antithetic and self.population % 2):
            raise ValueError(f"population must be >= 2 (and even when antithetic=True), got {self.population}")
        check_choice(self.shaping, SHAPINGS, "shaping")
        check_positive(self.learning_rate, "learning_rate")
        if not 0.0 < check_real(self.learning_rate_decay, "learning_rate_decay") <= 1.0:
            raise ValueError(f"learning_rate_decay must lie in (0, 1], got {self.learning_rate_decay}")
        check_choice(self.optimiser, OPTIMISERS, "optimiser")
        if not 0.0 <= check_real(self.momentum, "momentum") < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        check_positive_int(self.max_iterations, "max_iterations")
        if self.target is not None:
            check_finite_real(self.target, "target")
        return self


@dataclass
class ESResult(TracedResult):
    """What :func:`optimise` returns: a :class:`pgbook.training.TracedResult` (``thetas`` is the
    mean before every iteration and at the end) with the run's ``config``.

    ``theta`` is the final mean; ``history`` holds one dict per iteration (see :func:`optimise`);
    ``status`` is ``"budget"``, ``"target"`` or ``"callback"``.  The arrays below are read from
    the history.
    """

    config: ESConfig

    @property
    def populations(self) -> np.ndarray | None:
        """Every population, (iterations, population, d), if ``config.record_population``; else None."""
        return self.curve("population") if self.config.record_population else None

    @property
    def evaluations(self) -> int:
        """Number of values of f computed."""
        return self.iterations * self.config.population


def optimise(f, theta0, rng: np.random.Generator, config: ESConfig | None = None, callback=None,
             **overrides) -> ESResult:
    """Evolution strategies (Salimans et al., 2017): minimise (or maximise) a black-box f.

    Each iteration draws ``population`` parameter vectors from :math:`\\mathcal N(\\theta, \\sigma^2 I)`
    (in mirrored pairs if ``antithetic``), evaluates f on the whole batch at once, turns the
    values into fitness (``-f`` when minimising), shapes it (``shaping="ranks"``: centred ranks,
    :func:`centered_ranks`; ``"none"``: raw fitness), and forms the score-function estimate
    :math:`g = \\frac1n\\sum_i u_i\\,\\varepsilon_i/\\sigma` of the ascent direction with
    :func:`pgbook.estimators.score_function_samples`.  The mean moves by an Adam or SGD step
    along g.  After each iteration ``sigma`` is multiplied by ``sigma_decay`` (not below
    ``sigma_min``) and the step size by ``learning_rate_decay``.

    Parameters
    ----------
    f : callable
        The objective, vectorised: a batch (n, d) of parameter vectors to (n,) values.
    theta0 : array (d,)
        The starting mean.
    rng : numpy.random.Generator
        The source of the populations.
    config : ESConfig, optional
        All settings (default: ``ESConfig()``); keyword ``overrides`` replace fields.
    callback : callable, optional
        Called after every iteration with that iteration's history dict; returning True stops
        the run (``status="callback"``).

    History, one dict per iteration: ``iteration`` (from 1), ``theta`` (the mean after the
    step), ``sigma`` and ``learning_rate`` (those used in the step), ``value_mean`` (the mean of
    f over the population) and, with ``record_population``, ``population`` (n, d).

    Returns an :class:`ESResult` with ``status`` ``"target"`` if a population's mean value reached
    ``target``, ``"callback"`` if the callback stopped the run, ``"diverged"`` if a step sent
    :math:`|\\theta|` beyond 1e8 or out of the finite numbers (then it warns with
    :class:`pgbook.training.TrainingDivergedWarning`, its ``message`` says what to change and
    ``theta`` is the last mean before that step), else ``"budget"``.  Raises ValueError on bad
    settings and if f returns non-finite values.
    """
    config = ESConfig.make(config, **overrides)
    if not callable(f):
        raise ArgumentTypeError(f"f must be a function of a batch (n, d) of parameter vectors, got {type(f).__name__}")
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback must be a function of the history dict (or None), "
                                f"got {type(callback).__name__}")
    theta0 = check_shape(check_finite(theta0, "theta0"), (None,), "theta0").copy()
    rng = check_rng(rng)
    start = time.perf_counter()
    step = make_optimiser(config.optimiser, theta0.size, config.learning_rate, config.momentum)
    sign = 1.0 if config.maximise else -1.0
    theta, sigma, history, status = theta0, config.sigma, [], "budget"
    for iteration in range(1, config.max_iterations + 1):
        dist = SearchDistribution(theta, sigma, config.antithetic)
        population = dist.sample(rng, config.population)
        values = _call_objective(f, population)  # f may draw from rng too (a noisy black box)
        fitness = centered_ranks(sign * values) if config.shaping == "ranks" else sign * values
        grad = score_function_from_draws(dist, population, fitness).mean(axis=0)
        with np.errstate(all="ignore"):          # a non-finite step is caught just below
            new_theta = theta + step.step(grad)
        if not np.all(np.isfinite(new_theta)) or np.max(np.abs(new_theta)) > 1e8:
            status = "diverged"
            diverged = divergence_message(iteration, "the mean theta grew beyond 1e8 or became NaN or infinite",
                                          f"{learning_rate_hint(step.learning_rate)}, or use shaping='ranks'")
            warnings.warn(diverged, TrainingDivergedWarning, stacklevel=2)
            break
        theta = new_theta
        row = {"iteration": iteration, "theta": theta.copy(), "sigma": sigma, "learning_rate": step.learning_rate,
               "value_mean": float(values.mean())}
        if config.record_population:
            row["population"] = population
        history.append(row)
        sigma = max(sigma * config.sigma_decay, float(config.sigma_min))
        step.learning_rate *= config.learning_rate_decay
        if config.target is not None and sign * (row["value_mean"] - config.target) >= 0:
            status = "target"
            break
        if callback is not None and callback(row):
            status = "callback"
            break
    messages = {"budget": f"ran its budget of {config.max_iterations} iterations",
                "target": f"a population's mean value reached the target {config.target} at iteration {len(history)}",
                "callback": f"the callback stopped the run at iteration {len(history)}"}
    if status == "diverged":
        messages["diverged"] = diverged
    return ESResult(theta=theta, history=history, status=status, message=messages[status],
                    wall_time=time.perf_counter() - start, config=config, theta0=theta0)



# ---------------------------------------------------------------------------------------------
# Test functions with closed forms
# ---------------------------------------------------------------------------------------------
def _batch(x, name="x", d=None):
    x = check_finite(x, name)
    if x.ndim == 1:
        x = x[None, :]
    return check_shape(x, (None, d), name)


def rosenbrock(x, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """Rosenbrock's banana function, vectorised: x (n, d) -> (n,) with d >= 2,
    :math:`\\sum_i (a - x_i)^2 + b (x_{i+1} - x_i^2)^2`; minimum 0 at (a, a^2, ...) (a = 1: all ones)."""
    x = _batch(x)
    if x.shape[1] < 2:
        raise ValueError(f"x must have at least 2 columns, got shape {x.shape}")
    return np.sum((a - x[:, :-1]) ** 2 + b * (x[:, 1:] - x[:, :-1] ** 2) ** 2, axis=1)


def rosenbrock_smoothed(theta, sigma: float, a: float = 1.0, b: float = 100.0):
    """Closed form of the Gaussian-smoothed 2-D Rosenbrock function :math:`J_\\sigma(\\theta)`.

    With :math:`x = \\theta_1 + \\sigma\\varepsilon_1`, :math:`y = \\theta_2 + \\sigma\\varepsilon_2`:
    :math:`E[(a - x)^2] = (a-\\theta_1)^2 + \\sigma^2` and :math:`y - x^2` has mean
    :math:`\\theta_2 - \\theta_1^2 - \\sigma^2` and variance :math:`\\sigma^2 + 4\\theta_1^2\\sigma^2 + 2\\sigma^4`.
    theta (2,) gives a float; theta (..., 2) gives an array of shape (...).
    """
    theta = check_finite(theta, "theta")
    if theta.ndim < 1 or theta.shape[-1] != 2:
        raise ValueError(f"theta must have shape (2,) or (..., 2), got {theta.shape}")
    sigma2 = check_positive(sigma, "sigma") ** 2
    t1, t2 = theta[..., 0], theta[..., 1]
    value = (a - t1) ** 2 + sigma2 + b * ((t2 - t1**2 - sigma2) ** 2 + sigma2 + 4 * t1**2 * sigma2
                                         + 2 * sigma2**2)
    return float(value) if theta.ndim == 1 else value


def rosenbrock_smoothed_minimiser(sigma: float, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """The unique minimiser of the smoothed 2-D Rosenbrock function:
    :math:`\\theta_1 = a / (1 + 4 b \\sigma^2)`, :math:`\\theta_2 = \\theta_1^2 + \\sigma^2`
    (set both partial derivatives of :func:`rosenbrock_smoothed` to zero)."""
    sigma2 = check_positive(sigma, "sigma") ** 2
    t1 = a / (1 + 4 * b * sigma2)
    return np.array([t1, t1**2 + sigma2])


@dataclass(frozen=True)
class Quadratic:
    """:math:`f(x) = \\tfrac12 (x - x^*)^\\top A (x - x^*) + c` with A symmetric positive definite.

    Vectorised call (n, d) -> (n,).  Closed forms: the smoothed objective
    :math:`J_\\sigma(\\theta) = f(\\theta) + \\tfrac12\\sigma^2\\,\\mathrm{tr}A`, its gradient
    :math:`A(\\theta - x^*)` (the same as f's), and the covariance of one antithetic pair
    sample :math:`\\varepsilon\\varepsilon^\\top g` (g the gradient): :math:`\\|g\\|^2 I + g g^\\top`.
    """

    A: np.ndarray
    x_star: np.ndarray
    c: float = 0.0

    def __post_init__(self):
        A = check_finite(self.A, "A")
        x_star = check_shape(check_finite(self.x_star, "x_star"), (None,), "x_star")
        d = x_star.size
        check_shape(A, (d, d), "A")
        if not np.allclose(A, A.T):
            raise ValueError("A must be symmetric")
        if np.linalg.eigvalsh(A).min() <= 0:
            raise ValueError("A must be positive definite")

    @property
    def dim(self) -> int:
        return self.x_star.size

    def __call__(self, x) -> np.ndarray:
        z = _batch(x, d=self.dim) - self.x_star
        return 0.5 * np.einsum("ni,ij,nj->n", z, self.A, z) + self.c

    def gradient(self, theta) -> np.ndarray:
        theta = check_shape(check_finite(theta, "theta"), (self.dim,), "theta")
        return self.A @ (theta - self.x_star)

    def smoothed(self, theta, sigma: float) -> float:
        sigma = check_positive(sigma, "sigma")
        return float(self(theta)[0] + 0.5 * sigma**2 * np.trace(self.A))

    def smoothed_gradient(self, theta, sigma: float) -> np.ndarray:
        check_positive(sigma, "sigma")
        return self.gradient(theta)

    def antithetic_covariance(self, theta, sigma: float) -> np.ndarray:
        g = self.smoothed_gradient(theta, sigma)
        return (g @ g) * np.eye(self.dim) + np.outer(g, g)


def quadratic_problem(d: int = 20, condition: float = 10.0, seed: int = 2017) -> Quadratic:
    """The book's d-dimensional test quadratic: eigenvalues log-spaced from 1 to ``condition``,
    a random rotation and optimum ``x*`` drawn once from ``seed`` (a fixed problem, not a random
    check), minimum value c = 1."""
    d = check_positive_int(d, "d")
    condition = check_positive(condition, "condition")
    if condition < 1:
        raise ValueError(f"condition must be >= 1, got {condition}")
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = Q @ np.diag(np.logspace(0, np.log10(condition), d)) @ Q.T
    A = 0.5 * (A + A.T)
    return Quadratic(A=A, x_star=rng.uniform(-2, 2, d), c=1.0)


# ---------------------------------------------------------------------------------------------
# CartPole-v1 as a black box
# ---------------------------------------------------------------------------------------------
CARTPOLE_DIM = 5  # 4 observation weights + 1 bias


def linear_policy_actions(thetas, obs) -> np.ndarray:
    """Deterministic linear policy, one parameter vector per environment: push right (1) when
    ``obs @ theta[:4] + theta[4] > 0``, else left (0).  thetas (n, 5) = [4 weights, bias]; obs (n, 4) -> (n,) ints."""
    return (np.einsum("ni,ni->n", obs, thetas[:, :4]) + thetas[:, 4] > 0).astype(np.int64)


_ENVS: dict = {}


def _cartpole_env(n: int):
    import gymnasium as gym

    if n not in _ENVS:
        _ENVS[n] = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    return _ENVS[n]


def cartpole_start_states(n: int, seed: int) -> np.ndarray:
    """The starting states (n, 4) that :func:`cartpole_returns` uses for ``n`` policies and ``seed``
    (the internal float64 state of the vectorised environment right after ``reset(seed=seed)``)."""
    env = _cartpole_env(check_positive_int(n, "n"))
    env.reset(seed=check_seed(seed))
    return np.array(env.unwrapped.state, dtype=float).T.copy()


def cartpole_returns(thetas, seed: int, max_steps: int = 500) -> np.ndarray:
    """Undiscounted return of the first episode of each linear policy in ``thetas`` (n, 5) -> (n,).

    All n policies run at once in one vectorised CartPole-v1 (``vector_entry_point``), reset
    with ``seed``.  That environment resets a finished sub-environment on the *next* step (which
    ignores the action and pays reward 0), so each environment's reward counts only until its
    first episode ends (terminated or truncated at 500 steps); later steps are masked out.
    """
    thetas = _batch(thetas, "thetas", CARTPOLE_DIM)
    max_steps = check_positive_int(max_steps, "max_steps")
    n = thetas.shape[0]
    env = _cartpole_env(n)
    obs, _ = env.reset(seed=check_seed(seed))
    returns = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(max_steps):
        obs, reward, terminated, truncated, _ = env.step(linear_policy_actions(thetas, obs))
        returns += np.where(alive, reward, 0.0)
        alive &= ~(terminated | truncated)
        if not alive.any():
            break
    return returns


class CartPoleBlackBox:
    """The objective "episode return of a linear CartPole-v1 policy" as a black box for ES.

    Calling it with thetas (n, 5) returns (n,) returns, each from one episode; every call draws
    a fresh environment seed from ``rng`` (so the black box is noisy, as a real one is).
    ``calls`` and ``episodes`` count the work done.
    """

    dim = CARTPOLE_DIM

    def __init__(self, rng: np.random.Generator, max_steps: int = 500):
        self.rng = check_rng(rng)
        self.max_steps = check_positive_int(max_steps, "max_steps")
        self.calls = 0
        self.episodes = 0

    def __call__(self, thetas) -> np.ndarray:
        thetas = _batch(thetas, "thetas", CARTPOLE_DIM)
        self.calls += 1
        self.episodes += thetas.shape[0]
        return cartpole_returns(thetas, int(self.rng.integers(2**31 - 1)), self.max_steps)
