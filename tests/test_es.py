"""pgbook.es: the search distribution's score, fitness shaping, the score-function gradient of
the Gaussian-smoothed objective against closed forms, quadrature and finite differences, the
optimiser reaching the known optimum of the 20-D quadratic (its history, target, callback and
config), the CartPole black box (first
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
from pgbook.training import TrainingDivergedWarning
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
    ranked = es.optimise(q, np.zeros(20), pgbook.make_rng(8), sigma=0.1, population=50, max_iterations=300,
                         learning_rate=0.05)
    # stated tolerance: every coordinate within 0.05 of x* (the start is up to ~1.9 away)
    assert start_error > 1.0
    assert np.max(np.abs(ranked.theta - q.x_star)) < 0.05
    assert q(ranked.theta)[0] - q.c < 1e-2
    # raw fitness, SGD: the antithetic estimate's noise shrinks with the gradient, so it converges exactly
    plain = es.optimise(q, np.zeros(20), pgbook.make_rng(9), sigma=0.1, population=50, max_iterations=300,
                        learning_rate=0.05, optimiser="sgd", shaping="none")
    assert np.max(np.abs(plain.theta - q.x_star)) < 1e-4
    assert plain.thetas.shape == (301, 20) and plain.evaluations == 300 * 50
    assert plain.status == "budget" and ranked.status == "budget" and plain.iterations == 300


def test_es_on_rosenbrock_with_decaying_sigma_reaches_the_minimum():
    config = es.ESConfig(sigma=0.1, population=20, max_iterations=800, learning_rate=0.05, sigma_decay=0.994,
                         sigma_min=1e-3, learning_rate_decay=0.996)
    r = es.optimise(es.rosenbrock, np.array([-1.5, 2.0]), pgbook.make_rng(10), config)
    assert np.max(np.abs(r.theta - 1.0)) < 0.1
    sigmas, learning_rates = r.curve("sigma"), r.curve("learning_rate")
    assert np.isclose(sigmas[-1], max(0.1 * 0.994**799, 1e-3)) and np.isclose(learning_rates[-1], 0.05 * 0.996**799)
    assert r.config == config and r.populations is None


def test_es_with_fixed_sigma_finds_the_smoothed_minimiser_not_the_true_one():
    r = es.optimise(es.rosenbrock, np.array([-1.5, 2.0]), pgbook.make_rng(16), sigma=0.1, population=20,
                    max_iterations=2000, learning_rate=0.01, shaping="none")
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
    r = es.optimise(box, np.zeros(5), rng, sigma=0.1, population=40, max_iterations=150, learning_rate=0.05,
                    maximise=True, target=495.0)
    evaluation = es.cartpole_returns(np.tile(r.theta, (100, 1)), seed=int(rng.integers(2**31 - 1)))
    assert evaluation.mean() >= 475
    iterations = r.curve("value_mean").size
    assert box.episodes == r.evaluations == iterations * 40 and r.thetas.shape == (iterations + 1, 5)
    assert (iterations == 150 and r.status == "budget") or (r.curve("value_mean")[-1] >= 495 and r.status == "target")


def test_target_stops_the_run_early():
    q = es.quadratic_problem(d=4, condition=2.0)
    r = es.optimise(q, np.zeros(4), pgbook.make_rng(17), sigma=0.05, population=10, max_iterations=500,
                    learning_rate=0.05, target=q.c + 0.5, record_population=True)
    values = r.curve("value_mean")
    n = values.size
    assert n < 500 and values[-1] <= q.c + 0.5 and np.all(values[:-1] > q.c + 0.5) and r.status == "target"
    assert r.thetas.shape == (n + 1, 4) and r.curve("sigma").shape == (n,) and r.evaluations == 10 * n
    # the history holds what the run saw: each population, drawn around the mean before its step
    assert r.populations.shape == (n, 10, 4)
    np.testing.assert_allclose(r.populations.mean(axis=1), r.thetas[:-1], atol=1e-12)  # mirrored pairs
    np.testing.assert_allclose(values, q(r.populations.reshape(-1, 4)).reshape(n, 10).mean(axis=1))


def test_each_step_is_the_score_function_estimate_on_the_population_evaluated():
    """With raw fitness and plain SGD, the step is learning_rate * mean(-f(x_i) (x_i - theta) / sigma^2) over
    the recorded population, even when the objective draws from the run's own generator (a noisy black
    box does): the gradient is formed on the very candidates that were evaluated."""
    q = es.quadratic_problem(d=3)
    rng = pgbook.make_rng(20)

    def f(x):  # a black box that uses the shared generator, like CartPoleBlackBox
        rng.random(len(x))
        return q(x)

    r = es.optimise(f, np.ones(3), rng, sigma=0.2, population=6, max_iterations=3, learning_rate=0.01,
                    optimiser="sgd", shaping="none", record_population=True)
    for t in range(3):
        x, theta = r.populations[t], r.thetas[t]
        step = 0.01 * np.mean(-q(x)[:, None] * (x - theta) / 0.2**2, axis=0)
        np.testing.assert_allclose(r.thetas[t + 1] - theta, step, rtol=1e-10, atol=1e-14)
        assert r.curve("value_mean")[t] == pytest.approx(q(x).mean(), rel=1e-12)


def test_callback_sees_each_iteration_and_can_stop_the_run():
    seen = []

    def stop_at_three(row):
        seen.append(row["iteration"])
        return row["iteration"] == 3

    r = es.optimise(es.rosenbrock, np.zeros(2), pgbook.make_rng(18), population=4, max_iterations=10,
                    callback=stop_at_three)
    assert seen == [1, 2, 3] and r.iterations == 3 and r.status == "callback"
    np.testing.assert_array_equal(r.thetas[1:], r.curve("theta"))


def test_same_generator_same_run():
    runs = [es.optimise(es.rosenbrock, np.zeros(2), pgbook.make_rng(19), population=6, max_iterations=20)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].thetas, runs[1].thetas)


def test_config_replace_and_fields():
    config = es.ESConfig()
    changed = config.replace(sigma=0.3, maximise=True)
    assert (changed.sigma, changed.maximise, config.sigma, config.maximise) == (0.3, True, 0.1, False)
    with pytest.raises(TypeError, match="sigmaa"):
        config.replace(sigmaa=0.3)
    with pytest.raises(TypeError, match="config"):
        es.optimise(es.rosenbrock, np.zeros(2), pgbook.make_rng(0), config={"sigma": 0.1})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sigma": 0.0}, "sigma"),
        ({"population": 7}, "population"),
        ({"population": 1, "antithetic": False}, "population"),
        ({"optimiser": "rmsprop"}, "optimiser"),
        ({"shaping": "fancy"}, "shaping"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"sigma_decay": 1.5}, "sigma_decay"),
        ({"learning_rate_decay": 0.0}, "learning_rate_decay"),
        ({"target": float("nan")}, "target"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"momentum": 1.0}, "momentum"),
        ({"sigma_min": -1.0}, "sigma_min"),
        ({"maximise": "yes"}, "maximise"),
    ],
)
def test_optimise_rejects_bad_settings(kwargs, match):
    settings = dict(sigma=0.1, population=10, max_iterations=5, learning_rate=0.1)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=match):
        es.optimise(es.rosenbrock, np.zeros(2), pgbook.make_rng(13), **settings)
    with pytest.raises(ValueError, match=match):  # the config names the field on construction
        es.ESConfig(**settings)


def test_bad_objectives_and_divergence_stop_with_a_message():
    rng = pgbook.make_rng(14)
    small = es.ESConfig(sigma=0.1, population=4, max_iterations=2, learning_rate=0.1)
    with pytest.raises(ValueError, match="NaN"):
        es.optimise(lambda x: np.full(x.shape[0], np.nan), np.zeros(2), rng, small)
    with pytest.raises(ValueError, match="shape"):
        es.optimise(lambda x: x, np.zeros(2), rng, small)
    with pytest.warns(TrainingDivergedWarning, match="learning_rate"):  # SGD on raw values, a huge step
        run = es.optimise(es.quadratic_problem(d=3), np.zeros(3), rng, small, max_iterations=200,
                          learning_rate=50.0, optimiser="sgd", shaping="none")
    assert run.diverged and run.iterations < 200
    with pytest.raises(ValueError, match="theta0"):
        es.optimise(es.rosenbrock, np.array([np.inf, 0.0]), rng, small)
    with pytest.raises(TypeError, match="rng"):
        es.optimise(es.rosenbrock, np.zeros(2), 0, small)
    with pytest.raises(TypeError, match="callback"):
        es.optimise(es.rosenbrock, np.zeros(2), rng, small, callback="stop")


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="even"):
        es.SearchDistribution(np.zeros(2), 1.0).sample(pgbook.make_rng(15), 3)
    with pytest.raises(ValueError, match="sigma"):
        es.SearchDistribution(np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="values"):
        es.centered_ranks(np.array([1.0]))
    with pytest.raises(ValueError, match="nodes"):  # 40 nodes in each of 5 dimensions: too many
        es.smoothed_objective_quadrature(es.rosenbrock, np.zeros(5), 0.1)
    with pytest.raises(ValueError, match="thetas"):
        es.cartpole_returns(np.zeros((3, 4)), seed=0)
    with pytest.raises(ValueError, match="positive definite"):
        es.Quadratic(A=-np.eye(2), x_star=np.zeros(2))
    with pytest.raises(ValueError, match="A must have shape"):
        es.Quadratic(A=np.eye(3), x_star=np.zeros(2))


def test_a_run_that_diverges_stops_with_advice():
    f = lambda x: np.sum(x ** 2, axis=-1)
    with pytest.warns(TrainingDivergedWarning, match="lower learning_rate"):
        result = es.optimise(f, np.ones(2), np.random.default_rng(0), sigma=0.1, population=10,
                             max_iterations=50, learning_rate=1e9, shaping="none", optimiser="sgd")
    assert result.diverged and result.iterations < 50 and np.all(np.abs(result.theta) <= 1e8)
    assert "shaping='ranks'" in result.message
