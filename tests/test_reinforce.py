"""Tests of pgbook.reinforce: the learner's update, the gradient, budgets, determinism, divergence
and errors.  Every training run is tiny (well under a second each)."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import pgbook
from pgbook import estimators
from pgbook.policies import LinearGaussian, LinearSoftmax
from pgbook.baselines import leave_one_out_mean
from pgbook.episodes import Episodes
from pgbook.reinforce import Learner, ReinforceConfig, make_policy, train
from pgbook.rollout import collect_episodes, evaluate, make_envs
from pgbook.training import TrainingDivergedWarning

TINY = dict(max_iterations=2, batch_episodes=4, progress=False)


def _random_theta(policy, seed=0, scale=0.3):
    return scale * np.random.default_rng(seed).standard_normal(policy.theta_shape)


# ----------------------------------------------------------------------------- smoke runs
@pytest.mark.parametrize("kwargs", [
    dict(env_id="CartPole-v1"),
    dict(env_id="CartPole-v1", policy="mlp", hidden=8),
    dict(env_id="CartPole-v1", batch_episodes=None, batch_steps=300, num_envs=4),
    dict(env_id="CartPole-v1", baseline="batch-mean", reward_to_go=False, optimiser="sgd", learning_rate=0.01),
    dict(env_id="CartPole-v1", baseline="none", normalise_returns=True, discount_weighting=True,
         measure_variants=True),
    dict(env_id="Acrobot-v1", max_episode_steps=30),
    dict(env_id="pgbook/ShortCorridor-v0"),
    dict(env_id="pgbook/LinearQuadratic-v0", learning_rate=0.01),
])
def test_smoke_runs_produce_finite_metrics(kwargs):
    cfg = ReinforceConfig(**{**TINY, **kwargs})
    result = train(cfg)
    assert result.status == "budget" and result.iterations == cfg.max_iterations
    assert np.all(np.isfinite(result.theta)) and result.theta.shape == result.policy.theta_shape
    for key in ("return_mean", "return_std", "length_mean", "grad_norm", "grad_variance", "env_steps", "wall_time"):
        values = result.curve(key)
        assert values.shape == (cfg.max_iterations,) and np.all(np.isfinite(values)), key
    assert np.all(np.diff(result.curve("env_steps")) > 0)
    if cfg.batch_steps is not None and cfg.batch_episodes is None:
        # whole rounds of 4 episodes until at least 300 valid steps: episodes is a multiple of 4
        assert all(row["episodes"] % 4 == 0 for row in result.history)
    if cfg.measure_variants:
        for key in ("grad_variance_full_return", "grad_variance_reward_to_go", "grad_variance_baseline"):
            assert np.all(result.curve(key) >= 0)


def test_policies_are_the_part_one_objects():
    assert isinstance(train(ReinforceConfig(**TINY)).policy, LinearSoftmax)
    assert isinstance(train(ReinforceConfig(env_id="pgbook/LinearQuadratic-v0", **TINY)).policy, LinearGaussian)
    assert type(train(ReinforceConfig(policy="mlp", **TINY)).policy).__name__ == "MLPSoftmax"


# ----------------------------------------------------------------------------- determinism
def _numbers(result):
    return [{k: v for k, v in row.items() if k not in ("wall_time", "cpu_time", "theta")} for row in result.history]


@pytest.mark.parametrize("trainer", ["reinforce", "actor_critic", "ppo", "natural"])
def test_same_seed_same_run_number_for_number(trainer):
    """Every gymnasium trainer of the book: the same seed gives the same run, another seed another."""
    import importlib
    train_with = importlib.import_module(f"pgbook.{trainer}").train
    settings = dict(max_iterations=4, batch_episodes=6, progress=False, seed=pgbook.book_seed())
    a, b = train_with(**settings), train_with(**settings)
    assert _numbers(a) == _numbers(b)
    np.testing.assert_array_equal(a.theta, b.theta)
    c = train_with(**{**settings, "seed": settings["seed"] + 1})
    assert _numbers(c) != _numbers(a)
    assert not np.array_equal(a.theta, c.theta)


def test_same_seed_same_run_mlp_and_sync_vector_env():
    cfg = ReinforceConfig(env_id="Acrobot-v1", policy="mlp", hidden=4, max_episode_steps=20, progress=False,
                          max_iterations=2, batch_episodes=3, seed=5)
    a, b = train(cfg), train(cfg)
    assert _numbers(a) == _numbers(b)
    np.testing.assert_array_equal(a.theta, b.theta)


# ----------------------------------------------------------------------------- gradient pieces
def _episodes(rng, n=4, T=6, d=3, n_actions=2):
    """Made-up episodes with features as states: enough to drive one Learner update."""
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, size=n)[:, None]
    mask[0] = True
    return Episodes(states=rng.normal(size=(n, T, d)), actions=np.where(mask, rng.integers(n_actions, size=(n, T)), 0),
                    rewards=np.where(mask, rng.normal(size=(n, T)), 0.0), mask=mask, env_steps=int(n * T))


@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("baseline", ["none", "batch-mean"])
def test_learner_step_is_the_books_estimator(normalise, baseline):
    """One update of the learner with SGD at learning rate 1 moves theta by exactly the mean of
    the estimator's samples; with normalise_returns the weights Psi_t - b_t are centred and scaled."""
    rng = np.random.default_rng(pgbook.book_seed())
    episodes = _episodes(rng)
    policy = LinearSoftmax(3, 2)
    cfg = ReinforceConfig(gamma=0.9, baseline=baseline, normalise_returns=normalise, optimiser="sgd",
                          learning_rate=1.0, init_scale=0.5)
    learner = Learner(cfg, policy, np.random.default_rng(1))
    theta0 = learner.theta.copy()
    mask = episodes.mask
    G = estimators.psi(episodes.rewards, 0.9, mask)
    if baseline == "batch-mean":            # leave-one-out: the mean of G over the other episodes' steps
        b = np.array([np.concatenate([G[j][mask[j]] for j in range(4) if j != i]).mean() for i in range(4)])
        advantage = np.where(mask, G - b[:, None], 0.0)
    else:
        advantage = G
    if normalise:
        values = advantage[mask]
        advantage = np.where(mask, (advantage - values.mean()) / (values.std() + 1e-8), 0.0)
    expected = np.einsum("nt,nt...->...", advantage, estimators.step_scores(policy, theta0, episodes)) / 4
    learner.update(episodes, 1, 0.0, 0.0)
    np.testing.assert_allclose(learner.theta - theta0, expected, atol=1e-12)


def test_leave_one_out_baseline():
    rng = np.random.default_rng(pgbook.book_seed())
    mask = np.arange(6)[None, :] < np.array([6, 3, 1, 4])[:, None]
    psi = np.where(mask, rng.normal(size=(4, 6)), 0.0)
    loo = leave_one_out_mean(psi, mask)
    for i in range(4):
        others = np.concatenate([psi[j][mask[j]] for j in range(4) if j != i])
        assert np.isclose(loo[i], others.mean())


def test_trainer_gradient_estimates_the_exact_gradient_on_the_short_corridor():
    """Averaged over many batches, the step direction is the exact policy gradient (reward-to-go,
    gamma^t weighting, leave-one-out baseline: all unbiased).  Exact value: finite differences of
    pgbook.envs.short_corridor_value."""
    from pgbook.envs import short_corridor_value
    gamma = 0.9
    envs = make_envs("pgbook/ShortCorridor-v0", 400)
    cfg = ReinforceConfig(env_id="pgbook/ShortCorridor-v0", gamma=gamma, discount_weighting=True)
    policy = make_policy(cfg, envs.single_observation_space, envs.single_action_space)
    theta = np.array([[0.0, 0.4], [0.0, 0.0]])  # one-hot obs (always 0) + bias: logit of "right" 0.4
    p_right = lambda th: 1 / (1 + np.exp(-(th[0, 1] + th[1, 1] - th[0, 0] - th[1, 0])))
    rng = np.random.default_rng([pgbook.book_seed(), 11])
    batch = collect_episodes(envs, policy, theta, rng, min_episodes=4000)
    envs.close()
    n, T = batch.mask.shape
    # the learner's own pieces: its Psi, w and baseline, then the book's estimator
    learner = Learner(cfg.replace(baseline="batch-mean"), policy, rng)
    G = estimators.psi(batch.rewards, gamma, batch.mask)
    w = estimators.step_weights(gamma, T)
    samples = estimators.policy_gradient_samples(estimators.step_scores(policy, theta, batch), G, w,
                                                 learner.baseline(batch, G), batch.mask)
    # exact: dJ/dlogit = J'(p) p (1 - p) for the "right" logit (and minus that for "left")
    from pgbook.envs import SHORT_CORRIDOR_MAX_STEPS
    J = lambda p: short_corridor_value(p, gamma=gamma, horizon=SHORT_CORRIDOR_MAX_STEPS)
    p = p_right(theta)
    eps = 1e-6
    dJ_dp = (J(p + eps) - J(p - eps)) / (2 * eps)
    exact = np.zeros((2, 2))
    exact[:, 1] = dJ_dp * p * (1 - p)
    exact[:, 0] = -exact[:, 1]
    cmp = estimators.compare(samples.reshape(n, -1), exact.reshape(-1))
    assert cmp.passed, str(cmp)


# ----------------------------------------------------------------------------- learning
def test_short_run_improves_cartpole_for_every_seed():
    seeds = sorted({0, 1, 2, pgbook.book_seed(), pgbook.book_seed() + 1000})
    for seed in seeds:
        result = train(ReinforceConfig(seed=seed, max_env_steps=20_000, progress=False))
        before = evaluate(result.policy, np.zeros(result.policy.theta_shape), n_episodes=50, seed=seed)
        after = result.evaluate(n_episodes=50, seed=seed)
        se = np.sqrt(before.var(ddof=1) / 50 + after.var(ddof=1) / 50)
        assert after.mean() > before.mean() + 4 * se, (seed, before.mean(), after.mean(), se)
        assert after.mean() > 1.5 * before.mean(), (seed, before.mean(), after.mean())


def test_linear_gaussian_improves_the_linear_quadratic_regulator():
    from pgbook.envs import LINEAR_QUADRATIC_ID
    seed = pgbook.book_seed()
    result = train(ReinforceConfig(env_id=LINEAR_QUADRATIC_ID, learning_rate=0.05, batch_episodes=32,
                                   max_iterations=40, progress=False, seed=seed))
    before = evaluate(result.policy, np.zeros(result.policy.theta_shape), LINEAR_QUADRATIC_ID, 200, seed)
    after = result.evaluate(200, seed=seed)
    se = np.sqrt(before.var(ddof=1) / 200 + after.var(ddof=1) / 200)
    assert after.mean() > before.mean() + 4 * se, (before.mean(), after.mean(), se)


def test_callback_can_stop_and_budgets_hold():
    seen = []
    result = train(ReinforceConfig(progress=False), lambda m: seen.append(m["iteration"]) or m["iteration"] == 3)
    assert result.status == "callback" and seen == [1, 2, 3] and result.iterations == 3
    result = train(ReinforceConfig(progress=False, max_env_steps=2_000))
    assert result.env_steps >= 2_000 and result.env_steps - result.history[-1]["env_steps"] == 0
    assert result.iterations == 1 or result.history[-2]["env_steps"] < 2_000
    result = train(ReinforceConfig(progress=False, max_seconds=0.2, max_env_steps=None))
    assert result.history[-1]["wall_time"] >= 0.2
    assert result.iterations == 1 or result.history[-2]["wall_time"] < 0.2


# ----------------------------------------------------------------------------- divergence and errors
def test_absurd_learning_rate_stops_with_advice():
    with pytest.warns(TrainingDivergedWarning, match="learning_rate"):
        result = train(ReinforceConfig(learning_rate=1e308, progress=False, max_iterations=20, batch_episodes=4))
    assert result.diverged and result.iterations < 20
    assert "lower learning_rate" in result.message
    assert np.all(np.isfinite(result.theta))
    for key in ("return_mean", "grad_norm", "grad_variance"):
        assert np.all(np.isfinite(result.curve(key)))


def test_absurd_learning_rate_sgd_gaussian_stops_too():
    with pytest.warns(TrainingDivergedWarning, match="learning_rate"):
        result = train(ReinforceConfig(env_id="pgbook/LinearQuadratic-v0", optimiser="sgd", learning_rate=10.0,
                                       progress=False, max_iterations=20, batch_episodes=4))
    assert result.diverged and "optimiser='adam'" in result.message


def test_unsupported_spaces_give_a_clear_error():
    with pytest.raises(ValueError, match="unsupported observation space"):
        train(ReinforceConfig(env_id="Blackjack-v1", **TINY))  # Tuple observations
    with pytest.raises(ValueError, match="Discrete action spaces only"):
        train(ReinforceConfig(env_id="pgbook/LinearQuadratic-v0", policy="mlp", **TINY))
    with pytest.raises(ValueError, match="not a registered gymnasium environment"):
        train(ReinforceConfig(env_id="NoSuchEnv-v9", **TINY))


def test_unsupported_action_space_gives_a_clear_error():
    from gymnasium.envs.registration import register

    class MultiEnv(gymnasium.Env):
        observation_space = gymnasium.spaces.Box(-1, 1, shape=(2,))
        action_space = gymnasium.spaces.MultiDiscrete([2, 3])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, dtype=np.float32), {}

        def step(self, action):
            return np.zeros(2, dtype=np.float32), 0.0, True, False, {}

    if "pgbook_test/Multi-v0" not in gymnasium.registry:
        register("pgbook_test/Multi-v0", entry_point=MultiEnv, max_episode_steps=5)
    with pytest.raises(ValueError, match="unsupported action space"):
        train(ReinforceConfig(env_id="pgbook_test/Multi-v0", **TINY))


@pytest.mark.parametrize("field, value, match", [
    ("gamma", 1.5, "gamma"), ("learning_rate", 0.0, "learning_rate"), ("baseline", "median", "baseline"),
    ("optimiser", "rmsprop", "optimiser"), ("batch_episodes", 1, "batch_episodes"), ("policy", "cnn", "policy"),
    ("seed", -1, "seed"), ("max_seconds", -2.0, "max_seconds"), ("vectorization_mode", "async?", "vectorization"),
])
def test_bad_config_fields_are_named(field, value, match):
    with pytest.raises(ValueError, match=match):
        train(ReinforceConfig(**{field: value}))
    with pytest.raises(ValueError, match="unknown ReinforceConfig field"):
        ReinforceConfig().replace(learning_rat=0.1)


@pytest.mark.parametrize("config_class", ["reinforce.ReinforceConfig", "actor_critic.ActorCriticConfig", "ppo.PPOConfig",
                                          "natural.NaturalConfig",
                                          "es.ESConfig", "vi.VIConfig"])
def test_every_config_field_is_documented(config_class):
    import importlib
    import inspect
    from dataclasses import fields
    module, name = config_class.split(".")
    cls = getattr(importlib.import_module(f"pgbook.{module}"), name)
    for f in fields(cls):
        owner = next(c for c in cls.__mro__ if f.name in c.__dict__.get("__annotations__", {}))
        head = inspect.getsource(owner).split(f"\n    {f.name}:")[1]
        assert head.split("\n", 2)[1].strip().startswith('"""'), f"{name}.{f.name} has no docstring"
