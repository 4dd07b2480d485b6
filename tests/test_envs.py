"""Tests of pgbook.envs (and pgbook.baselines): the environments follow gymnasium's API and
their exact answers agree with independent computations (hand algebra, brute force, simulation)."""
from __future__ import annotations

import math
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pgbook
from pgbook import envs
from pgbook.estimators import compare


# ------------------------------------------------------------------ registration and API
@pytest.mark.parametrize("env_id", [envs.SHORT_CORRIDOR_ID, envs.LINEAR_QUADRATIC_ID])
def test_check_env_passes(env_id):
    env = gymnasium.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [str(w.message) for w in caught]
    # The only warning we accept: the LQ action box is in physical units, not [-1, 1].
    assert all("normalized space" in m for m in messages), messages
    env.close()


def test_registration_is_idempotent():
    envs.register_envs()
    envs.register_envs()
    for env_id, limit in [(envs.SHORT_CORRIDOR_ID, envs.SHORT_CORRIDOR_MAX_STEPS),
                          (envs.LINEAR_QUADRATIC_ID, envs.LINEAR_QUADRATIC_MAX_STEPS)]:
        assert env_id in gymnasium.registry
        assert gymnasium.make(env_id).spec.max_episode_steps == limit


def test_short_corridor_dynamics_by_hand():
    env = gymnasium.make(envs.SHORT_CORRIDOR_ID).unwrapped
    obs, info = env.reset(seed=0)
    assert obs == 0 and info["cell"] == 0
    cells = []
    for action in [0, 1, 1, 1, 0, 1]:  # left (wall), right, right (switched: back), right, left (switched: on), right
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs == 0 and reward == -1.0 and not truncated
        cells.append(info["cell"])
    assert cells == [0, 1, 0, 1, 2, 3] and terminated
    with pytest.raises(AssertionError):
        env.step(2)


def test_short_corridor_time_limit_ends_a_deterministic_loop():
    env = gymnasium.make(envs.SHORT_CORRIDOR_ID)
    env.reset(seed=0)
    total, steps, done = 0.0, 0, False
    while not done:
        _, r, term, trunc, _ = env.step(1)  # always "right": 0 -> 1 -> 0 -> ...
        total += r
        steps += 1
        done = term or trunc
    assert not term and trunc and steps == envs.SHORT_CORRIDOR_MAX_STEPS
    assert total == envs.short_corridor_value(1.0, horizon=envs.SHORT_CORRIDOR_MAX_STEPS)


# ------------------------------------------------------------------ short-corridor values
def test_linear_solve_matches_closed_form_and_optimum():
    p = np.linspace(0.01, 0.99, 99)
    np.testing.assert_allclose(envs.short_corridor_value(p), envs.short_corridor_value_closed_form(p), rtol=1e-10)
    assert envs.short_corridor_value(0.0) == -math.inf and envs.short_corridor_value(1.0) == -math.inf
    p_star, v_star = envs.short_corridor_optimum()
    assert abs(p_star - (2 - math.sqrt(2))) < 1e-6
    assert abs(v_star + 6 + 4 * math.sqrt(2)) < 1e-9
    # the discounted value: check one p against hand elimination of the three Bellman equations
    g, pr = 0.9, 0.3
    q = 1 - pr
    # v2 = -1 + g q v1 ; v0 = (-1 + g pr v1) / (1 - g q) ; v1 = -1 + g pr v0 + g q v2
    c0, c1 = -1 / (1 - g * q), g * pr / (1 - g * q)
    v1 = (-1 + g * pr * c0 - g * q) / (1 - g * pr * c1 - g * g * q * q)
    assert abs(envs.short_corridor_value(pr, gamma=g) - (c0 + c1 * v1)) < 1e-12


def test_horizon_value_converges_to_infinite_horizon():
    p = np.array([0.3, 0.5, 0.7])
    gap = envs.short_corridor_value(p, horizon=2000) - envs.short_corridor_value(p)
    assert np.all(np.abs(gap) < 1e-8)
    assert envs.short_corridor_value(0.5, horizon=1) == -1.0
    assert envs.short_corridor_value(0.5, horizon=2) == -2.0  # the goal is 3 steps away


def test_short_corridor_value_matches_simulation():
    rng = np.random.default_rng([pgbook.book_seed(), 11])
    env = gymnasium.make(envs.SHORT_CORRIDOR_ID)
    p, n = 0.6, 3000
    returns = np.empty(n)
    for i in range(n):
        env.reset(seed=int(rng.integers(2**31)))
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(int(rng.random() < p))
            total += r
            done = term or trunc
        returns[i] = total
    exact = envs.short_corridor_value(p, horizon=envs.SHORT_CORRIDOR_MAX_STEPS)
    check = compare(returns[:, None], np.array([exact]))
    assert check.passed, str(check)


@pytest.mark.parametrize("bad", [-0.1, 1.5, np.nan])
def test_short_corridor_bad_probability(bad):
    with pytest.raises(ValueError, match="p_right"):
        envs.short_corridor_value(bad)
    with pytest.raises(ValueError, match="gamma"):
        envs.short_corridor_value(0.5, gamma=1.2)
    with pytest.raises(ValueError, match="horizon"):
        envs.short_corridor_value(0.5, horizon=0)


# ------------------------------------------------------------------ linear-quadratic
def test_riccati_matches_the_scalar_quadratic():
    # The stationary c* solves gamma f_a^2 c^2 + (c_a (1 - gamma f_s^2) - gamma c_s f_a^2) c - c_s c_a = 0.
    for f_s, f_a, c_s, c_a, g in [(1, 1, 1, 1, 1), (1.2, 0.5, 2.0, 0.3, 0.95), (0.8, -1.0, 1.0, 4.0, 0.9)]:
        A, B, C = g * f_a * f_a, c_a * (1 - g * f_s * f_s) - g * c_s * f_a * f_a, -c_s * c_a
        c_star = (-B + math.sqrt(B * B - 4 * A * C)) / (2 * A)
        k = g * f_s * f_a * c_star / (c_a + g * f_a * f_a * c_star)
        assert abs(envs.riccati_gain(f_s, f_a, c_s, c_a, g) - k) < 1e-9
        assert abs(envs.riccati_gain(f_s=f_s, f_a=f_a, c_s=c_s, c_a=c_a, gamma=g) - k) < 1e-9
        assert abs(envs.riccati_value(f_s, f_a, c_s, c_a, g) - c_star) < 1e-7 * c_star
    assert abs(envs.riccati_gain() - (math.sqrt(5) - 1) / 2) < 1e-12  # f_s=f_a=c_s=c_a=1: k* = 1/golden ratio


def test_riccati_gain_minimises_the_exact_cost_by_brute_force():
    params = dict(f_s=1.1, f_a=0.7, c_s=1.0, c_a=0.5, sigma_xi=0.3, init_std=1.0, gamma=0.95)
    k_grid = np.linspace(0.0, 3.0, 300_001)
    J = envs.lq_expected_return(k_grid, sigma=0.4, horizon=None, **params)
    k_star = envs.riccati_gain(**{name: params[name] for name in ("f_s", "f_a", "c_s", "c_a", "gamma")})
    assert abs(k_grid[np.argmax(J)] - k_star) < 2e-5


def test_finite_horizon_gains_by_brute_force():
    f_s, f_a, c_s, c_a, g, m0, sigma_xi2 = 1.0, 1.0, 1.0, 2.0, 0.9, 1.0, 0.01
    k0, k1 = np.meshgrid(np.linspace(0, 1.5, 1501), np.linspace(0, 1.5, 1501), indexing="ij")
    m1 = (f_s - f_a * k0) ** 2 * m0 + sigma_xi2
    cost = (c_s + c_a * k0**2) * m0 + g * (c_s + c_a * k1**2) * m1
    i, j = np.unravel_index(np.argmin(cost), cost.shape)
    gains = envs.riccati_gain(f_s, f_a, c_s, c_a, g, horizon=2)
    assert gains[1] == 0.0  # the last action cannot help any more
    assert abs(k0[i, j] - gains[0]) < 1.5e-3 and abs(k1[i, j] - gains[1]) < 1.5e-3


def test_lq_expected_return_matches_simulation():
    rng = np.random.default_rng([pgbook.book_seed(), 12])
    kw = dict(f_s=1.0, f_a=1.0, c_s=1.0, c_a=1.0, sigma_xi=0.2, init_std=1.0)
    env = gymnasium.make(envs.LINEAR_QUADRATIC_ID, **kw)
    k, sigma, gamma, n = 0.5, 0.3, 0.95, 800
    T = envs.LINEAR_QUADRATIC_MAX_STEPS
    returns = np.empty(n)
    for i in range(n):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        total, t, done = 0.0, 0, False
        while not done:
            a = -k * obs + sigma * rng.standard_normal(1)
            obs, rwd, term, trunc, _ = env.step(a)
            total += gamma**t * rwd
            t += 1
            done = term or trunc
        assert t == T
        returns[i] = total
    exact = envs.lq_expected_return(k, sigma, gamma=gamma, horizon=T, **kw)
    check = compare(returns[:, None], np.array([exact]))
    assert check.passed, str(check)
    # the closed-form infinite sum agrees with a long finite one
    long = envs.lq_expected_return(k, sigma, gamma=gamma, horizon=2000, **kw)
    assert abs(envs.lq_expected_return(k, sigma, gamma=gamma, horizon=None, **kw) - long) < 1e-9 * abs(long)


def test_lq_env_parameters_and_bad_input():
    env = gymnasium.make(envs.LINEAR_QUADRATIC_ID, f_s=0.5, f_a=2.0, c_s=3.0, c_a=0.25, sigma_xi=0.0, init_std=1.0,
                         max_action=2.0)
    obs, _ = env.reset(seed=3)
    s = float(obs[0])
    obs2, reward, term, trunc, _ = env.step(np.array([100.0]))  # clipped to max_action = 2
    assert abs(reward + (3.0 * s * s + 0.25 * 4.0)) < 1e-12
    assert abs(obs2[0] - (0.5 * s + 2.0 * 2.0)) < 1e-12 and not term
    for kwargs, name in [({"c_s": -1.0}, "c_s"), ({"c_a": 0.0}, "c_a"), ({"f_a": 0.0}, "f_a"),
                         ({"sigma_xi": -1}, "sigma_xi"), ({"f_s": np.nan}, "f_s")]:
        with pytest.raises(ValueError, match=name):
            gymnasium.make(envs.LINEAR_QUADRATIC_ID, **kwargs)
        if name != "sigma_xi":      # the same checks guard the exact formulas
            with pytest.raises(ValueError, match=name):
                envs.riccati_gain(**kwargs)
            with pytest.raises(ValueError, match=name):
                envs.lq_expected_return(0.5, **kwargs)
    with pytest.raises(ValueError, match="sigma_xi"):
        envs.lq_expected_return(0.5, sigma_xi=-1.0)
    with pytest.raises(TypeError):  # the old names a, b, q, r are gone, not silently ignored
        gymnasium.make(envs.LINEAR_QUADRATIC_ID, q=2.0)
    with pytest.raises(ValueError, match="gamma"):
        envs.riccati_gain(gamma=-0.1)
    with pytest.raises(ValueError, match="sigma"):
        envs.lq_expected_return(0.5, sigma=-1.0)


def test_lq_diverging_policy_terminates_without_overflow():
    env = gymnasium.make(envs.LINEAR_QUADRATIC_ID, f_s=3.0, init_std=1.0, sigma_xi=1.0)
    env.reset(seed=0)
    for t in range(envs.LINEAR_QUADRATIC_MAX_STEPS):
        obs, reward, term, trunc, _ = env.step(np.zeros(1))
        assert np.isfinite(reward) and env.observation_space.contains(obs)
        if term or trunc:
            break
    assert term and t < envs.LINEAR_QUADRATIC_MAX_STEPS - 1


# ------------------------------------------------------------------ vector versions
def test_vector_short_corridor_matches_single_env_and_autoresets():
    venv = gymnasium.make_vec(envs.SHORT_CORRIDOR_ID, num_envs=2, vectorization_mode="vector_entry_point")
    single = gymnasium.make(envs.SHORT_CORRIDOR_ID).unwrapped
    venv.reset(seed=0)
    single.reset(seed=0)
    seq = [0, 1, 1, 1, 0, 1]                       # reaches the goal on the 6th step
    for t, a in enumerate(seq):
        obs, r, term, trunc, _ = venv.step(np.array([a, 0]))
        _, r1, term1, _, info = single.step(a)
        assert r[0] == r1 == -1.0 and term[0] == term1 and not trunc.any()
    assert term[0] and not term[1]
    obs, r, term, trunc, _ = venv.step(np.array([1, 0]))   # autoreset step for env 0: reward 0
    assert r[0] == 0.0 and not term[0] and r[1] == -1.0
    with pytest.raises(AssertionError):
        venv.step(np.array([2, 0]))


def test_vector_short_corridor_value_by_simulation():
    n, p = 4000, 0.6
    rng = np.random.default_rng([pgbook.book_seed(), 13])
    venv = gymnasium.make_vec(envs.SHORT_CORRIDOR_ID, num_envs=n, vectorization_mode="vector_entry_point")
    venv.reset(seed=int(rng.integers(2**31)))
    total, running = np.zeros(n), np.ones(n, dtype=bool)
    while running.any():
        _, r, term, trunc, _ = venv.step((rng.random(n) < p).astype(np.int64))
        total += np.where(running, r, 0.0)
        running &= ~(term | trunc)
    exact = envs.short_corridor_value(p, horizon=envs.SHORT_CORRIDOR_MAX_STEPS)
    check = compare(total[:, None], np.array([exact]))
    assert check.passed, str(check)


def test_vector_lq_return_matches_exact_and_is_truncated():
    n, k, sigma, gamma = 4000, 0.7, 0.2, 0.95
    rng = np.random.default_rng([pgbook.book_seed(), 14])
    kw = dict(f_s=0.9, f_a=0.5, c_s=2.0, c_a=0.5, sigma_xi=0.3, init_std=0.8)
    venv = gymnasium.make_vec(envs.LINEAR_QUADRATIC_ID, num_envs=n, vectorization_mode="vector_entry_point", **kw)
    obs, _ = venv.reset(seed=int(rng.integers(2**31)))
    total = np.zeros(n)
    for t in range(envs.LINEAR_QUADRATIC_MAX_STEPS):
        a = -k * obs + sigma * rng.standard_normal((n, 1))
        obs, r, term, trunc, _ = venv.step(a)
        total += gamma**t * r
        assert not term.any()
    assert trunc.all()
    exact = envs.lq_expected_return(k, sigma, gamma=gamma, **kw)
    check = compare(total[:, None], np.array([exact]))
    assert check.passed, str(check)


def test_best_corridor_policy_is_almost_never_cut_off_by_the_time_limit():
    """The comment on SHORT_CORRIDOR_MAX_STEPS: the optimal policy runs past 200 steps w.p. about 6.6e-10."""
    p_star = 2 - np.sqrt(2)
    Q = envs.short_corridor_transitions(p_star)
    running = np.linalg.matrix_power(Q, envs.SHORT_CORRIDOR_MAX_STEPS)[0].sum()
    assert 6.5e-10 < running < 6.7e-10
