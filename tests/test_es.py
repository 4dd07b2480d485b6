"""pgbook.es: the search distribution's score, fitness shaping, the score-function gradient of
the Gaussian-smoothed objective against closed forms, quadrature and finite differences, the
optimiser reaching the known optimum of the 20-D quadratic, the CartPole black box (first
episode only, checked against an unvectorised environment) and the errors on bad input.

Random checks draw from ``pgbook.make_rng`` (seed from PGBOOK_SEED) and compare with exact values
through ``pgbook.estimators.compare``: each check fails a correct estimator with probability at
most 1e-6, counting all the comparisons it makes."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import pgbook
from pgbook import es
from pgbook.estimators import compare


def test_search_distribution_score_is_gradient_of_log_prob():
    dist = es.SearchDistribution(np.array([0.3, -1.0, 2.0]), sigma=0.7, antithetic=False)
    x = dist.sample(pgbook.make_rng(1), 6)
    h = 1e-6
    fd = np.stack([(dist.with_params(dist.params + h * e).log_prob(x)
                    - dist.with_params(dist.params - h * e).log_prob(x)) / (2 * h) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(dist.score(x), fd, rtol=1e-6, atol=1e-6)
    # log_prob is the normal density: compare with the textbook formula in one dimension
    one = es.SearchDistribution(np.array([0.5]), sigma=2.0)
    xs = np.array([[0.5], [2.5]])
    expected = -0.5 * ((xs[:, 0] - 0.5) / 2.0) ** 2 - np.log(2.0 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(one.log_prob(xs), expected)


def test_antithetic_samples_come_in_mirrored_pairs():
    theta = np.array([1.0, 2.0])
    x = es.SearchDistribution(theta, 0.5).sample(pgbook.make_rng(2), 8)
    np.testing.assert_allclose(x[:4] - theta, -(x[4:] - theta))


def test_centered_ranks_by_hand():
    np.testing.assert_allclose(es.centered_ranks(np.array([3.0, -1.0, 10.0])), [0.0, -0.5, 0.5])
    # ties share the average rank; equal values give no step at all
    np.testing.assert_allclose(es.centered_ranks(np.array([1.0, 5.0, 5.0, 7.0, 9.0])), [-0.5, -0.125, -0.125, 0.25, 0.5])
    np.testing.assert_allclose(es.centered_ranks(np.full(6, 500.0)), np.zeros(6))
    v = pgbook.make_rng(3).standard_normal(11)
    np.testing.assert_allclose(es.centered_ranks(v), es.centered_ranks(np.exp(3 * v)))  # monotone invariance
    assert abs(es.centered_ranks(v).sum()) < 1e-12


def test_smoothed_gradient_of_quadratic_matches_closed_form():
    q = es.quadratic_problem()
    theta = np.zeros(q.dim)
    exact = q.smoothed_gradient(theta, 0.3)
    np.testing.assert_allclose(exact, q.A @ (theta - q.x_star))
    for antithetic in (False, True):
        samples = es.smoothed_gradient_samples(q, theta, 0.3, 4000, pgbook.make_rng(4), antithetic=antithetic)
        assert samples.shape == ((2000 if antithetic else 4000), q.dim)
        cmp = compare(samples, exact, comparisons=2 * exact.size)     # both variants: one check
        assert cmp.passed and cmp.untested == 0, str(cmp)


def test_antithetic_covariance_of_quadratic_matches_closed_form():
    q = es.quadratic_problem(d=5)
    theta = np.ones(5)
    samples = es.smoothed_gradient_samples(q, theta, 0.2, 40000, pgbook.make_rng(5), antithetic=True)
    exact = q.antithetic_covariance(theta, 0.2)
    g = q.gradient(theta)
    np.testing.assert_allclose(np.trace(exact), (q.dim + 1) * g @ g)
    # total variance: per-sample squared deviations have a finite variance, so use its standard error
    dev2 = np.sum((samples - g) ** 2, axis=1)
    cmp = compare(dev2, np.trace(exact))
    assert cmp.passed and cmp.untested == 0, str(cmp)


def test_quadratic_smoothed_value_by_finite_differences_and_monte_carlo():
    q = es.quadratic_problem(d=6, condition=4.0)
    theta = np.linspace(-1, 1, 6)
    fd = pgbook.estimators.finite_difference_gradient(lambda th: q.smoothed(th, 0.5), theta, eps=1e-5)
    np.testing.assert_allclose(fd, q.smoothed_gradient(theta, 0.5), atol=1e-6)
    eps = pgbook.make_rng(6).standard_normal((100000, 6))
    values = q(theta + 0.5 * eps)
    cmp = compare(values, q.smoothed(theta, 0.5))
    assert cmp.passed and cmp.untested == 0, str(cmp)


def test_rosenbrock_values_and_smoothed_closed_form():
    assert es.rosenbrock(np.array([1.0, 1.0]))[0] == 0.0
    np.testing.assert_allclose(es.rosenbrock(np.array([[0.0, 0.0], [-1.0, 2.0]])), [1.0, 4.0 + 100.0])
    for theta, sigma in [(np.array([-1.5, 2.0]), 0.3), (np.array([0.2, 0.05]), 0.1), (np.array([1.0, 1.0]), 1.0)]:
        quad = es.smoothed_objective_quadrature(es.rosenbrock, theta, sigma, order=6)  # exact for degree 4
        np.testing.assert_allclose(quad, es.rosenbrock_smoothed(theta, sigma), rtol=1e-10)
    # vectorised form: a grid of points at once
    grid = np.array([[[-1.5, 2.0], [0.2, 0.05]], [[1.0, 1.0], [0.0, 0.0]]])
    batch = es.rosenbrock_smoothed(grid, 0.3)
    assert batch.shape == (2, 2)
    np.testing.assert_allclose(batch[1, 0], es.smoothed_objective_quadrature(es.rosenbrock, grid[1, 0], 0.3, order=6))


def test_rosenbrock_smoothed_minimiser_is_stationary():
    for sigma in (0.05, 0.1, 0.5):
        m = es.rosenbrock_smoothed_minimiser(sigma)
        grad = pgbook.estimators.finite_difference_gradient(lambda th: es.rosenbrock_smoothed(th, sigma), m, 1e-6)
        np.testing.assert_allclose(grad, 0.0, atol=1e-5)
        # and it is a minimum: the value rises in every direction
        for direction in ([1, 0], [0, 1], [1, 1], [1, -1]):
            step = 1e-3 * np.array(direction, float)
            assert es.rosenbrock_smoothed(m + step, sigma) > es.rosenbrock_smoothed(m, sigma)
    np.testing.assert_allclose(es.rosenbrock_smoothed_minimiser(0.1), [0.2, 0.05])


def test_rosenbrock_score_function_gradient_matches_finite_differences_of_quadrature():
    theta, sigma = np.array([-0.5, 1.0]), 0.2
    fd = pgbook.estimators.finite_difference_gradient(
        lambda th: es.smoothed_objective_quadrature(es.rosenbrock, th, sigma, order=6), theta, eps=1e-5)
    samples = es.smoothed_gradient_samples(es.rosenbrock, theta, sigma, 20000, pgbook.make_rng(7), antithetic=True)
    cmp = compare(samples, fd)
    assert cmp.passed and cmp.untested == 0, str(cmp)


def test_es_reaches_the_known_optimum_of_the_20d_quadratic():
    q = es.quadratic_problem()
    start_error = np.max(np.abs(q.x_star))
    ranked = es.optimize(q, np.zeros(20), sigma=0.1, population=50, iterations=300, learning_rate=0.05,
                         rng=pgbook.make_rng(8))
    # stated tolerance: every coordinate within 0.05 of x* (the start is up to ~1.9 away)
    assert start_error > 1.0
    assert np.max(np.abs(ranked.theta - q.x_star)) < 0.05
    assert q(ranked.theta)[0] - q.c < 1e-2
    # raw fitness, SGD: the antithetic estimate's noise shrinks with the gradient, so it converges exactly
    plain = es.optimize(q, np.zeros(20), sigma=0.1, population=50, iterations=300, learning_rate=0.05,
                        rng=pgbook.make_rng(9), optimizer="sgd", shaping="none")
    assert np.max(np.abs(plain.theta - q.x_star)) < 1e-4
    assert plain.thetas.shape == (301, 20) and plain.evaluations == 300 * 50


def test_es_on_rosenbrock_with_decaying_sigma_reaches_the_minimum():
    r = es.optimize(es.rosenbrock, np.array([-1.5, 2.0]), sigma=0.1, population=20, iterations=800,
                    learning_rate=0.05, sigma_decay=0.994, sigma_min=1e-3, learning_rate_decay=0.996,
                    rng=pgbook.make_rng(10))
    assert np.max(np.abs(r.theta - 1.0)) < 0.1
    assert np.isclose(r.sigmas[-1], max(0.1 * 0.994**799, 1e-3)) and np.isclose(r.learning_rates[-1], 0.05 * 0.996**799)


def test_es_with_fixed_sigma_finds_the_smoothed_minimiser_not_the_true_one():
    r = es.optimize(es.rosenbrock, np.array([-1.5, 2.0]), sigma=0.1, population=20, iterations=2000,
                    learning_rate=0.01, shaping="none", rng=pgbook.make_rng(16))
    average = r.thetas[-1000:].mean(axis=0)
    assert np.max(np.abs(average - es.rosenbrock_smoothed_minimiser(0.1))) < 0.1
    assert np.max(np.abs(average - 1.0)) > 0.5


def _single_env_return(theta, state):
    """Episode return of the linear policy from ``state`` in an unvectorised CartPole-v1."""
    env = gym.make("CartPole-v1")
    env.reset(seed=0)  # any seed: the start state is overwritten on the next line
    env.unwrapped.state = np.array(state, dtype=float)
    obs = np.array(state, dtype=np.float32)
    total = 0.0
    while True:
        action = int(obs @ theta[:4] + theta[4] > 0)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += reward
        if terminated or truncated:
            return total


def test_cartpole_returns_count_the_first_episode_only():
    rng = pgbook.make_rng(11)
    thetas = np.concatenate([np.zeros((3, 5)), rng.normal(0, 1, (5, 5)), np.tile([0, 0, 1.0, 1.0, 0], (2, 1))])
    # a fixed reset seed is fine: the check replays the same start states exactly, nothing is statistical
    returns = es.cartpole_returns(thetas, seed=123)
    initial = es.cartpole_start_states(thetas.shape[0], seed=123)  # (n, 4) starting states of the same reset
    assert initial.shape == (thetas.shape[0], 4) and np.all(np.abs(initial) <= 0.05)
    expected = [_single_env_return(th, s) for th, s in zip(thetas, initial)]
    np.testing.assert_allclose(returns, expected)
    assert returns.max() <= 500 and returns[:3].max() < 20  # always pushing left falls quickly


def test_es_solves_cartpole_with_a_linear_policy():
    rng = pgbook.make_rng(12)
    box = es.CartPoleBlackBox(rng)
    r = es.optimize(box, np.zeros(5), sigma=0.1, population=40, iterations=150, learning_rate=0.05, rng=rng,
                    maximize=True, target=495.0)
    evaluation = es.cartpole_returns(np.tile(r.theta, (100, 1)), seed=int(rng.integers(2**31 - 1)))
    assert evaluation.mean() >= 475
    iterations = r.population_values.size
    assert box.episodes == r.evaluations == iterations * 40 and r.thetas.shape == (iterations + 1, 5)
    assert iterations == 150 or r.population_values[-1] >= 495


def test_target_stops_the_run_early():
    q = es.quadratic_problem(d=4, condition=2.0)
    r = es.optimize(q, np.zeros(4), sigma=0.05, population=10, iterations=500, learning_rate=0.05,
                    rng=pgbook.make_rng(17), target=q.c + 0.5)
    n = r.population_values.size
    assert n < 500 and r.population_values[-1] <= q.c + 0.5 and np.all(r.population_values[:-1] > q.c + 0.5)
    assert r.thetas.shape == (n + 1, 4) and r.sigmas.shape == (n,) and r.evaluations == 10 * n


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sigma": 0.0}, "sigma"),
        ({"population": 7}, "population"),
        ({"population": 1, "antithetic": False}, "population"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"shaping": "fancy"}, "shaping"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"sigma_decay": 1.5}, "sigma_decay"),
        ({"learning_rate_decay": 0.0}, "learning_rate_decay"),
        ({"target": float("nan")}, "target"),
        ({"iterations": 0}, "iterations"),
    ],
)
def test_optimize_rejects_bad_settings(kwargs, match):
    settings = dict(sigma=0.1, population=10, iterations=5, learning_rate=0.1, rng=pgbook.make_rng(13))
    settings.update(kwargs)
    with pytest.raises(ValueError, match=match):
        es.optimize(es.rosenbrock, np.zeros(2), **settings)


def test_bad_objectives_and_divergence_stop_with_a_message():
    rng = pgbook.make_rng(14)
    with pytest.raises(ValueError, match="NaN"):
        es.optimize(lambda x: np.full(x.shape[0], np.nan), np.zeros(2), sigma=0.1, population=4, iterations=2,
                    learning_rate=0.1, rng=rng)
    with pytest.raises(ValueError, match="shape"):
        es.optimize(lambda x: x, np.zeros(2), sigma=0.1, population=4, iterations=2, learning_rate=0.1, rng=rng)
    with pytest.raises(ValueError, match="learning_rate"):  # plain SGD on raw values with a huge step diverges
        es.optimize(es.quadratic_problem(d=3), np.zeros(3), sigma=0.1, population=4, iterations=200,
                    learning_rate=50.0, rng=rng, optimizer="sgd", shaping="none")
    with pytest.raises(ValueError, match="theta0"):
        es.optimize(es.rosenbrock, np.array([np.inf, 0.0]), sigma=0.1, population=4, iterations=2,
                    learning_rate=0.1, rng=rng)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="even"):
        es.SearchDistribution(np.zeros(2), 1.0).sample(pgbook.make_rng(15), 3)
    with pytest.raises(ValueError, match="sigma"):
        es.SearchDistribution(np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="values"):
        es.centered_ranks(np.array([1.0]))
    with pytest.raises(ValueError, match="at most 4"):
        es.smoothed_objective_quadrature(es.rosenbrock, np.zeros(5), 0.1)
    with pytest.raises(ValueError, match="thetas"):
        es.cartpole_returns(np.zeros((3, 4)), seed=0)
    with pytest.raises(ValueError, match="positive definite"):
        es.Quadratic(A=-np.eye(2), x_star=np.zeros(2))
    with pytest.raises(ValueError, match="A must have shape"):
        es.Quadratic(A=np.eye(3), x_star=np.zeros(2))
