"""Tests of pgbook.episodes.Episodes: the one container that enumeration, sampling and gymnasium
rollouts all return."""
from __future__ import annotations

import numpy as np
import pytest

import pgbook
from pgbook import mdp as M
from pgbook.episodes import Episodes
from pgbook.policies import TabularSoftmax
from pgbook.rollout import collect_episodes, make_envs


def _made_up(n=3, T=4):
    mask = np.arange(T)[None, :] < np.array([4, 2, 1])[:, None]
    return Episodes(states=np.zeros((n, T), dtype=int), actions=np.zeros((n, T), dtype=int),
                    rewards=np.where(mask, 1.0, 0.0), mask=mask)


def test_the_three_sources_return_episodes():
    tiny = M.tiny_mdp()
    pol = TabularSoftmax(2, 2)
    theta = np.zeros((2, 2))
    enum = M.enumerate_trajectories(tiny, pol.table(theta))
    sampled = M.sample_trajectories(tiny, pol, theta, 5, np.random.default_rng(0))
    envs = make_envs("CartPole-v1", 3)
    try:
        from pgbook.policies import LinearSoftmax
        played = collect_episodes(envs, LinearSoftmax(4, 2), np.zeros((5, 2)), np.random.default_rng(0), 3)
    finally:
        envs.close()
    for episodes in (enum, sampled, played):
        assert isinstance(episodes, Episodes)
        assert episodes.rewards.shape == episodes.mask.shape == episodes.states.shape[:2]
    assert enum.prob is not None and abs(enum.prob.sum() - 1) < 1e-12
    assert sampled.next_states is not None and sampled.prob is None
    assert played.states.shape[2] == 4 and played.env_steps >= played.lengths.sum()
    np.testing.assert_array_equal(played.returns, played.lengths)          # CartPole pays 1 per step


def test_lengths_returns_trim_and_take():
    ep = _made_up()
    np.testing.assert_array_equal(ep.lengths, [4, 2, 1])
    np.testing.assert_array_equal(ep.returns, [4.0, 2.0, 1.0])
    part = ep.take([1, 2]).trimmed()
    assert part.mask.shape == (2, 2) and part.n == 2
    np.testing.assert_array_equal(part.returns, [2.0, 1.0])


def test_expectation_needs_probabilities():
    ep = _made_up()
    with pytest.raises(ValueError, match="enumeration"):
        ep.expectation(np.ones(3))
    enum = M.enumerate_trajectories(M.tiny_mdp(horizon=2), np.full((2, 2), 0.5))
    assert enum.expectation(np.ones(enum.n)) == pytest.approx(1.0)


@pytest.mark.parametrize("change, match", [
    (dict(mask=np.ones(4)), "mask"),
    (dict(mask=np.full((3, 4), 2)), "mask"),
    (dict(rewards=np.zeros((3, 5))), "rewards"),
    (dict(states=np.zeros((2, 4))), "states"),
    (dict(next_states=np.zeros((3, 4, 1))), "next_states"),
    (dict(prob=np.ones(2)), "prob"),
])
def test_bad_shapes_are_named(change, match):
    ep = _made_up()
    fields = dict(states=ep.states, actions=ep.actions, rewards=ep.rewards, mask=ep.mask)
    fields.update(change)
    with pytest.raises(ValueError, match=match):
        Episodes(**fields)


def test_tabular_trainer_stops_with_advice_when_it_diverges():
    from pgbook.reinforce import train_tabular
    from pgbook.training import TrainingDivergedWarning
    with pytest.warns(TrainingDivergedWarning, match="lower learning_rate"):
        run = train_tabular(M.frozen_lake_mdp(), pgbook.make_rng(1), learning_rate=1e308, max_iterations=20)
    assert run.diverged and np.all(np.isfinite(run.theta))
