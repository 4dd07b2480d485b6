"""Tests of pgbook.reinforce: rollouts, the autoreset mask, the gradient, budgets, determinism,
divergence and errors.  Every training run is tiny (well under a second each)."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import pgbook
from pgbook import estimators
from pgbook.mlp import MLPSoftmax
from pgbook.policies import LinearGaussian, LinearSoftmax
from pgbook.training import TrainingDivergedWarning
from pgbook.reinforce import (
    ReinforceConfig,
    _gradient_samples,
    _leave_one_out_mean,
    _psi,
    _sampler,
    _score,
    collect_batch,
    evaluate,
    features,
    make_envs,
    time_to_solve,
    train,
)

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


def test_discrete_observations_become_one_hot():
    space = gymnasium.spaces.Discrete(3, start=2)
    np.testing.assert_array_equal(features(space, np.array([2, 4, 3])), np.eye(3)[[0, 2, 1]])
    box = gymnasium.spaces.Box(-1, 1, shape=(2, 2))
    assert features(box, np.zeros((5, 2, 2))).shape == (5, 4)


# ----------------------------------------------------------------------------- determinism
def _numbers(result):
    return [{k: v for k, v in row.items() if k not in ("wall_time", "cpu_time", "theta")} for row in result.history]


def test_same_seed_same_run_number_for_number():
    cfg = ReinforceConfig(max_iterations=4, batch_episodes=6, progress=False, seed=pgbook.book_seed())
    a, b = train(cfg), train(cfg)
    assert _numbers(a) == _numbers(b)
    np.testing.assert_array_equal(a.theta, b.theta)
    c = train(cfg.replace(seed=cfg.seed + 1))
    assert _numbers(c) != _numbers(a)


def test_same_seed_same_run_mlp_and_sync_vector_env():
    cfg = ReinforceConfig(env_id="Acrobot-v1", policy="mlp", hidden=4, max_episode_steps=20, progress=False,
                          max_iterations=2, batch_episodes=3, seed=5)
    a, b = train(cfg), train(cfg)
    assert _numbers(a) == _numbers(b)
    np.testing.assert_array_equal(a.theta, b.theta)


@pytest.mark.parametrize("policy", [LinearSoftmax(4, 3), MLPSoftmax(4, 3, 5)])
def test_fast_sampler_draws_what_policy_sample_draws(policy):
    theta = _random_theta(policy, 1, 1.0)
    x = np.random.default_rng(2).normal(size=(500, 4))
    fast = _sampler(policy, theta, np.random.default_rng(9))(x)
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
    cfg = ReinforceConfig(env_id=env_id)
    from pgbook.reinforce import make_policy
    policy = make_policy(cfg, envs.single_observation_space, envs.single_action_space)
    theta = _random_theta(policy, 3)
    batch = collect_batch(envs, policy, theta, np.random.default_rng(pgbook.book_seed()), min_episodes=8)
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
            env.unwrapped.state = batch.obs[i, 0].copy()
            for t in range(batch.lengths[i]):
                obs, r, term, trunc, _ = env.step(int(batch.actions[i, t]))
                if t + 1 < batch.lengths[i]:
                    assert not (term or trunc)
                    np.testing.assert_allclose(obs, batch.obs[i, t + 1], rtol=1e-5, atol=1e-6)
            assert term or batch.lengths[i] == 500
        env.close()
    else:  # reward -1 per step in the corridor
        np.testing.assert_array_equal(batch.returns, -batch.lengths)
    # the masked steps add no score: every per-episode gradient equals the one computed on the
    # episode's own valid prefix alone
    score = _score(policy, theta, batch)
    assert np.all(score[~batch.mask] == 0.0)
    samples = estimators.policy_gradient_samples(score, batch.rewards, batch.mask, 0.99, discount_weighting=False)
    for i in range(n):
        L = batch.lengths[i]
        own = policy.score(theta, batch.obs[i, :L], batch.actions[i, :L])
        g = np.array([np.sum(0.99 ** np.arange(L - t) * batch.rewards[i, t:L]) for t in range(L)])
        np.testing.assert_allclose(samples[i], np.einsum("t,t...->...", g, own), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- gradient pieces
def test_leave_one_out_baseline_and_normalisation():
    rng = np.random.default_rng(pgbook.book_seed())
    mask = np.arange(6)[None, :] < np.array([6, 3, 1, 4])[:, None]
    psi = np.where(mask, rng.normal(size=(4, 6)), 0.0)
    loo = _leave_one_out_mean(psi, mask)
    for i in range(4):
        others = np.concatenate([psi[j][mask[j]] for j in range(4) if j != i])
        assert np.isclose(loo[i], others.mean())

    class B:  # a minimal batch for _gradient_samples
        pass
    b = B()
    b.mask, b.rewards = mask, np.where(mask, rng.normal(size=(4, 6)), 0.0)
    score = np.where(mask[..., None, None], rng.normal(size=(4, 6, 3, 2)), 0.0)
    cfg = ReinforceConfig(normalise_returns=True, gamma=0.9)
    psi = _psi(b, 0.9, True)
    samples = _gradient_samples(score, b, psi, cfg, np.zeros((4, 6)))
    adv = psi[mask]
    scaled = np.where(mask, (psi - adv.mean()) / (adv.std() + 1e-8), 0.0)
    np.testing.assert_allclose(samples, np.einsum("nt,nt...->n...", scaled, score), atol=1e-12)


def test_trainer_gradient_estimates_the_exact_gradient_on_the_short_corridor():
    """Averaged over many batches, the step direction is the exact policy gradient (reward-to-go,
    gamma^t weighting, leave-one-out baseline: all unbiased).  Exact value: finite differences of
    pgbook.envs.short_corridor_value."""
    from pgbook.envs import short_corridor_value
    from pgbook.reinforce import make_policy
    gamma = 0.9
    envs = make_envs("pgbook/ShortCorridor-v0", 400)
    cfg = ReinforceConfig(env_id="pgbook/ShortCorridor-v0", gamma=gamma, discount_weighting=True)
    policy = make_policy(cfg, envs.single_observation_space, envs.single_action_space)
    theta = np.array([[0.0, 0.4], [0.0, 0.0]])  # one-hot obs (always 0) + bias: logit of "right" 0.4
    p_right = lambda th: 1 / (1 + np.exp(-(th[0, 1] + th[1, 1] - th[0, 0] - th[1, 0])))
    rng = np.random.default_rng([pgbook.book_seed(), 11])
    batch = collect_batch(envs, policy, theta, rng, min_episodes=4000)
    envs.close()
    psi = _psi(batch, gamma, True)
    n, T = batch.mask.shape
    base = np.where(batch.mask, np.repeat(_leave_one_out_mean(psi, batch.mask)[:, None], T, 1), 0.0)
    samples = _gradient_samples(_score(policy, theta, batch), batch, psi, cfg, base)
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


def test_time_to_solve_reports_unsolved_within_a_tiny_budget():
    out = time_to_solve(ReinforceConfig(progress=False, max_iterations=2), n_eval=10)
    assert out["solved"] is False and out["iterations"] == 2 and np.isnan(out["eval_return"])


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


def test_every_config_field_is_documented():
    import inspect
    source = inspect.getsource(ReinforceConfig)
    from dataclasses import fields
    for f in fields(ReinforceConfig):
        head = source.split(f"\n    {f.name}:")[1]
        assert head.split("\n", 2)[1].strip().startswith('"""'), f"field {f.name} has no docstring"


# ----------------------------------------------------------------------------- many runs at once
def test_joint_sampler_draws_what_each_run_would_draw():
    from pgbook.reinforce import _joint_sampler
    policy, n = LinearSoftmax(4, 3), 5
    thetas = [_random_theta(policy, seed=k, scale=1.0) for k in range(4)]
    x = np.random.default_rng(9).standard_normal((4 * n, 4))
    joint = _joint_sampler([policy] * 4, thetas, n, np.random.default_rng(3))(x)
    rng = np.random.default_rng(3)               # the same uniform draws, taken run by run
    alone = np.concatenate([_sampler(policy, th, rng)(x[k * n:(k + 1) * n]) for k, th in enumerate(thetas)])
    np.testing.assert_array_equal(joint, alone)
    # the generic path (MLP) keeps the runs apart too
    mlp = MLPSoftmax(4, 3, 5)
    mthetas = [_random_theta(mlp, seed=k, scale=1.0) for k in range(3)]
    jm = _joint_sampler([mlp] * 3, mthetas, n, np.random.default_rng(4))(x[:3 * n])
    rng = np.random.default_rng(4)
    am = np.concatenate([_sampler(mlp, th, rng)(x[k * n:(k + 1) * n]) for k, th in enumerate(mthetas)])
    np.testing.assert_array_equal(jm, am)


def test_split_batch_gives_each_run_its_own_masked_episodes():
    from pgbook.reinforce import _play_round, _split_batch
    policy, n, runs = LinearSoftmax(4, 2), 6, 3
    envs = make_envs("CartPole-v1", n * runs)
    try:
        batch = _play_round(envs, policy, _random_theta(policy), np.random.default_rng(1), 501)
    finally:
        envs.close()
    parts = _split_batch(batch, runs)
    assert len(parts) == runs
    for k, part in enumerate(parts):
        T = part.mask.shape[1]
        assert T == part.lengths.max() and part.n_episodes == n
        np.testing.assert_array_equal(part.lengths, batch.lengths[k * n:(k + 1) * n])
        np.testing.assert_array_equal(part.returns, part.lengths)          # CartPole: +1 per real step
        np.testing.assert_array_equal(part.mask, np.arange(T) < part.lengths[:, None])
        np.testing.assert_array_equal(part.obs, batch.obs[k * n:(k + 1) * n, :T])
        assert part.env_steps == n * T                                     # what train() would count
    assert sum(p.returns.sum() for p in parts) == batch.returns.sum()


def test_train_many_is_deterministic_and_keeps_runs_separate():
    from pgbook.reinforce import train_many
    base = ReinforceConfig(max_iterations=3, batch_episodes=4, progress=False)
    cfgs = [base.replace(seed=s, baseline=b) for b in ("none", "value") for s in (0, 1)]
    a, b = train_many(configs=cfgs), train_many(configs=cfgs)
    assert [_numbers(r) for r in a] == [_numbers(r) for r in b]
    for res, cfg in zip(a, cfgs):
        assert res.config == cfg and res.status == "budget" and res.iterations == 3
        assert res.theta.shape == (5, 2) and np.all(np.isfinite(res.theta))
        assert all(row["episodes"] == 4 for row in res.history)
    # runs 0 and 2 share a seed, hence their initial parameters, but not their episodes
    assert _numbers(a[0]) != _numbers(a[2])
    by_seed = train_many(base, seeds=[0, 1])
    assert [r.config.seed for r in by_seed] == [0, 1]


def test_train_many_runs_learn_for_every_seed():
    from pgbook.reinforce import train_many
    # 15 iterations of 16 episodes: over 200 runs tried, no run's last three batches averaged
    # less than 1.69 times its first three, and no group of four less than 2.5 times.
    results = train_many(ReinforceConfig(max_iterations=15, batch_episodes=16, progress=False),
                         seeds=[10 * pgbook.book_seed() + k for k in range(4)])
    curves = np.array([r.curve("return_mean") for r in results])
    assert np.all(curves[:, -3:].mean(axis=1) > 1.2 * curves[:, :3].mean(axis=1)), curves
    assert curves[:, -3:].mean() > 1.8 * curves[:, :3].mean()


def test_train_many_honours_budgets_per_run():
    from pgbook.reinforce import train_many
    base = ReinforceConfig(batch_episodes=4, progress=False, max_env_steps=None)
    short, long = train_many(configs=[base.replace(max_iterations=2), base.replace(max_iterations=5, seed=1)])
    assert short.iterations == 2 and long.iterations == 5
    capped = train_many(base.replace(max_iterations=50, max_env_steps=300), seeds=[0, 1])
    for r in capped:
        assert r.env_steps >= 300 and r.env_steps - r.history[-2]["env_steps"] > 0
        assert r.history[-2]["env_steps"] < 300


@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=[1, 1]), "distinct"),
    (dict(seeds=[]), "non-empty"),
    (dict(batch_episodes=None, batch_steps=100), "batch_episodes"),
    (dict(max_seconds=1.0), "max_seconds"),
])
def test_train_many_bad_arguments(kwargs, match):
    from pgbook.reinforce import train_many
    with pytest.raises(ValueError, match=match):
        train_many(ReinforceConfig(max_iterations=1, progress=False), **kwargs)


def test_train_many_configs_must_share_the_environment():
    from pgbook.reinforce import train_many
    a = ReinforceConfig(max_iterations=1, progress=False)
    with pytest.raises(ValueError, match="batch_episodes"):
        train_many(configs=[a, a.replace(batch_episodes=8)])
    with pytest.raises(ValueError, match="env_id"):
        train_many(configs=[a, a.replace(env_id="Acrobot-v1")])
    with pytest.raises(ValueError, match="not both"):
        train_many(a, configs=[a])
