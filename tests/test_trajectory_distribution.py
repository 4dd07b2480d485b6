"""The RL adapter of the general score-function estimator (pgbook.trajectory_distribution).

Monte Carlo checks use ``pgbook.make_rng`` (seed from PGBOOK_SEED) and ``pgbook.estimators.compare``:
each fails a correct estimator with probability at most 1e-6, counting all its comparisons."""
import numpy as np
import pytest

import pgbook
from pgbook.estimators import compare, score_function_samples
from pgbook.trajectory_distribution import TrajectoryDistribution, trajectory_return
from pgbook.mdp import J_by_enumeration, grad_J_exact, log_prob_trajectory, policy_table, tiny_mdp
from pgbook.policies import TabularSoftmax


@pytest.fixture(scope="module")
def setting():
    mdp = tiny_mdp(gamma=0.9, horizon=3)
    policy = TabularSoftmax(mdp.n_states, mdp.n_actions)
    theta = np.array([[0.4, -0.3], [-0.2, 0.6]])
    return mdp, policy, theta


def test_score_is_the_gradient_of_the_full_log_probability(setting):
    mdp, policy, theta = setting
    dist = TrajectoryDistribution(mdp, policy, theta)
    traj = dist.sample(pgbook.make_rng(31), 6)
    h = 1e-6
    fd = np.empty((6, theta.size))
    for j in range(theta.size):
        e = np.zeros(theta.size)
        e[j] = h
        up = log_prob_trajectory(mdp, policy, (theta.ravel() + e).reshape(theta.shape), traj)
        down = log_prob_trajectory(mdp, policy, (theta.ravel() - e).reshape(theta.shape), traj)
        fd[:, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(dist.score(traj), fd, atol=1e-6)
    np.testing.assert_allclose(dist.log_prob(traj), log_prob_trajectory(mdp, policy, theta, traj))


def test_score_function_samples_estimate_the_policy_gradient(setting):
    mdp, policy, theta = setting
    dist = TrajectoryDistribution(mdp, policy, theta)
    f = trajectory_return(mdp)
    samples = score_function_samples(dist, f, 40_000, pgbook.make_rng(32))
    # one check: the 4 gradient components and J, 5 comparisons
    c_grad = compare(samples, grad_J_exact(mdp, policy, theta).ravel(), comparisons=5)
    assert c_grad.passed and c_grad.untested == 0, str(c_grad)
    returns = f(dist.sample(pgbook.make_rng(33), 40_000))
    J = J_by_enumeration(mdp, policy_table(mdp, policy, theta))
    c_J = compare(returns, np.array(J), comparisons=5)
    assert c_J.passed and c_J.untested == 0, str(c_J)


def test_with_params_and_bad_input(setting):
    mdp, policy, theta = setting
    dist = TrajectoryDistribution(mdp, policy, theta)
    np.testing.assert_array_equal(dist.with_params(np.zeros(4)).params, np.zeros(4))
    assert dist.theta_shape == (2, 2)
    with pytest.raises(ValueError, match="params must have 4 entries"):
        dist.with_params(np.zeros(3))
    with pytest.raises(ValueError, match="TabularMDP"):
        TrajectoryDistribution("not an mdp", policy, theta)
    with pytest.raises(ValueError, match="policy must be a policy object"):
        TrajectoryDistribution(mdp, object(), theta)
    with pytest.raises(ValueError, match="theta"):
        TrajectoryDistribution(mdp, policy, np.zeros(3))
    with pytest.raises(ValueError, match="TabularMDP"):
        trajectory_return(None)


def test_with_the_return_as_f_it_is_part_one_full_return_estimator(setting):
    # Same trajectories (same seed): score_function_samples(p_tau, R) must equal, sample by sample,
    # pgbook.estimators.policy_gradient_samples with the full discounted return (an independent code path
    # that sums per-step scores weighted by R(tau)).
    from pgbook.estimators import policy_gradient_samples, psi

    mdp, policy, theta = setting
    dist = TrajectoryDistribution(mdp, policy, theta)
    n = 500
    general = score_function_samples(dist, trajectory_return(mdp), n, pgbook.make_rng(34))
    traj = dist.sample(pgbook.make_rng(34), n)
    per_step = policy.score(theta, traj.states, traj.actions)               # unmasked: the mask does it
    full_return = psi(traj.rewards, mdp.gamma, traj.mask, reward_to_go=False)
    part_one = policy_gradient_samples(per_step, full_return, mask=traj.mask)
    np.testing.assert_allclose(general, part_one.reshape(n, -1), rtol=1e-12, atol=1e-12)
    # reward-to-go gives different samples (so the check above is not vacuous)
    to_go = policy_gradient_samples(per_step, psi(traj.rewards, mdp.gamma, traj.mask), mask=traj.mask)
    assert np.abs(general - to_go.reshape(n, -1)).max() > 0.1
