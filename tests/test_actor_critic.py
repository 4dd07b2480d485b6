"""Tests of pgbook.actor_critic and of GAE (pgbook.signals.gae): the λ end points, determinism,
smoke runs, divergence and bad config fields.  Every training run is tiny."""
from __future__ import annotations

import numpy as np
import pytest

from pgbook import estimators, mdp, signals
from pgbook.actor_critic import ActorCriticConfig, ActorCriticLearner, critic_features, train, uninformative
from pgbook.episodes import Episodes
from pgbook.experiments import time_to_solve
from pgbook.policies import LinearSoftmax, TabularSoftmax
from pgbook.training import TrainingDivergedWarning

TINY = dict(max_iterations=2, batch_episodes=4, progress=False)


def _tiny_setup(seed=0):
    tiny = mdp.tiny_mdp(gamma=0.9, horizon=4)
    pol = TabularSoftmax(2, 2)
    theta = 0.5 * np.random.default_rng(seed).standard_normal((2, 2))
    pi = mdp.policy_table(tiny, pol, theta)
    V, _ = mdp.value_functions(tiny, pi)
    return tiny, pol, theta, pi, V


# ----------------------------------------------------------------------------- GAE
@pytest.mark.parametrize("error", [0.0, 0.7])
def test_gae_end_points_on_sampled_tabular_episodes(error):
    tiny, pol, theta, pi, V = _tiny_setup()
    V_hat = V + error * np.array([1.0, -0.5])
    V_hat[-1] = 0.0
    ep = mdp.sample_trajectories(tiny, pol, theta, 50, np.random.default_rng(1))
    delta = signals.td_residuals(ep, V_hat, tiny.gamma)
    G = estimators.psi(ep.rewards, tiny.gamma, ep.mask)
    b = signals.state_baseline(V_hat, ep)
    np.testing.assert_allclose(signals.gae(delta, tiny.gamma, 1.0, ep.mask), G - b, atol=1e-12)
    np.testing.assert_array_equal(signals.gae(delta, tiny.gamma, 0.0, ep.mask), delta)


def test_gae_matches_the_explicit_sum_and_respects_the_mask():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((3, 6))
    mask = np.arange(6)[None, :] < np.array([6, 3, 1])[:, None]
    gamma, lam = 0.9, 0.7
    A = signals.gae(d, gamma, lam, mask)
    for i in range(3):
        L = mask[i].sum()
        for t in range(L):
            want = sum((gamma * lam) ** k * d[i, t + k] for k in range(L - t))
            assert A[i, t] == pytest.approx(want, abs=1e-12)
    assert np.all(A[~mask] == 0.0)


def test_gae_with_a_critic_s_values_telescopes_to_return_minus_value():
    rng = np.random.default_rng(2)
    r = rng.standard_normal((4, 7))
    v = rng.standard_normal((4, 7))
    mask = np.arange(7)[None, :] < np.array([7, 5, 2, 1])[:, None]
    r = np.where(mask, r, 0.0)
    delta = signals.value_residuals(r, v, mask, 0.95)
    G = estimators.psi(r, 0.95, mask)
    np.testing.assert_allclose(signals.gae(delta, 0.95, 1.0, mask), np.where(mask, G - v, 0.0), atol=1e-12)


def test_gae_tradeoff_end_points_are_exact():
    tiny, pol, theta, pi, V = _tiny_setup()
    V_hat = V + np.array([0.5, -0.3])
    V_hat[-1] = 0.0
    exact = signals.gae_tradeoff(tiny, pol, theta, V, [0.0, 1.0])
    assert np.all(exact["bias"] < 1e-12)                 # the true critic: every λ unbiased
    wrong = signals.gae_tradeoff(tiny, pol, theta, V_hat, [0.0, 1.0])
    assert wrong["bias"][1] < 1e-12                        # λ = 1: unbiased for any critic
    want = np.linalg.norm(signals.critic_bias(tiny, pol, theta, V_hat))
    assert wrong["bias"][0] == pytest.approx(want, rel=1e-10)   # λ = 0: the critic bias of chapter 13
    assert wrong["variance"][0] < wrong["variance"][1]


def test_gae_rejects_bad_input():
    with pytest.raises(ValueError, match="lam"):
        signals.gae(np.zeros((2, 3)), 0.9, 1.5)
    with pytest.raises(ValueError, match="mask"):
        signals.gae(np.zeros((2, 3)), 0.9, 0.5, np.ones((2, 4), bool))


# ----------------------------------------------------------------------------- the trainer
@pytest.mark.parametrize("kwargs", [
    dict(env_id="CartPole-v1"),
    dict(env_id="CartPole-v1", lam=0.0, critic_features="linear", normalise_advantages=False, optimiser="sgd",
         learning_rate=0.01),
    dict(env_id="CartPole-v1", critic_target="lambda-return", entropy_coef=0.01),
    dict(env_id="CartPole-v1", policy="mlp", hidden=8),
    dict(env_id="Acrobot-v1", max_episode_steps=30, entropy_coef=0.1),
])
def test_smoke_runs_produce_finite_metrics(kwargs):
    result = train(ActorCriticConfig(**{**TINY, **kwargs}))
    assert result.status == "budget" and result.iterations == 2
    for key in ("return_mean", "grad_norm", "value_error", "explained_variance", "advantage_std", "entropy"):
        assert np.all(np.isfinite(result.curve(key))), key
    assert np.all(np.isfinite(result.theta))


def test_absurd_learning_rate_stops_with_advice():
    with pytest.warns(TrainingDivergedWarning, match="learning_rate"):
        result = train(ActorCriticConfig(learning_rate=1e308, optimiser="sgd", normalise_advantages=False,
                                         progress=False, max_iterations=20, batch_episodes=4))
    assert result.diverged and result.iterations < 20
    assert "lower learning_rate" in result.message and "normalise_advantages=True" in result.message
    assert np.all(np.isfinite(result.theta))


@pytest.mark.parametrize("field, value", [
    ("lam", 1.5), ("lam", "0.9"), ("critic_features", "cubic"), ("critic_target", "q"), ("learning_rate", 0.0),
    ("batch_episodes", 1), ("batch_episodes", None), ("entropy_coef", -1.0), ("normalise_advantages", "yes"),
    ("seed", -1),
    ("max_iterations", 0), ("env_id", 3), ("progress", "no"), ("skip_uninformative", "yes"),
])
def test_bad_config_fields_are_named(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        ActorCriticConfig(**{field: value})


def test_entropy_needs_the_linear_policy_and_unknown_fields_are_named():
    with pytest.raises(ValueError, match="entropy_coef"):
        ActorCriticConfig(policy="mlp", entropy_coef=0.1)
    with pytest.raises(ValueError, match="lamda"):
        train(lamda=0.9, **TINY)


def test_critic_features_shapes_and_time_feature():
    x = np.ones((2, 5, 3))
    assert critic_features(x, 10, "linear").shape == (2, 5, 6)
    phi = critic_features(x, 10, "quadratic", gamma=0.9)
    assert phi.shape == (2, 5, 9)
    np.testing.assert_allclose(phi[0, :, -2], np.arange(5) / 10)
    np.testing.assert_allclose(phi[1, :, -1], 0.9 ** (10 - np.arange(5)))


def test_the_time_features_fit_a_constant_reward_exactly():
    # every episode runs to the limit with reward -1: G_t depends on t only, and the critic fits it
    T, gamma = 50, 0.95
    rewards = -np.ones((3, T))
    mask = np.ones((3, T), bool)
    G = estimators.psi(rewards, gamma, mask)
    phi = critic_features(np.random.default_rng(0).standard_normal((3, T, 2)), T, "linear", gamma)
    from pgbook.baselines import fit_linear_value, linear_value
    w = fit_linear_value(phi, G, mask, 1e-12)
    np.testing.assert_allclose(linear_value(phi, w), G, atol=1e-6)


def test_the_critic_learns_something_on_cartpole():
    result = train(max_iterations=3, batch_episodes=8, progress=False)
    assert result.curve("explained_variance")[0] > 0.1   # fitted on the first batch itself


def test_time_to_solve_accepts_an_actor_critic_config():
    out = time_to_solve(ActorCriticConfig(max_iterations=2, batch_episodes=4, progress=False), target=1e9)
    assert out["solved"] is False and out["iterations"] == 2
    assert out["result"].config.lam == 0.95


def test_train_many_runs_actor_critic_and_reinforce_side_by_side():
    from pgbook.experiments import train_many
    from pgbook.reinforce import ReinforceConfig
    runs = train_many(configs=[ActorCriticConfig(seed=0, **TINY), ReinforceConfig(seed=0, **TINY),
                               ActorCriticConfig(seed=1, **TINY)])
    assert [r.config.__class__.__name__ for r in runs] == ["ActorCriticConfig", "ReinforceConfig",
                                                          "ActorCriticConfig"]
    assert all(r.iterations == 2 for r in runs)
    assert "explained_variance" in runs[0].history[0] and "explained_variance" not in runs[1].history[0]


# ----------------------------------------------------------------------------- batches without information
def _timed_out_batch(n=6, T=40, seed=0):
    """n episodes of T steps, reward -1 at every step (all cut at the limit), random states and actions."""
    rng = np.random.default_rng(seed)
    return Episodes(states=rng.standard_normal((n, T, 6)), actions=rng.integers(0, 3, (n, T)),
                    rewards=-np.ones((n, T)), mask=np.ones((n, T), bool), env_steps=n * T)


def test_uninformative_means_same_length_and_same_rewards():
    ep = _timed_out_batch()
    assert uninformative(ep)
    rewards = ep.rewards.copy()
    rewards[2, 17] = 0.0                                   # one reward differs
    assert not uninformative(Episodes(ep.states, ep.actions, rewards, ep.mask))
    mask = ep.mask.copy()
    mask[4, 30:] = False                                   # one episode ends early
    assert not uninformative(Episodes(ep.states, ep.actions, np.where(mask, ep.rewards, 0.0), mask))


@pytest.mark.parametrize("skip", [True, False])
def test_no_actor_step_on_a_batch_without_information(skip):
    ep = _timed_out_batch()
    config = ActorCriticConfig(env_id="Acrobot-v1", skip_uninformative=skip)
    learner = ActorCriticLearner(config, LinearSoftmax(6, 3), np.random.default_rng(0), 40)
    theta0 = learner.theta.copy()
    metrics = learner.update(ep, 1, 0.0, 0.0)
    assert metrics["uninformative"] is skip
    assert learner.critic_w is not None                    # the critic is fitted either way
    if skip:                                               # no step and no optimiser state to replay later
        np.testing.assert_array_equal(learner.theta, theta0)
        assert learner.optimiser.t == 0 and metrics["grad_norm"] == 0.0
    else:                                                  # the critic's residue, normalised, moves the policy
        assert np.abs(learner.theta - theta0).max() > 0.1


def test_a_batch_with_one_different_episode_still_steps():
    ep = _timed_out_batch()
    rewards, mask = ep.rewards.copy(), ep.mask.copy()
    mask[1, 25:] = False                                   # episode 1 reaches the goal early
    rewards = np.where(mask, rewards, 0.0)
    learner = ActorCriticLearner(ActorCriticConfig(env_id="Acrobot-v1"), LinearSoftmax(6, 3),
                                 np.random.default_rng(0), 40)
    metrics = learner.update(Episodes(ep.states, ep.actions, rewards, mask, env_steps=ep.env_steps), 1, 0.0, 0.0)
    assert metrics["uninformative"] is False and learner.optimiser.t == 1
    assert np.abs(learner.theta).max() > 0.1


def test_a_box_action_space_is_refused_with_its_name():
    with pytest.raises(ValueError, match="ActorCriticConfig needs a Discrete action space"):
        train(env_id="pgbook/LinearQuadratic-v0", **TINY)


def test_train_many_refuses_a_box_action_space_too():
    from pgbook.experiments import train_many
    with pytest.raises(ValueError, match="ActorCriticConfig needs a Discrete action space"):
        train_many(ActorCriticConfig(env_id="pgbook/LinearQuadratic-v0", **TINY), seeds=(0, 1))


@pytest.mark.parametrize("states, match", [("abc", "states"), (np.zeros((3, 2)), r"states must have shape \(N, 4\)"),
                                           (np.full((3, 4), np.nan), "states")])
def test_entropy_gradient_names_bad_input(states, match):
    from pgbook.actor_critic import entropy_gradient
    from pgbook.policies import LinearSoftmax
    policy = LinearSoftmax(4, 2)
    with pytest.raises(ValueError, match=match):
        entropy_gradient(policy, np.zeros(policy.theta_shape), states)
