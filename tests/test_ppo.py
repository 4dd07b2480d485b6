"""Tests of pgbook.ppo: smoke runs, the early stop on the approximate KL, the minibatch epochs,
divergence and bad config fields (determinism: tests/test_reinforce.py, for every trainer).
Every training run is tiny."""
from __future__ import annotations

import numpy as np
import pytest

from pgbook.experiments import train_many
from pgbook.ppo import PPOConfig, PPOLearner, train
from pgbook.training import TrainingDivergedWarning

TINY = dict(max_iterations=2, batch_episodes=4, progress=False)


def _with_learner(learner_class, **fields):
    """A PPOConfig whose runs use ``learner_class`` (a PPOLearner that records something)."""
    class Config(PPOConfig):
        def learner(self, policy, rng, horizon):
            return learner_class(self, policy, rng, horizon)

    return Config(**fields)


@pytest.mark.parametrize("kwargs", [
    dict(env_id="CartPole-v1"),
    dict(env_id="CartPole-v1", lam=0.0, critic_features="linear", normalise_advantages=False, target_kl=None),
    dict(env_id="CartPole-v1", critic_target="lambda-return", entropy_coef=0.01, minibatches=1, epochs=2),
    dict(env_id="CartPole-v1", policy="mlp", hidden=8),
    dict(env_id="Acrobot-v1", max_episode_steps=30, entropy_coef=0.1),
])
def test_smoke_runs_produce_finite_metrics(kwargs):
    result = train(PPOConfig(**{**TINY, **kwargs}))
    assert result.status == "budget" and result.iterations == 2
    for key in ("return_mean", "grad_norm", "value_error", "explained_variance", "approx_kl", "clip_fraction",
                "epochs_run", "entropy"):
        assert np.all(np.isfinite(result.curve(key))), key
    assert np.all(result.curve("approx_kl") >= 0)
    assert np.all((result.curve("clip_fraction") >= 0) & (result.curve("clip_fraction") <= 1))
    assert np.all(np.isfinite(result.theta))


def test_a_tiny_target_kl_stops_after_one_epoch_and_none_runs_them_all():
    stopped = train(target_kl=1e-12, epochs=8, **TINY)
    assert np.all(stopped.curve("epochs_run") == 1)
    assert np.all(stopped.curve("approx_kl") > 1e-12)
    full = train(target_kl=None, epochs=8, **TINY)
    assert np.all(full.curve("epochs_run") == 8)


def test_the_learner_takes_epochs_times_minibatches_steps_per_batch():
    steps = []

    class Counting(PPOLearner):
        def step(self, grad):
            steps.append(grad.copy())
            return super().step(grad)

    train_many(configs=[_with_learner(Counting, epochs=3, minibatches=5, target_kl=None, **TINY)])
    assert len(steps) == 2 * 3 * 5
    assert len({g.tobytes() for g in steps}) == len(steps)           # every minibatch step differs


def test_ppo_runs_beside_reinforce_and_actor_critic_in_train_many():
    from pgbook.actor_critic import ActorCriticConfig
    from pgbook.reinforce import ReinforceConfig
    configs = [ReinforceConfig(**TINY), ActorCriticConfig(**TINY), PPOConfig(**TINY)]
    runs = train_many(configs=configs)
    assert [r.status for r in runs] == ["budget"] * 3
    assert "clip_fraction" in runs[2].history[0] and "clip_fraction" not in runs[1].history[0]


def test_absurd_learning_rate_stops_with_advice():
    with pytest.warns(TrainingDivergedWarning, match="learning_rate"):
        result = train(PPOConfig(learning_rate=1e308, optimiser="sgd", normalise_advantages=False, target_kl=None,
                                 progress=False, max_iterations=20, batch_episodes=4))
    assert result.diverged and result.iterations < 20
    for advice in ("lower learning_rate", "target_kl", "normalise_advantages=True"):
        assert advice in result.message
    assert np.all(np.isfinite(result.theta))


@pytest.mark.parametrize("field, value", [
    ("clip_range", 0.0), ("clip_range", 1.0), ("clip_range", "0.2"), ("epochs", 0), ("epochs", 2.5),
    ("minibatches", 0), ("target_kl", 0.0), ("target_kl", -1.0), ("lam", 1.5), ("batch_episodes", 1),
    ("entropy_coef", -1.0), ("normalise_advantages", "yes"), ("learning_rate", 0.0), ("critic_features", "cubic"),
])
def test_bad_config_fields_are_named(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        PPOConfig(**{field: value})


def test_ppo_defaults_do_not_follow_the_actor_critic_s():
    from dataclasses import fields
    from pgbook.actor_critic import ActorCriticConfig
    own = PPOConfig.__dict__["__annotations__"]
    for f in fields(ActorCriticConfig):
        if f.name in ActorCriticConfig.__dict__["__annotations__"]:
            assert f.name in own, f"PPOConfig should declare its own default for {f.name}"


def test_collapse_stops_with_advice():
    from pgbook.training import TrainingCollapsedWarning
    with pytest.warns(TrainingCollapsedWarning, match="clip_range"):
        result = train(learning_rate=1e6, max_iterations=20, progress=False)
    assert result.collapsed and result.iterations < 20
    assert "lower learning_rate" in result.message and "lower clip_range (now 0.2)" in result.message


def test_skip_uninformative_runs_no_epochs_on_a_batch_without_information():
    # 30-step Acrobot-v1 episodes of a nearly uniform policy never reach the goal: every episode
    # has length 30 and reward -1 at every step, so every batch is uninformative
    kwargs = dict(env_id="Acrobot-v1", max_episode_steps=30, max_iterations=3, batch_episodes=4, progress=False)
    skipped = train(PPOConfig(skip_uninformative=True, **kwargs))
    assert np.all(skipped.curve("epochs_run") == 0) and all(h["uninformative"] for h in skipped.history)
    thetas = [h["theta"] for h in skipped.history]
    assert all(np.array_equal(thetas[0], t) for t in thetas[1:])
    used = train(PPOConfig(**kwargs))                               # the default: off
    assert np.all(used.curve("epochs_run") > 0) and not any(h["uninformative"] for h in used.history)
    assert not np.array_equal(used.history[0]["theta"], used.history[-1]["theta"])


def test_first_clipped_step_is_n_over_N_times_the_reported_gradient():
    # at the batch's start every ratio is 1 and the clipped objective's gradient is the mean over the
    # N valid steps of A_t grad log pi; the reported grad_norm is that of the mean over n episodes of
    # their sums
    first, valid = [], []

    class Recording(PPOLearner):
        def improve(self, episodes, batch, iteration):
            valid.append(int(episodes.mask.sum()))
            return super().improve(episodes, batch, iteration)

        def step(self, grad):
            first.append(grad.copy())
            return super().step(grad)

    run = train_many(configs=[_with_learner(Recording, epochs=1, minibatches=1, target_kl=None, seed=5,
                                            **{**TINY, "max_iterations": 1})])[0]
    n, N = run.config.batch_episodes, valid[0]
    assert N > n
    assert np.linalg.norm(first[0]) * N / n == pytest.approx(run.history[0]["grad_norm"], rel=1e-10)
