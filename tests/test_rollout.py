"""Tests of pgbook.rollout: features, the samplers, the autoreset mask, and evaluation."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import pgbook
from pgbook import estimators
from pgbook.mlp import MLPSoftmax
from pgbook.policies import LinearSoftmax
from pgbook.reinforce import ReinforceConfig, make_policy
from pgbook.rollout import collect_episodes, features, joint_sampler, make_envs, sampler


def _random_theta(policy, seed=0, scale=0.3):
    return scale * np.random.default_rng(seed).standard_normal(policy.theta_shape)


def test_discrete_observations_become_one_hot():
    space = gymnasium.spaces.Discrete(3, start=2)
    np.testing.assert_array_equal(features(space, np.array([2, 4, 3])), np.eye(3)[[0, 2, 1]])
    box = gymnasium.spaces.Box(-1, 1, shape=(2, 2))
    assert features(box, np.zeros((5, 2, 2))).shape == (5, 4)



@pytest.mark.parametrize("policy", [LinearSoftmax(4, 3), MLPSoftmax(4, 3, 5)])
def test_fast_sampler_draws_what_policy_sample_draws(policy):
    theta = _random_theta(policy, 1, 1.0)
    x = np.random.default_rng(2).normal(size=(500, 4))
    fast = sampler(policy, theta, np.random.default_rng(9))(x)
    np.testing.assert_array_equal(fast, policy.sample(theta, x, np.random.default_rng(9)))


# ----------------------------------------------------------------------------- autoreset mask
def test_gymnasium_autoreset_step_has_zero_reward_and_ignores_the_episode():
    """What the mask guards against: the step after a termination returns reward 0 and a new episode."""
    envs = gymnasium.make_vec("CartPole-v1", num_envs=1, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    done, steps = False, 0
    while not done:
        _, _, term, trunc, _ = envs.step(np.array([1]))
        done = bool(term[0] or trunc[0])
        steps += 1
    obs, reward, term, trunc, _ = envs.step(np.array([1]))
    assert reward[0] == 0.0 and not term[0] and not trunc[0]
    assert np.all(np.abs(obs[0]) <= 0.05)  # a fresh start state, drawn from U(-0.05, 0.05)
    envs.close()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "pgbook/ShortCorridor-v0"])
def test_mask_keeps_exactly_each_first_episode(env_id):
    envs = make_envs(env_id, 8)
    policy = make_policy(ReinforceConfig(env_id=env_id), envs.single_observation_space, envs.single_action_space)
    theta = _random_theta(policy, 3)
    batch = collect_episodes(envs, policy, theta, np.random.default_rng(pgbook.book_seed()), min_episodes=8)
    envs.close()
    n, T = batch.mask.shape
    # the mask is a prefix of each row, as long as the episode, and T is the longest episode
    np.testing.assert_array_equal(batch.mask, np.arange(T)[None, :] < batch.lengths[:, None])
    assert T == batch.lengths.max()
    assert np.all(batch.rewards[~batch.mask] == 0.0)
    if env_id == "CartPole-v1":
        # +1 per step that was really taken: the autoreset step (reward 0) and the next episode are out
        np.testing.assert_array_equal(batch.returns, batch.lengths)
        # replay each episode in a plain single CartPole from its first observation: it must end
        # exactly at the step where the mask ends
        env = gymnasium.make("CartPole-v1")
        for i in range(n):
            env.reset(seed=i)
            env.unwrapped.state = batch.states[i, 0].copy()
            for t in range(batch.lengths[i]):
                obs, r, term, trunc, _ = env.step(int(batch.actions[i, t]))
                if t + 1 < batch.lengths[i]:
                    assert not (term or trunc)
                    np.testing.assert_allclose(obs, batch.states[i, t + 1], rtol=1e-5, atol=1e-6)
            assert term or batch.lengths[i] == 500
        env.close()
    else:  # reward -1 per step in the corridor
        np.testing.assert_array_equal(batch.returns, -batch.lengths)
    # the masked steps add no score: every per-episode gradient equals the one computed on the
    # episode's own valid prefix alone
    score = estimators.step_scores(policy, theta, batch)
    assert np.all(score[~batch.mask] == 0.0)
    G = estimators.psi(batch.rewards, 0.99, batch.mask)
    samples = estimators.policy_gradient_samples(score, G, mask=batch.mask)
    for i in range(n):
        L = batch.lengths[i]
        own = policy.score(theta, batch.states[i, :L], batch.actions[i, :L])
        g = np.array([np.sum(0.99 ** np.arange(L - t) * batch.rewards[i, t:L]) for t in range(L)])
        np.testing.assert_allclose(samples[i], np.einsum("t,t...->...", g, own), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- many runs at once
def test_joint_sampler_draws_what_each_run_would_draw():
    policy, n = LinearSoftmax(4, 3), 5
    thetas = [_random_theta(policy, seed=k, scale=1.0) for k in range(4)]
    x = np.random.default_rng(9).standard_normal((4 * n, 4))
    joint = joint_sampler([policy] * 4, thetas, n, np.random.default_rng(3))(x)
    rng = np.random.default_rng(3)               # the same uniform draws, taken run by run
    alone = np.concatenate([sampler(policy, th, rng)(x[k * n:(k + 1) * n]) for k, th in enumerate(thetas)])
    np.testing.assert_array_equal(joint, alone)
    # the generic path (MLP) keeps the runs apart too
    mlp = MLPSoftmax(4, 3, 5)
    mthetas = [_random_theta(mlp, seed=k, scale=1.0) for k in range(3)]
    jm = joint_sampler([mlp] * 3, mthetas, n, np.random.default_rng(4))(x[:3 * n])
    rng = np.random.default_rng(4)
    am = np.concatenate([sampler(mlp, th, rng)(x[k * n:(k + 1) * n]) for k, th in enumerate(mthetas)])
    np.testing.assert_array_equal(jm, am)
