"""Tests of pgbook.natural: Fisher information, expected KL, natural gradient, conjugate gradients."""
import numpy as np
import pytest

from pgbook import mdp as M
from pgbook.mdp import optimal_stationary_J, stationary_J
from pgbook.natural import (NaturalConfig, NaturalLearner, Reparametrised, conjugate_gradient, exact_ascent,
                            expected_kl, fisher_exact, natural_gradient, policy_change, softmax_natural_gradient,
                            train)
from pgbook.policies import LinearSoftmax, TabularSoftmax
from pgbook.training import TrainingDivergedWarning


@pytest.fixture
def tiny():
    mdp = M.tiny_mdp(gamma=0.9)
    policy = TabularSoftmax(mdp.n_states, mdp.n_actions)
    theta = np.random.default_rng(3).normal(size=policy.theta_shape)
    return mdp, policy, theta


def test_fisher_is_the_score_covariance_by_brute_force(tiny):
    mdp, policy, theta = tiny
    F = fisher_exact(mdp, policy, theta)
    pi = M.policy_table(mdp, policy, theta)
    d = M.discounted_visitation(mdp, pi)
    score = M.score_table(mdp, policy, theta)
    k = theta.size
    brute = np.zeros((k, k))
    for s in range(mdp.n_states):
        for a in range(mdp.n_actions):
            g = score[s, a].reshape(-1)
            brute += d[s] * pi[s, a] * np.outer(g, g)
    np.testing.assert_allclose(F, brute, rtol=1e-12, atol=1e-14)
    assert np.allclose(F, F.T)
    assert np.linalg.eigvalsh(F).min() > -1e-12
    # a softmax policy's F is singular: adding c to every logit of a state changes nothing
    null = np.zeros(policy.theta_shape)
    null[0] = 1.0
    assert np.linalg.norm(F @ null.reshape(-1)) < 1e-12
    assert np.linalg.norm(F) > 0.1


def test_expected_kl_is_half_the_fisher_quadratic_form(tiny):
    mdp, policy, theta = tiny
    F = fisher_exact(mdp, policy, theta)
    direction = np.random.default_rng(4).normal(size=theta.shape)
    assert expected_kl(mdp, policy, theta, theta) == 0.0
    for eps in (1e-2, 1e-3):
        delta = eps * direction
        kl = expected_kl(mdp, policy, theta, theta + delta)
        quad = 0.5 * delta.reshape(-1) @ F @ delta.reshape(-1)
        # the remainder is third order: its ratio to the quadratic form shrinks like eps
        assert abs(kl - quad) / quad < 20 * eps
    # a large step is far from quadratic: the check above can fail
    delta = 3.0 * direction
    kl = expected_kl(mdp, policy, theta, theta + delta)
    assert abs(kl - 0.5 * delta.reshape(-1) @ F @ delta.reshape(-1)) > 0.1 * kl


def test_natural_gradient_and_conjugate_gradients_agree(tiny):
    mdp, policy, theta = tiny
    F = fisher_exact(mdp, policy, theta)
    g = M.grad_J_theorem(mdp, policy, theta)
    x = natural_gradient(F, g)
    assert x.shape == g.shape
    np.testing.assert_allclose(F @ x.reshape(-1), g.reshape(-1), atol=1e-10)   # g lies in F's range
    y = conjugate_gradient(lambda v: (F @ v.reshape(-1)).reshape(v.shape), g, iterations=theta.size)
    np.testing.assert_allclose(y, x, atol=1e-8)
    # tabular softmax: the natural gradient is the advantage, up to a constant per state (Kakade, 2001)
    pi = M.policy_table(mdp, policy, theta)
    V, Q = M.discounted_values(mdp, pi)
    A = Q - V[:, None]
    d = M.discounted_visitation(mdp, pi)
    live = d > 0
    centred = A - A.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(x[live], centred[live], atol=1e-8)


def test_conjugate_gradient_on_a_positive_definite_system():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(6, 6))
    F = B @ B.T + 0.1 * np.eye(6)
    b = rng.normal(size=6)
    x = conjugate_gradient(lambda v: F @ v, b, iterations=6)
    np.testing.assert_allclose(x, np.linalg.solve(F, b), rtol=1e-8)
    one = conjugate_gradient(lambda v: F @ v, b, iterations=1)
    assert np.linalg.norm(F @ one - b) > 1e-3   # one step is not enough: the test above can fail


@pytest.mark.parametrize("call, match", [
    (lambda: natural_gradient(np.ones((2, 3)), np.ones(2)), "fisher must be a square"),
    (lambda: natural_gradient(np.eye(2), np.ones(3)), "grad must have 2 entries"),
    (lambda: natural_gradient(np.eye(2), [np.nan, 1.0]), "grad"),
    (lambda: conjugate_gradient("F", np.ones(2)), "matvec must be a function"),
    (lambda: conjugate_gradient(lambda v: v, np.ones(2), iterations=0), "iterations"),
    (lambda: conjugate_gradient(lambda v: v[:1], np.ones(2)), "matvec must return"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_expected_kl_rejects_a_theta_of_another_shape(tiny):
    mdp, policy, theta = tiny
    with pytest.raises(ValueError, match="theta_new must have"):
        expected_kl(mdp, policy, theta, theta[:-1])
    with pytest.raises(ValueError, match="theta_new must be finite"):
        expected_kl(mdp, policy, theta, np.full_like(theta, np.nan))
    with pytest.raises(ValueError, match="theta0 must have"):
        exact_ascent(mdp, np.zeros((2, 3)), 1.0, 2)


def test_conjugate_gradient_names_a_non_finite_product():
    with pytest.raises(ValueError, match="matvec must return finite values, got 2 NaN"):
        conjugate_gradient(lambda v: v * np.nan, np.ones(2))


def test_the_null_space_of_F_changes_no_visited_state_and_the_gradient_avoids_it():
    lake = M.frozen_lake_mdp()
    policy = TabularSoftmax(lake.n_states, lake.n_actions)
    theta = np.random.default_rng(2).normal(size=policy.theta_shape)
    F = fisher_exact(lake, policy, theta)
    w, vecs = np.linalg.eigh(F)
    null = vecs[:, w < 1e-10 * w.max()]
    d = M.discounted_visitation(lake, M.policy_table(lake, policy, theta))
    visited = d > 0
    assert 0 < visited.sum() < lake.n_states and null.shape[1] == theta.size - visited.sum() * 3
    for v in null.T:
        change = policy_change(lake, policy, theta, v.reshape(theta.shape))
        assert np.abs(change[visited]).max() < 1e-10
    # ...yet a null direction may change the policy where it never goes
    assert max(np.abs(policy_change(lake, policy, theta, v.reshape(theta.shape))).max() for v in null.T) > 0.1
    g = M.grad_J_theorem(lake, policy, theta).reshape(-1)
    assert np.abs(null.T @ g).max() < 1e-12 * np.abs(g).max() and np.abs(g).max() > 1e-3


# ------------------------------------------------------------------ chapter 15: parametrisations
def test_a_reparametrisation_changes_the_vanilla_step_but_not_the_natural_one(tiny):
    mdp, policy, theta = tiny
    B = np.diag([1.0, 4.0, 0.5, 2.0]) + 0.3 * np.triu(np.ones((4, 4)), 1)
    new = Reparametrised(policy, B)
    zeta = new.zeta(theta)
    np.testing.assert_allclose(new.theta(zeta), theta, atol=1e-12)
    np.testing.assert_allclose(M.policy_table(mdp, new, zeta), M.policy_table(mdp, policy, theta), atol=1e-14)
    F, F_eta = fisher_exact(mdp, policy, theta), fisher_exact(mdp, new, zeta)
    np.testing.assert_allclose(F_eta, B.T @ F @ B, atol=1e-12)
    g, g_eta = M.grad_J_theorem(mdp, policy, theta), M.grad_J_theorem(mdp, new, zeta)
    np.testing.assert_allclose(g_eta, B.T @ g.reshape(-1), atol=1e-12)
    vanilla = policy_change(mdp, policy, theta, g)
    vanilla_eta = policy_change(mdp, new, zeta, g_eta)
    assert np.abs(vanilla - vanilla_eta).max() > 0.1 * np.abs(vanilla).max()
    nat = policy_change(mdp, policy, theta, natural_gradient(F, g))
    nat_eta = policy_change(mdp, new, zeta, natural_gradient(F_eta, g_eta))
    np.testing.assert_allclose(nat_eta, nat, atol=1e-10)
    assert np.abs(nat).max() > 1e-3


def test_policy_change_is_the_derivative_of_the_policy_table(tiny):
    mdp, policy, theta = tiny
    step = np.random.default_rng(5).normal(size=theta.shape)
    h = 1e-6
    numeric = (M.policy_table(mdp, policy, theta + h * step) - M.policy_table(mdp, policy, theta - h * step)) / (2 * h)
    np.testing.assert_allclose(policy_change(mdp, policy, theta, step), numeric, atol=1e-8)


def test_reparametrised_rejects_a_bad_matrix(tiny):
    _, policy, _ = tiny
    with pytest.raises(ValueError, match="B must be a square"):
        Reparametrised(policy, np.eye(3))
    with pytest.raises(ValueError, match="B must be invertible"):
        Reparametrised(policy, np.ones((4, 4)))
    with pytest.raises(TypeError, match="softmax policy"):
        Reparametrised("pi", np.eye(4))


# ------------------------------------------------------------------ the tabular closed form
@pytest.fixture(scope="module")
def lake():
    return M.frozen_lake_mdp()


def test_closed_form_is_the_pseudo_inverse_step_on_frozen_lake(lake):
    policy = TabularSoftmax(lake.n_states, lake.n_actions)
    theta = 0.5 * np.random.default_rng(1).normal(size=policy.theta_shape)
    F = fisher_exact(lake, policy, theta)
    g = M.grad_J_theorem(lake, policy, theta)
    closed = softmax_natural_gradient(lake, theta)
    np.testing.assert_allclose(natural_gradient(F, g), closed, atol=1e-9)
    assert np.all(closed[lake.terminal] == 0) and np.abs(closed).max() > 0.01
    # normalising d to a probability divides F by Z and multiplies the step by Z < 1 / (1 - gamma)
    Z = M.discounted_visitation(lake, M.policy_table(lake, policy, theta)).sum()
    np.testing.assert_allclose(natural_gradient(F / Z, g), Z * closed, atol=1e-8)
    assert 1.0 < Z < 0.5 / (1 - lake.gamma)


def test_optimal_stationary_J_is_the_long_horizon_optimum(lake):
    best = optimal_stationary_J(lake)
    V, _ = M.optimal_values(lake.replace(horizon=3000))
    assert best == pytest.approx(lake.mu0 @ V[0], abs=1e-10)
    assert stationary_J(lake, TabularSoftmax(16, 4), np.zeros((16, 4))) < 0.1 * best


def test_natural_ascent_beats_vanilla_ascent_at_the_same_step(lake):
    target = 0.99 * optimal_stationary_J(lake)
    theta0 = np.zeros((16, 4))
    nat = exact_ascent(lake, theta0, 30.0, 40, natural=True)
    van = exact_ascent(lake, theta0, 30.0, 40)
    assert nat.J.shape == (41,) and nat.J[0] == van.J[0]
    assert nat.iterations_to(target) is not None and van.iterations_to(target) is None
    assert np.all(np.diff(nat.J) > -1e-12)
    with pytest.raises(ValueError, match="step"):
        exact_ascent(lake, theta0, 0.0, 5)


# ------------------------------------------------------------------ the sampled trainer
TINY = dict(max_iterations=2, batch_episodes=4, progress=False)


def test_natural_step_has_the_kl_radius_and_solves_the_damped_system():
    rng = np.random.default_rng(0)
    config = NaturalConfig(max_kl=0.02, damping=0.1, cg_iterations=10)
    learner = NaturalLearner(config, LinearSoftmax(4, 2), rng)
    score = rng.normal(size=(3, 5, 5, 2))
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    grad = rng.normal(size=(5, 2))
    step, x = learner.natural_step(score, grad, mask)
    S = score[mask].reshape(-1, 10)
    F = S.T @ S / len(S) + 0.1 * np.eye(10)
    np.testing.assert_allclose(x.reshape(-1), np.linalg.solve(F, grad.reshape(-1)), rtol=1e-6)
    assert 0.5 * step.reshape(-1) @ F @ step.reshape(-1) == pytest.approx(0.02, rel=1e-9)


def test_smoke_run_is_finite_and_the_same_seed_gives_the_same_run():
    a = train(seed=3, **TINY)
    b = train(NaturalConfig(seed=3, **TINY))
    c = train(seed=4, **TINY)
    assert a.status == "budget" and a.iterations == 2
    for key in ("return_mean", "grad_norm", "step_norm", "entropy"):
        assert np.all(np.isfinite(a.curve(key))), key
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)
    assert a.config.trainer() is train


def test_an_absurd_kl_radius_stops_with_advice():
    with pytest.warns(TrainingDivergedWarning, match="max_kl"):
        result = train(NaturalConfig(max_kl=1e308, progress=False, max_iterations=20, batch_episodes=4))
    assert result.diverged and result.iterations < 20
    assert "lower max_kl" in result.message and np.all(np.isfinite(result.theta))


@pytest.mark.parametrize("field, value", [
    ("max_kl", 0.0), ("max_kl", "big"), ("cg_iterations", 0), ("damping", -1.0), ("baseline", "median"),
    ("batch_episodes", 1), ("seed", -1),
])
def test_bad_config_fields_are_named(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        NaturalConfig(**{field: value})
    with pytest.raises(ValueError, match="max_kll"):
        train(max_kll=0.1, **TINY)


def test_every_natural_config_field_is_documented():
    import inspect
    from dataclasses import fields
    for f in fields(NaturalConfig):
        owner = next(c for c in NaturalConfig.__mro__ if f.name in c.__dict__.get("__annotations__", {}))
        head = inspect.getsource(owner).split(f"\n    {f.name}:")[1]
        assert head.split("\n", 2)[1].strip().startswith('"""'), f"NaturalConfig.{f.name} has no docstring"


def test_time_to_solve_and_train_many_accept_a_natural_config():
    from pgbook.experiments import time_to_solve, train_many
    from pgbook.reinforce import ReinforceConfig
    out = time_to_solve(NaturalConfig(**TINY), target=1e9)
    assert out["solved"] is False and out["iterations"] == 2
    runs = train_many(configs=[NaturalConfig(seed=0, **TINY), ReinforceConfig(seed=0, **TINY)])
    assert "step_norm" in runs[0].history[0] and "step_norm" not in runs[1].history[0]


def test_conjugate_gradient_reports_a_non_finite_product_as_non_finite():
    from pgbook._validate import NonFiniteError
    with pytest.raises(NonFiniteError, match="matvec must return finite values"):
        conjugate_gradient(lambda v: v * np.nan, np.ones(3))
