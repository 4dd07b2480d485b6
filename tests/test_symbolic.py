"""pgbook.symbolic: each SymPy helper against hand-derived closed forms, against the
independent numpy implementation in pgbook.distributions, and with negative controls
(identities that must NOT hold are reported as not holding)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from pgbook import symbolic as S
from pgbook.distributions import Bernoulli, Categorical, Gaussian


def test_is_zero_detects_zero_and_non_zero():
    x = sp.Symbol("x", real=True)
    assert S.is_zero(sp.log(sp.exp(x) * 2) - x - sp.log(2))
    assert S.is_zero(sp.Matrix([0, sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1]))
    assert not S.is_zero(sp.exp(x) - 1)
    assert not S.is_zero(sp.Matrix([0, x]))


@pytest.mark.parametrize("n_vars", [1, 3])
def test_log_derivative_identity_for_generic_positive_function(n_vars):
    check = S.log_derivative_identity(n_vars)
    assert check.holds
    assert len(check.variables) == n_vars
    assert check.grad_log_f.shape == (n_vars, 1)
    # f is an undefined function: the identity is not about one example
    assert isinstance(check.f.func, sp.core.function.UndefinedFunction)
    # the two sides really are gradients: differentiate the same quotient by hand
    v = check.variables[0]
    assert sp.simplify(check.grad_f_over_f[0] - sp.Derivative(check.f, v) / check.f) == 0


def test_log_derivative_identity_rejects_bad_n_vars():
    with pytest.raises(ValueError, match="n_vars"):
        S.log_derivative_identity(0)


def test_closed_form_scores():
    b = S.bernoulli()
    (ell,) = b.params
    # typed in by hand: d/dl [x l - log(1 + e^l)] = x - sigmoid(l)
    for outcome in (0, 1):
        assert sp.simplify(b.score(outcome)[0] - (outcome - 1 / (1 + sp.exp(-ell)))) == 0
    g = S.gaussian()
    mu, omega = g.params                       # omega = log sigma
    x = g.x
    assert sp.simplify(g.score()[0] - (x - mu) * sp.exp(-2 * omega)) == 0
    assert sp.simplify(g.score()[1] - ((x - mu) ** 2 * sp.exp(-2 * omega) - 1)) == 0
    for fam in (b, S.categorical(2), S.categorical(4), g):
        assert fam.score_matches_closed_form(), fam.name


def test_categorical_score_components_sum_to_zero():
    c = S.categorical(3)
    for k in c.support:
        assert sp.simplify(sum(c.score(k))) == 0


@pytest.mark.parametrize("family", [S.bernoulli, lambda: S.categorical(3), S.gaussian])
def test_total_probability_and_zero_mean_score(family):
    fam = family()
    assert sp.simplify(fam.total_probability() - 1) == 0
    expected = S.expected_score(fam)
    assert expected.shape == (len(fam.params), 1)
    assert all(e == 0 for e in expected)
    assert S.grad_p_identity(fam)


@pytest.mark.parametrize(
    "family, numeric, outcomes",
    [
        (S.bernoulli, lambda v: Bernoulli(v[0]), [0, 1]),
        (lambda: S.categorical(3), lambda v: Categorical(v), [0, 1, 2]),
    ],
)
def test_symbolic_score_matches_numpy_score_discrete(family, numeric, outcomes):
    fam = family()
    rng = np.random.default_rng(3)  # a fixed seed is fine: the comparisons are exact, at any parameters
    for _ in range(5):
        values = rng.normal(scale=2.0, size=len(fam.params))
        subs = dict(zip(fam.params, values))
        dist = numeric(values)
        got = dist.score(np.array(outcomes))
        want = np.array([[float(e) for e in fam.score(o).subs(subs)] for o in outcomes])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        want_lp = np.array([float(fam.log_prob(o).subs(subs)) for o in outcomes])
        np.testing.assert_allclose(dist.log_prob(np.array(outcomes)), want_lp, rtol=1e-10)


def test_symbolic_score_matches_numpy_score_gaussian():
    fam = S.gaussian()
    mu, omega = fam.params                     # mean and log standard deviation (omega = log sigma)
    score_fn = sp.lambdify((fam.x, mu, omega), list(fam.score()), "numpy")
    rng = np.random.default_rng(4)  # a fixed seed is fine: the comparisons are exact, at any parameters
    for _ in range(5):
        m, ls = rng.normal(), rng.normal(scale=0.5)
        dist = Gaussian(m, ls)
        x = dist.sample(rng, 6)
        want = np.stack([np.broadcast_to(c, (6,)) for c in score_fn(x[:, 0], m, ls)], axis=1)
        np.testing.assert_allclose(dist.score(x), want, rtol=1e-10, atol=1e-12)


def test_score_function_identity_gaussian_polynomial():
    g = S.gaussian()
    mu, omega = g.params
    x = g.x
    result = S.score_function_identity(g, x**2)
    # E[x^2] = mu^2 + sigma^2 with sigma = e^omega, so the gradient is (2 mu, 2 e^{2 omega}) -- by hand.
    assert sp.simplify(result.expectation - (mu**2 + sp.exp(2 * omega))) == 0
    assert sp.simplify(result.gradient - sp.Matrix([2 * mu, 2 * sp.exp(2 * omega)])) == sp.zeros(2, 1)
    assert result.holds
    cubic = S.score_function_identity(g, x**3 - 2 * x + 1)
    # E[x^3] = mu^3 + 3 mu sigma^2
    assert sp.simplify(cubic.expectation - (mu**3 + 3 * mu * sp.exp(2 * omega) - 2 * mu + 1)) == 0
    assert cubic.holds


def test_score_function_identity_discrete():
    b = S.bernoulli()
    (ell,) = b.params
    res = S.score_function_identity(b, 3 * b.x + 2)
    sig = 1 / (1 + sp.exp(-ell))
    assert sp.simplify(res.expectation - (3 * sig + 2)) == 0
    assert res.holds
    c = S.categorical(3)
    res = S.score_function_identity(c, lambda k: [5, -1, 2][k])
    assert res.holds


class _HalfScore(S.SymbolicFamily):
    """A deliberately wrong family: its score is half the true one."""

    def score(self, x=None):
        return super().score(x) / 2


def test_score_function_identity_negative_control():
    g = S.gaussian()
    half = _HalfScore(g.name, g.params, g.x, g.support, g.prob_fn, g.score_closed_form_fn)
    res = S.score_function_identity(half, g.x**2)
    assert not res.holds
    assert not S.is_zero(res.gradient - res.score_form)
    assert not half.score_matches_closed_form()


def test_generic_trajectory_gradient_keeps_only_policy_terms():
    res = S.generic_trajectory_gradient(horizon=3, n_params=2)
    assert res.equal and res.dynamics_free and res.log_prob_depends_on_dynamics
    assert len(res.policy_terms) == 3 and len(res.dynamics_terms) == 4  # mu_0 and 3 transitions
    # log P is a sum of 7 logarithms
    assert isinstance(res.log_prob, sp.Add) and len(res.log_prob.args) == 7
    assert all(isinstance(a, sp.log) for a in res.log_prob.args)
    # each gradient component is a sum of T terms d pi / pi
    assert all(len(sp.Add.make_args(g)) == 3 for g in res.grad_log_prob)


def test_tabular_trajectory_gradient_by_hand():
    res = S.tabular_trajectory_gradient([0, 1, 1, 0], [1, 0, 1], n_states=2, n_actions=2)
    assert res.equal and res.dynamics_free and res.log_prob_depends_on_dynamics
    assert {str(a) for a in res.dynamics_symbols} == {"mu_0", "P_011", "P_101", "P_110"}
    # by hand: sum_t (e_{a_t} - pi(.|s_t)) in row s_t
    t00, t01, t10, t11 = res.theta
    p0 = sp.exp(t00) / (sp.exp(t00) + sp.exp(t01))  # pi(0|0)
    q0 = sp.exp(t10) / (sp.exp(t10) + sp.exp(t11))  # pi(0|1)
    by_hand = sp.Matrix([0 - p0, 1 - (1 - p0), (1 - q0) + (0 - q0), (0 - (1 - q0)) + (1 - (1 - q0))])
    assert S.is_zero(res.grad_log_prob - by_hand)


def test_trajectory_gradient_negative_control_theta_dependent_dynamics():
    # If the "environment" depended on theta, its terms would NOT leave the gradient.
    theta = sp.symbols("theta1:3", real=True)
    pi = sp.Function("pi", positive=True)
    start = sp.Symbol("mu", positive=True)
    bad_transition = sp.exp(theta[0]) / (1 + sp.exp(theta[0]))
    res = S._trajectory_result(theta, start, [pi(0, 0, *theta)], [bad_transition], [start])
    assert not res.equal


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: S.tabular_trajectory_gradient([0, 1], [0, 1], 2, 2), "states"),
        (lambda: S.tabular_trajectory_gradient([0, 3], [0], 2, 2), "states"),
        (lambda: S.tabular_trajectory_gradient([0, 1], [2], 2, 2), "actions"),
        (lambda: S.generic_trajectory_gradient(0), "horizon"),
        (lambda: S.categorical(1), "n_categories"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
