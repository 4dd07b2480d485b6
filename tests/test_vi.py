"""Variational inference: closed forms against SymPy, linear algebra, quadrature and finite
differences; score-function and pathwise ELBO gradients unbiased; fits reach the exact answer.

Monte Carlo checks use ``pgbook.make_rng`` (seed from PGBOOK_SEED) and ``pgbook.estimators.compare``:
each fails a correct estimator with probability at most 1e-6, counting all its comparisons."""
import numpy as np
import pytest
import sympy as sp

import pgbook
from pgbook import quadrature, vi
from pgbook.estimators import compare, finite_difference_gradient
from pgbook.training import TrainingDivergedWarning


def _agrees(samples, exact, comparisons):
    c = compare(samples, exact, comparisons=comparisons)
    assert c.passed and c.untested == 0, str(c)


def _elbo_estimate_agrees(model, params, n, stream, comparisons):
    """``vi.elbo_estimate`` is the mean and standard error of the ELBO signal at n draws from q, and that
    mean agrees with the exact ELBO: the same draws (same stream) are passed to ``compare``."""
    value, se = vi.elbo_estimate(model, params, n, pgbook.make_rng(stream))
    q = model.make_q(params)
    signal = vi.elbo_signal(model, q)(q.sample(pgbook.make_rng(stream), n))
    assert value == pytest.approx(signal.mean(), rel=1e-12) and se == pytest.approx(
        signal.std(ddof=1) / np.sqrt(n), rel=1e-12)
    _agrees(signal, np.array(model.elbo(params)), comparisons)


@pytest.fixture(scope="module")
def conj():
    # a fixed data set (the checks below are about this model, whatever its data), so a fixed seed
    return vi.ConjugateGaussianModel.generate(np.random.default_rng(3), n_data=12, true_mean=1.0,
                                              noise_std=1.5, prior_mean=-0.5, prior_std=2.0)


@pytest.fixture(scope="module")
def logreg():
    X, y = vi.logistic_regression_data()
    return vi.LogisticRegressionModel(X, y, prior_std=2.0)


@pytest.fixture(scope="module")
def discrete():
    return vi.DiscreteSourceModel(y=[0.8, 1.9, 0.3, 1.2], source_means=[-2.0, 0.0, 1.0, 3.0],
                                  prior_probs=[0.1, 0.3, 0.4, 0.2], noise_std=1.5)


# ----------------------------------------------------------------------------- conjugate model
def test_conjugate_elbo_and_gradient_match_sympy(conj):
    elbo, mu, omega = vi.symbolic_conjugate_elbo(conj)
    grad = [sp.lambdify((mu, omega), sp.diff(elbo, v)) for v in (mu, omega)]
    f = sp.lambdify((mu, omega), elbo)
    for params in ([0.3, -0.5], [-1.0, 0.4], [2.0, -2.0]):
        assert conj.elbo(params) == pytest.approx(float(f(*params)), rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(conj.elbo_grad(params), [g(*params) for g in grad], rtol=1e-9, atol=1e-9)


def test_conjugate_gradient_matches_finite_differences(conj):
    for params in ([0.3, -0.5], [-1.0, 0.4]):
        params = np.array(params)
        np.testing.assert_allclose(conj.elbo_grad(params), finite_difference_gradient(conj.elbo, params),
                                   rtol=1e-6, atol=1e-6)


def test_conjugate_posterior_and_evidence_by_linear_algebra(conj):
    # y ~ N(m0 1, sigma^2 I + s0^2 1 1^T) marginally; the posterior by completing the square via a solve
    n = conj.n_data
    cov = conj.noise_std**2 * np.eye(n) + conj.prior_std**2 * np.ones((n, n))
    r = conj.y - conj.prior_mean
    _, logdet = np.linalg.slogdet(cov)
    log_evidence = -0.5 * (n * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(cov, r))
    assert conj.log_evidence() == pytest.approx(log_evidence, rel=1e-12)
    # posterior mean = m0 + s0^2 1^T cov^{-1} r, variance = s0^2 - s0^4 1^T cov^{-1} 1
    ones = np.ones(n)
    mean = conj.prior_mean + conj.prior_std**2 * ones @ np.linalg.solve(cov, r)
    var = conj.prior_std**2 - conj.prior_std**4 * ones @ np.linalg.solve(cov, ones)
    np.testing.assert_allclose(conj.posterior(), [mean, np.sqrt(var)], rtol=1e-10)
    # the ELBO's maximum is log p(y), reached at the posterior, where the gradient vanishes
    assert conj.elbo(conj.posterior_params()) == pytest.approx(log_evidence, rel=1e-12)
    np.testing.assert_allclose(conj.elbo_grad(conj.posterior_params()), 0.0, atol=1e-9)


def test_kl_identity_and_kl_by_quadrature(conj):
    post_mean, post_std = conj.posterior()
    for mu, omega in ([0.3, -0.5], [1.2, -1.3]):
        sigma = np.exp(omega)
        kl = vi.gaussian_kl(mu, sigma, post_mean, post_std)
        # log p(y) - ELBO(q) = KL(q || posterior)
        assert conj.log_evidence() - conj.elbo([mu, omega]) == pytest.approx(kl, rel=1e-9, abs=1e-12)

        # KL by quadrature of E_q[log q - log p]
        def integrand(x):
            lq = -0.5 * ((x[:, 0] - mu) / sigma) ** 2 - np.log(sigma)
            lp = -0.5 * ((x[:, 0] - post_mean) / post_std) ** 2 - np.log(post_std)
            return lq - lp

        assert quadrature.gaussian_expectation(integrand, [mu], [sigma], order=20) == pytest.approx(kl, rel=1e-10,
                                                                                                 abs=1e-12)
    assert vi.gaussian_kl([0.0, 1.0], [1.0, 2.0], [0.0, 1.0], [1.0, 2.0]) == 0.0


def test_conjugate_estimators_unbiased(conj):
    rng = pgbook.make_rng(21)
    params = np.array([0.2, -0.3])
    exact = conj.elbo_grad(params)
    m = 3 * exact.size + 1                       # one check: three gradient estimators and the ELBO
    _agrees(vi.score_function_elbo_samples(conj, params, 50_000, rng), exact, m)
    _agrees(vi.score_function_elbo_samples(conj, params, 50_000, rng, baseline=-40.0), exact, m)
    _agrees(vi.pathwise_elbo_samples(conj, params, 50_000, rng), exact, m)
    _elbo_estimate_agrees(conj, params, 50_000, 29, m)


def test_elbo_signal_is_constant_at_the_posterior(conj):
    q = conj.make_q(conj.posterior_params())
    z = q.sample(pgbook.make_rng(22), 100)
    np.testing.assert_allclose(vi.elbo_signal(conj, q)(z), conj.log_evidence(), rtol=1e-10)


def test_score_function_fit_reaches_the_posterior(conj):
    result = vi.fit(conj, pgbook.make_rng(23), estimator="score", max_iterations=1500, n_samples=32,
                    learning_rate=0.05)
    mean, std = conj.posterior()
    fitted_mean, fitted_std = result.theta[0], np.exp(result.theta[1])
    assert abs(fitted_mean - mean) < 0.05 * std
    assert abs(fitted_std / std - 1) < 0.05
    assert vi.gaussian_kl(fitted_mean, fitted_std, mean, std) < 1e-3
    assert np.all(np.isfinite(result.curve("elbo")))
    assert result.thetas.shape == (1501, 2) and result.iterations == 1500 and result.status == "budget"
    # theta is the average of the last half of the iterates; last_theta the final one
    np.testing.assert_allclose(result.theta, result.thetas[750:].mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(result.last_theta, result.thetas[-1])
    np.testing.assert_array_equal(result.thetas[0], conj.initial_params())


def test_pathwise_fit_reaches_the_posterior(conj):
    result = vi.fit(conj, pgbook.make_rng(24), estimator="pathwise", max_iterations=1500, n_samples=32)
    mean, std = conj.posterior()
    assert vi.gaussian_kl(result.theta[0], np.exp(result.theta[1]), mean, std) < 1e-3


def test_each_step_is_the_score_function_estimate_on_the_batch_drawn(conj):
    """Replaying the run's generator: each iteration draws its batch from q at the parameters before the
    step; the history's ``elbo`` is the batch's mean ELBO signal, and with plain SGD the step is
    learning_rate_t * mean((signal - b_t) * score), b_t the running mean of the earlier batches' ELBOs."""
    config = vi.VIConfig(max_iterations=6, n_samples=16, optimiser="sgd", learning_rate=0.01)
    result = vi.fit(conj, pgbook.make_rng(31), config)
    assert result.config == config and result.curve("elbo").shape == (6,)
    rng, running = pgbook.make_rng(31), None
    for t in range(6):
        q = conj.make_q(result.thetas[t])
        z = q.sample(rng, 16)
        signal = vi.elbo_signal(conj, q)(z)
        assert result.curve("elbo")[t] == pytest.approx(signal.mean(), rel=1e-12)
        learning_rate = 0.01 / np.sqrt(1 + 10 * t / 6)
        assert result.curve("learning_rate")[t] == pytest.approx(learning_rate, rel=1e-12)
        b = 0.0 if running is None else running
        step = learning_rate * np.mean((signal - b)[:, None] * q.score(z), axis=0)
        np.testing.assert_allclose(result.thetas[t + 1] - result.thetas[t], step, rtol=1e-9, atol=1e-14)
        running = signal.mean() if running is None else 0.9 * running + 0.1 * signal.mean()
    with pytest.raises(TypeError, match="n_sample"):
        config.replace(n_sample=3)
    exact_fit = vi.fit(conj, None, config, estimator="exact")
    assert np.all(np.isnan(exact_fit.curve("elbo")))


def test_sgd_steps_reach_the_posterior_too(conj):
    result = vi.fit(conj, estimator="exact", optimiser="sgd", momentum=0.5, learning_rate=0.05, max_iterations=1000)
    np.testing.assert_allclose(result.last_theta, conj.posterior_params(), atol=1e-8)


# ----------------------------------------------------------------------------- logistic regression
def test_logistic_data_is_fixed_and_balanced_enough():
    X, y = vi.logistic_regression_data()
    X2, y2 = vi.logistic_regression_data()
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert X.shape == (30, 2) and 5 <= y.sum() <= 25


def test_logistic_grad_log_joint_matches_finite_differences(logreg):
    w = np.array([[0.5, -0.2], [-1.0, 1.3]])
    g = logreg.grad_log_joint(w)
    for i in range(2):
        fd = finite_difference_gradient(lambda v: float(logreg.log_joint(v[None, :])[0]), w[i])
        np.testing.assert_allclose(g[i], fd, rtol=1e-6, atol=1e-6)


def test_logistic_quadrature_elbo_gradient_matches_finite_differences(logreg):
    params = np.array([0.5, 0.2, -0.5, -0.3])
    np.testing.assert_allclose(logreg.elbo_grad(params), finite_difference_gradient(logreg.elbo, params),
                               rtol=1e-6, atol=1e-6)
    # the quadrature has converged: doubling the nodes changes nothing visible
    finer = vi.LogisticRegressionModel(logreg.X, logreg.y, prior_std=logreg.prior_std, quadrature_order=40)
    assert finer.elbo(params) == pytest.approx(logreg.elbo(params), abs=1e-8)


def test_logistic_estimators_unbiased(logreg):
    rng = pgbook.make_rng(25)
    params = np.array([1.0, -0.3, -0.6, -0.8])
    exact = logreg.elbo_grad(params)
    m = 2 * exact.size + 1                       # one check: two gradient estimators and the ELBO
    _agrees(vi.score_function_elbo_samples(logreg, params, 40_000, rng), exact, m)
    _agrees(vi.pathwise_elbo_samples(logreg, params, 40_000, rng), exact, m)
    _elbo_estimate_agrees(logreg, params, 40_000, 30, m)


def test_logistic_fit_reaches_the_best_gaussian(logreg):
    best = vi.fit(logreg, estimator="exact", max_iterations=3000, learning_rate=0.05).last_theta
    np.testing.assert_allclose(logreg.elbo_grad(best), 0.0, atol=1e-6)
    grid = logreg.grid_posterior()
    # ELBO <= log p(y), with a gap (the posterior is not Gaussian) that is small
    gap = grid["log_evidence"] - logreg.elbo(best)
    assert 0 < gap < 0.5
    for estimator in ("score", "pathwise"):
        result = vi.fit(logreg, pgbook.make_rng(26), estimator=estimator, max_iterations=2000, n_samples=32)
        assert logreg.elbo(best) - logreg.elbo(result.theta) < 2e-3
        assert np.max(np.abs(result.theta - best)) < 0.05


# ----------------------------------------------------------------------------- discrete latent
def test_discrete_exact_quantities(discrete):
    a = discrete.log_joint_table()
    post = np.exp(a) / np.exp(a).sum()
    np.testing.assert_allclose(discrete.posterior(), post, rtol=1e-12)
    assert discrete.log_evidence() == pytest.approx(np.log(np.exp(a).sum()), rel=1e-12)
    assert discrete.elbo(discrete.posterior_params()) == pytest.approx(discrete.log_evidence(), rel=1e-12)
    params = np.array([0.3, -0.2, 0.1, 0.5])
    np.testing.assert_allclose(discrete.elbo_grad(params), finite_difference_gradient(discrete.elbo, params),
                               rtol=1e-6, atol=1e-8)
    assert discrete.log_evidence() - discrete.elbo(params) == pytest.approx(discrete.kl_to_posterior(params))


def test_discrete_score_function_unbiased_and_pathwise_refused(discrete):
    params = np.array([0.3, -0.2, 0.1, 0.5])
    samples = vi.score_function_elbo_samples(discrete, params, 40_000, pgbook.make_rng(27))
    _agrees(samples, discrete.elbo_grad(params), params.size)
    with pytest.raises(ValueError, match="discrete latent"):
        vi.pathwise_elbo_samples(discrete, params, 10, pgbook.make_rng(0))
    with pytest.raises(ValueError, match="discrete latent"):
        vi.fit(discrete, pgbook.make_rng(0), estimator="pathwise", max_iterations=5)


def test_discrete_fit_reaches_the_posterior(discrete):
    result = vi.fit(discrete, pgbook.make_rng(28), estimator="score", max_iterations=1500, n_samples=32)
    assert discrete.kl_to_posterior(result.theta) < 0.01
    np.testing.assert_allclose(discrete.make_q(result.theta).probs(), discrete.posterior(), atol=0.02)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs(conj, discrete):
    with pytest.raises(ValueError, match="noise_std"):
        vi.ConjugateGaussianModel([1.0, 2.0], noise_std=-1.0)
    with pytest.raises(ValueError, match="y must be a 1-D"):
        vi.ConjugateGaussianModel(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        vi.ConjugateGaussianModel([1.0, np.nan])
    with pytest.raises(ValueError, match="params must have shape"):
        conj.elbo([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="estimator"):
        vi.fit(conj, pgbook.make_rng(0), estimator="magic")
    with pytest.raises(ValueError, match="learning_rate"):
        vi.fit(conj, pgbook.make_rng(0), learning_rate=0.0)
    with pytest.warns(TrainingDivergedWarning, match="diverged.*lower learning_rate"):
        bad = vi.fit(conj, pgbook.make_rng(0), learning_rate=50.0, max_iterations=50)
    assert bad.diverged and bad.iterations < 50 and np.all(np.isfinite(bad.theta))
    with pytest.raises(ValueError, match="rng"):
        vi.fit(conj, None)
    with pytest.raises(ValueError, match="max_iterations"):
        vi.fit(conj, pgbook.make_rng(0), max_iterations=0)
    with pytest.raises(ValueError, match="average_fraction"):
        vi.VIConfig(average_fraction=0.0)
    with pytest.raises(ValueError, match="baseline_decay"):
        vi.VIConfig(baseline_decay=1.0)
    with pytest.raises(TypeError, match="baseline"):
        vi.VIConfig(baseline="yes")
    with pytest.raises(TypeError, match="config"):
        vi.fit(conj, pgbook.make_rng(0), {"estimator": "score"})
    with pytest.raises(ValueError, match="model"):
        vi.fit(object(), pgbook.make_rng(0))
    with pytest.raises(ValueError, match="labels 0 or 1"):
        vi.LogisticRegressionModel(np.ones((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="prior_probs"):
        vi.DiscreteSourceModel([0.0], [0.0, 1.0], prior_probs=[0.5, 0.6])
    with pytest.raises(ValueError, match="z must be"):
        discrete.log_joint(np.array([0, 7]))
    with pytest.raises(ValueError, match="std_q"):
        vi.gaussian_kl(0.0, -1.0, 0.0, 1.0)


def test_a_fit_that_diverges_at_its_first_step_reports_its_starting_parameters():
    conj = vi.ConjugateGaussianModel([1.0, 2.0, 0.5])
    with pytest.warns(TrainingDivergedWarning, match="lower learning_rate"):
        bad = vi.fit(conj, pgbook.make_rng(0), learning_rate=1e3, max_iterations=5)
    assert bad.diverged and bad.history == []
    np.testing.assert_array_equal(bad.last_theta, conj.initial_params())
    np.testing.assert_array_equal(bad.theta, conj.initial_params())
