"""Estimators: returns against naive loops, the score-function gradient against the exact
gradient (exactly in expectation by enumeration, and by Monte Carlo with a z-test), the
discount-weighting detail, finite differences, compare(), and input errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pgbook import estimators as E, make_rng
from pgbook import mdp as M
from pgbook.policies import TabularSoftmax

SEEDS = st.integers(0, 2**32 - 1)
Z_MAX = 4.5
GOOD_4X4 = np.array([0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0])


def naive_returns(rewards, gamma, mask):
    n, T = rewards.shape
    R = np.zeros(n)
    G = np.zeros((n, T))
    for i in range(n):
        for t in range(T):
            if mask[i, t]:
                R[i] += gamma ** t * rewards[i, t]
                G[i, t] = sum(gamma ** (k - t) * rewards[i, k] for k in range(t, T) if mask[i, k])
    return R, G


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, gamma=st.floats(0, 1))
def test_returns_match_naive_loops(seed, gamma):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(4, 6))
    mask = np.arange(6)[None, :] < rng.integers(0, 7, size=(4, 1))
    R, G = naive_returns(rewards, gamma, mask)
    np.testing.assert_allclose(E.discounted_return(rewards, gamma, mask), R, atol=1e-12)
    np.testing.assert_allclose(E.returns_to_go(rewards, gamma, mask), G, atol=1e-12)
    np.testing.assert_allclose(E.returns_to_go(rewards, gamma)[:, 0], E.discounted_return(rewards, gamma))


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, gamma=st.sampled_from([0.0, 0.6, 1.0]), rtg=st.booleans(), weighting=st.booleans(),
       baseline_kind=st.sampled_from(["none", "scalar", "time", "full"]))
def test_policy_gradient_samples_match_naive_loop(seed, gamma, rtg, weighting, baseline_kind):
    rng = np.random.default_rng(seed)
    n, T = 3, 4
    score = rng.normal(size=(n, T, 2, 3))
    rewards = rng.normal(size=(n, T))
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, size=(n, 1))
    b = {"none": None, "scalar": 0.7, "time": rng.normal(size=T), "full": rng.normal(size=(n, T))}[baseline_kind]
    R, G = naive_returns(rewards, gamma, mask)
    expected = np.zeros((n, 2, 3))
    for i in range(n):
        for t in range(T):
            if not mask[i, t]:
                continue
            psi = G[i, t] if rtg else R[i]
            bt = 0.0 if b is None else (b if np.ndim(b) == 0 else (b[t] if np.ndim(b) == 1 else b[i, t]))
            w = gamma ** t if (rtg and weighting) else 1.0
            expected[i] += w * (psi - bt) * score[i, t]
    got = E.policy_gradient_samples(score, rewards, mask, gamma, reward_to_go=rtg, discount_weighting=weighting,
                                    baseline=b)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def exact_expectation(mdp, pol, theta, **kwargs):
    """E[estimator] computed exactly: sum over every trajectory of P(tau) * g(tau)."""
    enum = M.enumerate_trajectories(mdp, pol.table(theta))
    score = pol.score(theta, enum.states[:, :-1], enum.actions)
    return enum.expectation(E.policy_gradient_samples(score, enum.rewards, enum.mask, mdp.gamma, **kwargs))


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, gamma=st.sampled_from([0.5, 0.9, 1.0]))
def test_estimators_are_exactly_unbiased_by_enumeration(seed, gamma):
    rng = np.random.default_rng(seed)
    mdp = M.tiny_mdp(gamma=gamma, horizon=4)
    pol = TabularSoftmax(2, 2)
    theta = rng.normal(size=(2, 2))
    g = M.grad_J_exact(mdp, pol, theta)
    for kwargs in (dict(reward_to_go=True), dict(reward_to_go=False), dict(baseline=1.3),
                   dict(baseline=rng.normal(size=4)), dict(reward_to_go=False, baseline=-2.0)):
        np.testing.assert_allclose(exact_expectation(mdp, pol, theta, **kwargs), g, atol=1e-12)


def test_unweighted_reward_to_go_is_biased_only_when_gamma_below_one():
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.5, -0.5], [0.2, 0.9]])
    for gamma in (0.5, 0.9):
        mdp = M.tiny_mdp(gamma=gamma, horizon=4)
        unweighted = exact_expectation(mdp, pol, theta, discount_weighting=False)
        assert np.abs(unweighted - M.grad_J_exact(mdp, pol, theta)).max() > 1e-2
        # grad_J_exact(..., discount_weighting=False) is exactly that expectation
        np.testing.assert_allclose(M.grad_J_exact(mdp, pol, theta, discount_weighting=False), unweighted,
                                   atol=1e-12)
    mdp = M.tiny_mdp(gamma=1.0, horizon=4)
    np.testing.assert_allclose(exact_expectation(mdp, pol, theta, discount_weighting=False),
                               M.grad_J_exact(mdp, pol, theta), atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(reward_to_go=True), dict(reward_to_go=False), dict(baseline=1.0)])
def test_monte_carlo_gradient_agrees_with_exact_tiny(kwargs):
    mdp = M.tiny_mdp()
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.3, -0.2], [-0.5, 0.4]])
    traj = M.sample_trajectories(mdp, pol, theta, 40_000, make_rng(100 + 11))
    c = E.compare(E.trajectory_gradient_samples(pol, theta, traj, mdp.gamma, **kwargs),
                  M.grad_J_exact(mdp, pol, theta))
    assert c.max_abs_z < Z_MAX, str(c)
    # and J itself
    cj = E.compare(E.discounted_return(traj.rewards, mdp.gamma, traj.mask), np.array(M.J_exact(mdp, pol.table(theta))))
    assert cj.max_abs_z < Z_MAX


def test_monte_carlo_bias_of_unweighted_estimator_is_detected_tiny():
    mdp = M.tiny_mdp(gamma=0.5, horizon=4)
    pol = TabularSoftmax(2, 2)
    theta = np.zeros((2, 2))
    traj = M.sample_trajectories(mdp, pol, theta, 40_000, make_rng(100 + 12))
    g = M.grad_J_exact(mdp, pol, theta)
    biased = E.compare(E.trajectory_gradient_samples(pol, theta, traj, mdp.gamma, discount_weighting=False), g)
    right = E.compare(E.trajectory_gradient_samples(pol, theta, traj, mdp.gamma), g)
    assert right.max_abs_z < Z_MAX and biased.max_abs_z > 10


@pytest.mark.parametrize("kwargs", [dict(reward_to_go=True), dict(reward_to_go=False),
                                    dict(reward_to_go=True, baseline=0.05)])
def test_monte_carlo_gradient_agrees_with_exact_frozen_lake(kwargs):
    mdp = M.frozen_lake_mdp("4x4")
    pol = TabularSoftmax(16, 4)
    theta = 2 * np.eye(4)[GOOD_4X4]
    traj = M.sample_trajectories(mdp, pol, theta, 20_000, make_rng(100 + 13))
    samples = E.trajectory_gradient_samples(pol, theta, traj, mdp.gamma, **kwargs)
    c = E.compare(samples, M.grad_J_exact(mdp, pol, theta))
    assert c.max_abs_z < Z_MAX, str(c)
    # the terminal states' parameters are never used: exactly zero, z defined as 0
    assert np.all(c.z[[5, 7, 11, 12, 15]] == 0)


def test_trajectory_gradient_samples_chunks_equal_one_pass():
    mdp = M.tiny_mdp()
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.3, -0.2], [-0.5, 0.4]])
    traj = M.sample_trajectories(mdp, pol, theta, 50, np.random.default_rng(0))
    score = pol.score(theta, traj.states, traj.actions)
    b = np.random.default_rng(1).normal(size=(50, 3))
    one = E.policy_gradient_samples(score, traj.rewards, traj.mask, mdp.gamma, baseline=b)
    # the tabular fast path (scatter-add) and the generic chunked path (a wrapper that only has .score)
    np.testing.assert_allclose(E.trajectory_gradient_samples(pol, theta, traj, mdp.gamma, baseline=b), one)

    class Wrapped:
        score = staticmethod(pol.score)

    for rtg in (True, False):
        one = E.policy_gradient_samples(score, traj.rewards, traj.mask, mdp.gamma, baseline=b, reward_to_go=rtg)
        np.testing.assert_allclose(E.trajectory_gradient_samples(Wrapped(), theta, traj, mdp.gamma, baseline=b,
                                                                 chunk=7, reward_to_go=rtg), one)
        np.testing.assert_allclose(E.trajectory_gradient_samples(pol, theta, traj, mdp.gamma, baseline=b,
                                                                 reward_to_go=rtg), one)


class Bernoulli:
    """A minimal stand-in distribution: x in {0, 1}, P(x=1) = sigmoid(logit)."""

    def __init__(self, logit):
        self.logit = float(logit)
        self.p = 1 / (1 + np.exp(-self.logit))

    def sample(self, rng, n):
        return (rng.random(n) < self.p).astype(float)

    def score(self, x):
        return (x - self.p)[:, None]


def test_score_function_samples_bernoulli():
    # E[f(x)] = p f(1) + (1 - p) f(0); its derivative in the logit is p (1 - p) (f(1) - f(0))
    f = lambda x: 3.0 * x + 1.0
    dist = Bernoulli(0.4)
    exact = np.array([dist.p * (1 - dist.p) * 3.0])
    for b in (None, 2.5):
        s = E.score_function_samples(dist, f, 50_000, make_rng(100 + 3), baseline=b)
        assert s.shape == (50_000, 1)
        assert E.compare(s, exact).max_abs_z < Z_MAX


def test_finite_difference_gradients():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    fn = lambda th: 0.5 * th.reshape(-1) @ A @ th.reshape(-1) + np.sin(th[0, 0])
    theta = np.array([[0.3, -1.2]])
    exact = (A @ theta.reshape(-1) + np.array([np.cos(0.3), 0.0])).reshape(1, 2)
    np.testing.assert_allclose(E.finite_difference_gradient(fn, theta), exact, atol=1e-8)
    # noisy: f(theta, rng) = mean((theta . x)^2) with x ~ N(0, I): gradient 2 theta; with common random
    # numbers the estimate is the exact gradient of the sample average, within 2 eps^2-free error
    noisy = lambda th, rng: np.mean((rng.standard_normal((4000, 2)) @ th) ** 2)
    th = np.array([0.7, -0.4])
    crn = E.finite_difference_gradient_crn(noisy, th, seed=5, eps=1e-3)
    x = np.random.default_rng(5).standard_normal((4000, 2))
    np.testing.assert_allclose(crn, 2 * (x.T @ (x @ th)) / 4000, atol=1e-8)   # exactly the sample-average gradient
    assert np.abs(crn - 2 * th).max() < 0.2



def test_finite_difference_jacobian_matches_analytic_and_per_output_gradients():
    # f_i(theta) = sum_j B_ij theta_j^2 + exp(theta_0) x_i, outputs shape (3,), theta shape (2, 1)
    rng = np.random.default_rng(3)
    B, x = rng.normal(size=(3, 2)), rng.normal(size=3)
    fn = lambda th: B @ th.reshape(-1) ** 2 + np.exp(th[0, 0]) * x
    theta = np.array([[0.4], [-0.9]])
    exact = 2 * B * theta.reshape(-1)[None, :]
    exact[:, 0] += np.exp(0.4) * x
    jac = E.finite_difference_jacobian(fn, theta)
    assert jac.shape == (3, 2, 1)
    np.testing.assert_allclose(jac.reshape(3, 2), exact, atol=1e-8)
    per_output = np.stack([E.finite_difference_gradient(lambda th, i=i: fn(th)[i], theta) for i in range(3)])
    np.testing.assert_allclose(jac, per_output, atol=1e-12)
    # a scalar function gives the plain gradient
    np.testing.assert_allclose(E.finite_difference_jacobian(lambda th: fn(th)[1], theta), per_output[1], atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        E.finite_difference_jacobian(lambda th: np.zeros(int(th[0] > 0) + 1), np.array([0.0]))
    with pytest.raises(ValueError, match="fn"):
        E.finite_difference_jacobian(lambda th: np.array([np.nan]), np.array([0.0]))
    with pytest.raises(ValueError, match="eps"):
        E.finite_difference_jacobian(np.sin, np.array([0.0]), eps=0.0)


def test_batch_rms_error_against_loop_and_theory():
    rng = np.random.default_rng(11)
    samples = rng.normal(size=(103, 2, 3))
    exact = rng.normal(size=(2, 3))
    sizes = [1, 4, 10, 103]
    loop = []
    for N in sizes:
        errs = [np.sum((samples[b * N:(b + 1) * N].mean(axis=0) - exact) ** 2) for b in range(103 // N)]
        loop.append(np.sqrt(np.mean(errs)))
    np.testing.assert_allclose(E.batch_rms_error(samples, exact, sizes), loop, rtol=1e-12)
    # independent N(0, sd^2) samples in d = 2 dims: RMS error of a batch mean is sd sqrt(d / N);
    # with 2**17 / 16 = 8192 batches the estimate is within 5% (its relative sd is about 0.6%)
    sd = 1.7
    iid = sd * rng.standard_normal((2 ** 17, 2))
    rms = E.batch_rms_error(iid, np.zeros(2), [16])[0]
    assert abs(rms / (sd * np.sqrt(2 / 16)) - 1) < 0.05
    for bad in (0, 104, 2.5):
        with pytest.raises(ValueError, match="batch_sizes"):
            E.batch_rms_error(samples, exact, [bad])
    with pytest.raises(ValueError, match="samples"):
        E.batch_rms_error(samples, np.zeros(3), [2])

def test_compare_values_and_zero_convention():
    c = E.compare(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([1.0, 5.0]))
    np.testing.assert_allclose(c.mean, [2.0, 5.0])
    np.testing.assert_allclose(c.standard_error, [1.0, 0.0])
    np.testing.assert_allclose(c.z, [1.0, 0.0])
    assert c.max_abs_z == 1.0 and c.n == 2
    assert "max |z|" in str(c)
    assert np.isinf(E.compare(np.array([[1.0], [1.0]]), np.array([2.0])).max_abs_z)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: E.discounted_return(np.zeros((2, 3)), 1.2), "gamma"),
        (lambda: E.discounted_return(np.zeros(3), 0.9), "rewards"),
        (lambda: E.returns_to_go(np.zeros((2, 3)), 0.9, mask=np.ones((2, 2), bool)), "mask"),
        (lambda: E.returns_to_go(np.full((2, 3), np.nan), 0.9), "rewards"),
        (lambda: E.policy_gradient_samples(np.zeros((2, 4, 3)), np.zeros((2, 3)), None, 0.9), "score"),
        (lambda: E.policy_gradient_samples(np.zeros((2, 3, 3)), np.zeros((2, 3)), None, 0.9,
                                           baseline=np.zeros(2)), "baseline"),
        (lambda: E.policy_gradient_samples(np.zeros((2, 3, 3)), np.zeros((2, 3)), None, float("nan")), "gamma"),
        (lambda: E.compare(np.zeros((5, 2)), np.zeros(3)), "samples"),
        (lambda: E.compare(np.zeros((1, 2)), np.zeros(2)), "samples"),
        (lambda: E.compare(np.zeros((5, 2)), np.array([np.inf, 0.0])), "exact"),
        (lambda: E.finite_difference_gradient(np.sum, np.zeros(2), eps=-1.0), "eps"),
        (lambda: E.finite_difference_gradient(np.sum, np.array([np.nan])), "theta"),
        (lambda: E.score_function_samples(Bernoulli(0.0), lambda x: x, 0, np.random.default_rng(0)), "n"),
        (lambda: E.score_function_samples(Bernoulli(0.0), lambda x: x[:2], 5, np.random.default_rng(0)), "f"),
        (lambda: E.trajectory_gradient_samples(TabularSoftmax(2, 2), np.zeros((2, 2)), None, 0.9, chunk=0), "chunk"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
