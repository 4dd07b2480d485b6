"""SymPy helpers: the identities behind the policy gradient, checked symbolically.

The chapters call these functions and assert on what they return: SymPy expressions
(which the notebook can print with ``sympy.latex``) and booleans saying whether an
identity holds exactly.  Nothing here is numerical; the numerical checks live in
:mod:`pgbook.distributions`, :mod:`pgbook.estimators` and the notebooks.

What is here:

* :func:`log_derivative_identity` : :math:`\\nabla \\log f = \\nabla f / f` for a generic positive f.
* :func:`bernoulli`, :func:`categorical`, :func:`gaussian` : the three families of
  :mod:`pgbook.distributions` as :class:`SymbolicFamily` objects, with their log-probability,
  score (by differentiation and in closed form) and exact expectations (a sum over the
  outcomes, or an integral over the real line).
* :func:`expected_score` : :math:`E_p[\\nabla_\\theta \\log p_\\theta(x)]`, which is zero.
* :func:`grad_p_identity` : :math:`\\nabla_\\theta p = p \\, \\nabla_\\theta \\log p`.
* :func:`score_function_identity` : :math:`\\nabla_\\theta E_p[f] = E_p[f \\, \\nabla_\\theta \\log p]`.
* :func:`generic_trajectory_gradient`, :func:`tabular_trajectory_gradient` :
  :math:`P(\\tau|\\theta)` as a product with symbolic transition probabilities, whose
  log-gradient keeps only the policy terms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import sympy as sp

__all__ = [
    "is_zero",
    "LogDerivativeCheck",
    "log_derivative_identity",
    "SymbolicFamily",
    "bernoulli",
    "categorical",
    "gaussian",
    "expected_score",
    "grad_p_identity",
    "ScoreFunctionCheck",
    "score_function_identity",
    "TrajectoryGradient",
    "generic_trajectory_gradient",
    "tabular_trajectory_gradient",
    "softmax_policy_symbols",
]


def is_zero(expr) -> bool:
    """True when SymPy can show that ``expr`` (an expression or a matrix) is identically zero.

    Simplifies first, then (if that is not conclusive) expands logarithms and
    exponentials; returns False when zero cannot be shown.
    """
    if isinstance(expr, (sp.MatrixBase, list, tuple)):
        return all(is_zero(e) for e in (expr if not isinstance(expr, sp.MatrixBase) else list(expr)))
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    simplified = sp.simplify(expr)
    if simplified == 0:
        return True
    expanded = sp.simplify(sp.expand(sp.expand_log(simplified, force=True)))
    return bool(expanded == 0)


# ---------------------------------------------------------------------------
# The log-derivative identity for a generic positive function
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogDerivativeCheck:
    """Result of :func:`log_derivative_identity`.

    ``variables`` are the symbols :math:`x_1..x_n`; ``f`` is the generic positive function
    applied to them; ``grad_log_f`` is :math:`\\nabla \\log f` as SymPy computes it by the
    chain rule; ``grad_f_over_f`` is :math:`\\nabla f / f`; ``grad_f`` is :math:`\\nabla f` and
    ``f_times_grad_log_f`` is :math:`f \\nabla \\log f`.  ``holds`` is True when both
    differences simplify to zero.
    """

    variables: tuple
    f: sp.Expr
    grad_log_f: sp.Matrix
    grad_f_over_f: sp.Matrix
    grad_f: sp.Matrix
    f_times_grad_log_f: sp.Matrix
    holds: bool


def log_derivative_identity(n_vars: int = 1) -> LogDerivativeCheck:
    """Show :math:`\\nabla_x \\log f(x) = \\nabla_x f(x) / f(x)` for an undefined positive f of ``n_vars`` variables.

    ``f`` is a SymPy ``Function`` with no formula, only the assumption ``positive=True``,
    so the result holds for every positive differentiable f, not one example.
    """
    if isinstance(n_vars, bool) or not isinstance(n_vars, int) or n_vars < 1:
        raise ValueError(f"n_vars must be a positive integer, got {n_vars!r}")
    xs = sp.symbols(f"x1:{n_vars + 1}", real=True) if n_vars > 1 else (sp.Symbol("x", real=True),)
    f = sp.Function("f", positive=True)(*xs)
    grad_log_f = sp.Matrix([sp.diff(sp.log(f), v) for v in xs])
    grad_f = sp.Matrix([sp.diff(f, v) for v in xs])
    grad_f_over_f = grad_f / f
    f_times = (f * grad_log_f).applyfunc(sp.simplify)
    holds = is_zero(grad_log_f - grad_f_over_f) and is_zero(grad_f - f_times)
    return LogDerivativeCheck(tuple(xs), f, grad_log_f, grad_f_over_f, grad_f, f_times, holds)


# ---------------------------------------------------------------------------
# The three families, symbolically
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolicFamily:
    """One parametric family :math:`p_\\theta(x)` in SymPy.

    Attributes
    ----------
    name : str
        The family's name, e.g. ``"Bernoulli"``.
    params : tuple of Symbols
        The parameters :math:`\\theta` (same order as ``params`` in :mod:`pgbook.distributions`).
    x : Symbol
        The outcome variable.
    support : tuple or None
        The outcomes of a discrete family, or None for a density on the real line.
    prob_fn : callable
        Outcome -> expression :math:`p_\\theta(x)`.
    score_closed_form_fn : callable
        Outcome -> Matrix, the textbook formula of the score.
    """

    name: str
    params: tuple
    x: sp.Symbol
    support: tuple | None
    prob_fn: Callable
    score_closed_form_fn: Callable

    @property
    def discrete(self) -> bool:
        return self.support is not None

    def prob(self, x=None) -> sp.Expr:
        """:math:`p_\\theta(x)` (``x`` defaults to the symbol ``self.x``)."""
        return self.prob_fn(self.x if x is None else x)

    def log_prob(self, x=None) -> sp.Expr:
        """:math:`\\log p_\\theta(x)`, with logarithms of products expanded into sums."""
        return sp.expand_log(sp.log(self.prob(x)), force=True)

    def score(self, x=None) -> sp.Matrix:
        """:math:`\\nabla_\\theta \\log p_\\theta(x)` by differentiating :meth:`log_prob` (column, one row per parameter)."""
        lp = self.log_prob(x)
        return sp.Matrix([sp.simplify(sp.diff(lp, t)) for t in self.params])

    def score_closed_form(self, x=None) -> sp.Matrix:
        """The closed-form score the text states (to compare with :meth:`score`)."""
        return sp.Matrix(self.score_closed_form_fn(self.x if x is None else x))

    def score_matches_closed_form(self) -> bool:
        """True when the differentiated score equals the closed form, for every outcome
        (discrete) or for symbolic x (continuous)."""
        outcomes = self.support if self.discrete else (self.x,)
        return all(is_zero(self.score(o) - self.score_closed_form(o)) for o in outcomes)

    def expect(self, fn: Callable) -> sp.Expr:
        """Exact :math:`E_p[g(x)]` for ``fn`` mapping an outcome to an expression (or Matrix):
        a sum over the support, or an integral over the real line against the density."""
        if self.discrete:
            terms = [fn(o) * self.prob(o) for o in self.support]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
        else:
            integrand = fn(self.x) * self.prob(self.x)
            if isinstance(integrand, sp.MatrixBase):
                total = integrand.applyfunc(lambda e: sp.integrate(e, (self.x, -sp.oo, sp.oo)))
            else:
                total = sp.integrate(integrand, (self.x, -sp.oo, sp.oo))
        if isinstance(total, sp.MatrixBase):
            return total.applyfunc(sp.simplify)
        return sp.simplify(total)

    def total_probability(self) -> sp.Expr:
        """:math:`\\sum_x p(x)` or :math:`\\int p(x)\\,dx` (simplifies to 1)."""
        return self.expect(lambda o: sp.S.One)


def bernoulli() -> SymbolicFamily:
    """Bernoulli with logit :math:`\\ell`: :math:`p(x) = \\operatorname{sigmoid}(\\ell)^x (1-\\operatorname{sigmoid}(\\ell))^{1-x}`,
    x in {0, 1}.

    Closed-form score: :math:`x - \\operatorname{sigmoid}(\\ell)`.
    """
    ell = sp.Symbol("ell", real=True)
    x = sp.Symbol("x", integer=True, nonnegative=True)
    sig = 1 / (1 + sp.exp(-ell))

    def prob(o):
        return sig**o * (1 - sig) ** (1 - o)

    return SymbolicFamily("Bernoulli", (ell,), x, (0, 1), prob, lambda o: [o - sig])


def categorical(n_categories: int = 3) -> SymbolicFamily:
    """Softmax categorical over K outcomes with logits :math:`z_0..z_{K-1}`.

    Closed-form score of outcome k: :math:`e_k - \\operatorname{softmax}(z)`.
    """
    if isinstance(n_categories, bool) or not isinstance(n_categories, int) or n_categories < 2:
        raise ValueError(f"n_categories must be an integer >= 2, got {n_categories!r}")
    z = sp.symbols(f"z0:{n_categories}", real=True)
    x = sp.Symbol("x", integer=True, nonnegative=True)
    norm = sum(sp.exp(zj) for zj in z)
    softmax = [sp.exp(zj) / norm for zj in z]

    def prob(o):
        if isinstance(o, sp.Symbol):
            raise ValueError("x must be a concrete outcome 0..K-1 for the categorical family")
        return softmax[int(o)]

    def closed(o):
        return [(1 if j == int(o) else 0) - softmax[j] for j in range(n_categories)]

    return SymbolicFamily(f"Categorical(K={n_categories})", tuple(z), x, tuple(range(n_categories)), prob, closed)


def gaussian() -> SymbolicFamily:
    """One-dimensional normal with mean :math:`\\mu` and log standard deviation :math:`\\omega` (:math:`\\sigma = e^\\omega`).

    The parameters are the SymPy symbols ``mu`` and ``omega``, in that order.

    Closed-form score: :math:`((x-\\mu)/\\sigma^2,\\; (x-\\mu)^2/\\sigma^2 - 1)`.
    """
    mu, omega = sp.symbols("mu omega", real=True)
    x = sp.Symbol("x", real=True)
    sigma = sp.exp(omega)

    def prob(o):
        return sp.exp(-((o - mu) ** 2) / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)

    def closed(o):
        return [(o - mu) / sigma**2, (o - mu) ** 2 / sigma**2 - 1]

    return SymbolicFamily("Gaussian", (mu, omega), x, None, prob, closed)


def expected_score(family: SymbolicFamily) -> sp.Matrix:
    """Exact :math:`E_{x\\sim p_\\theta}[\\nabla_\\theta \\log p_\\theta(x)]`, simplified (a zero vector)."""
    return family.expect(family.score)


def grad_p_identity(family: SymbolicFamily) -> bool:
    """True when :math:`\\nabla_\\theta p_\\theta(x) = p_\\theta(x) \\nabla_\\theta \\log p_\\theta(x)` for every
    outcome (discrete) or symbolic x (continuous)."""
    outcomes = family.support if family.discrete else (family.x,)
    for o in outcomes:
        p = family.prob(o)
        grad_p = sp.Matrix([sp.diff(p, t) for t in family.params])
        if not is_zero(grad_p - p * family.score(o)):
            return False
    return True


@dataclass(frozen=True)
class ScoreFunctionCheck:
    """Result of :func:`score_function_identity`.

    ``expectation`` is :math:`E_p[f]` as a function of the parameters; ``gradient`` its
    gradient (differentiate after integrating); ``score_form`` is :math:`E_p[f \\nabla \\log p]`
    (integrate after multiplying by the score); ``holds`` says whether they are equal.
    """

    f: sp.Expr
    expectation: sp.Expr
    gradient: sp.Matrix
    score_form: sp.Matrix
    holds: bool


def score_function_identity(family: SymbolicFamily, f) -> ScoreFunctionCheck:
    """Check :math:`\\nabla_\\theta E_{p_\\theta}[f(x)] = E_{p_\\theta}[f(x) \\nabla_\\theta \\log p_\\theta(x)]` exactly.

    ``f`` is an expression in ``family.x`` (e.g. a polynomial for the Gaussian), or a
    callable outcome -> expression.  Both sides are computed independently: the left by
    integrating (or summing) and then differentiating, the right by multiplying by the
    score and then integrating.
    """
    fn = f if callable(f) else (lambda o: sp.sympify(f).subs(family.x, o))
    expectation = family.expect(fn)
    gradient = sp.Matrix([sp.simplify(sp.diff(expectation, t)) for t in family.params])
    score_form = family.expect(lambda o: fn(o) * family.score(o))
    try:
        f_expr = sp.sympify(fn(family.x))
    except (TypeError, IndexError, ValueError, sp.SympifyError):  # a table of values, not a formula
        f_expr = sp.Function("f")(family.x)
    return ScoreFunctionCheck(f_expr, expectation, gradient, score_form, is_zero(gradient - score_form))


# ---------------------------------------------------------------------------
# Trajectories: the dynamics leave the gradient
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectoryGradient:
    """Result of :func:`generic_trajectory_gradient` / :func:`tabular_trajectory_gradient`.

    Attributes
    ----------
    prob
        :math:`P(\\tau|\\theta)` as a product of the start probability, the policy terms and the
        transition terms.
    log_prob
        Its logarithm written as a sum (logs of products expanded).
    policy_terms, dynamics_terms
        The factors of ``prob`` that are policy probabilities and the ones that belong to the
        environment (start state and transitions).
    dynamics_symbols
        The symbols (or undefined-function applications) of the environment.
    grad_log_prob
        :math:`\\nabla_\\theta \\log P(\\tau|\\theta)` (one row per parameter).
    grad_log_policy
        :math:`\\sum_t \\nabla_\\theta \\log \\pi_\\theta(a_t|s_t)`.
    equal
        True when the two gradients are identical.
    dynamics_free
        True when no environment quantity appears in ``grad_log_prob``.
    log_prob_depends_on_dynamics
        True when ``log_prob`` itself does contain them (so the vanishing is a property of the
        gradient, not of the model).
    """

    theta: tuple
    prob: sp.Expr
    log_prob: sp.Expr
    policy_terms: tuple
    dynamics_terms: tuple
    dynamics_symbols: tuple
    grad_log_prob: sp.Matrix
    grad_log_policy: sp.Matrix
    equal: bool
    dynamics_free: bool
    log_prob_depends_on_dynamics: bool


def _contains_any(expr, atoms) -> bool:
    return any(expr.has(a) for a in atoms)


def _trajectory_result(theta, start, policy_terms, dynamics_terms, dynamics_atoms) -> TrajectoryGradient:
    prob = sp.Mul(start, *policy_terms, *dynamics_terms, evaluate=False)
    log_prob = sp.log(start) + sum(
        (sp.log(p) + sp.log(d) for p, d in zip(policy_terms, dynamics_terms)), sp.S.Zero
    )
    # The gradient of the full log-probability, differentiated from the product itself
    # (log of the whole product, nothing cancelled by hand).
    # ``cancel`` brings each derivative to one reduced fraction (treating exp(theta), the symbols and
    # the undefined functions as indeterminates), which removes every factor that cancels; ``expand``
    # then splits it back into a readable sum.
    full = sp.log(sp.Mul(start, *policy_terms, *dynamics_terms))
    grad_full = sp.Matrix([sp.expand(sp.cancel(sp.diff(full, t))) for t in theta])
    grad_policy = sp.Matrix(
        [sp.expand(sp.cancel(sum((sp.diff(sp.log(p), t) for p in policy_terms), sp.S.Zero))) for t in theta]
    )
    equal = all(sp.cancel(g - h) == 0 for g, h in zip(grad_full, grad_policy))
    dynamics_free = not any(_contains_any(g, dynamics_atoms) for g in grad_full)
    depends = _contains_any(log_prob, dynamics_atoms)
    return TrajectoryGradient(
        tuple(theta), prob, log_prob, tuple(policy_terms), (start, *dynamics_terms), tuple(dynamics_atoms),
        grad_full, grad_policy, equal, dynamics_free, depends,
    )


def generic_trajectory_gradient(horizon: int = 3, n_params: int = 2) -> TrajectoryGradient:
    """:math:`P(\\tau|\\theta) = \\mu_0(s_0) \\prod_t \\pi(a_t|s_t;\\theta) P(s_{t+1}|s_t,a_t)` with every
    factor an *undefined* SymPy function (no formula at all).

    States ``s0..sT`` and actions ``a0..a_{T-1}`` are symbols; ``mu0``, ``P`` and ``pi`` are
    undefined positive functions, ``pi`` also of the parameters ``theta1..``.  The gradient
    of the log then shows, for any policy and any environment, that only the policy terms
    survive.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if isinstance(n_params, bool) or not isinstance(n_params, int) or n_params < 1:
        raise ValueError(f"n_params must be a positive integer, got {n_params!r}")
    s = sp.symbols(f"s0:{horizon + 1}")
    a = sp.symbols(f"a0:{horizon}")
    theta = sp.symbols(f"theta1:{n_params + 1}", real=True)
    mu0 = sp.Function("mu_0", positive=True)
    P = sp.Function("P", positive=True)
    pi = sp.Function("pi", positive=True)
    start = mu0(s[0])
    policy_terms = [pi(a[t], s[t], *theta) for t in range(horizon)]
    dynamics_terms = [P(s[t + 1], s[t], a[t]) for t in range(horizon)]
    return _trajectory_result(theta, start, policy_terms, dynamics_terms, [start, *dynamics_terms])


def softmax_policy_symbols(n_states: int, n_actions: int):
    """Symbols ``theta_{s,a}`` (a Matrix S x A) and a function ``pi(a, s)`` giving the tabular
    softmax probability :math:`e^{\\theta_{s,a}} / \\sum_b e^{\\theta_{s,b}}`."""
    theta = sp.Matrix(n_states, n_actions, lambda i, j: sp.Symbol(f"theta_{i}{j}", real=True))

    def pi(action: int, state: int) -> sp.Expr:
        row = [sp.exp(theta[state, b]) for b in range(n_actions)]
        return row[action] / sum(row)

    return theta, pi


def tabular_trajectory_gradient(states: Sequence[int], actions: Sequence[int], n_states: int,
                                n_actions: int) -> TrajectoryGradient:
    """One concrete trajectory ``s_0, a_0, s_1, ..., a_{T-1}, s_T`` under a tabular softmax policy,
    with a symbolic start probability ``mu_{s0}`` and symbolic transition probabilities
    ``P_{s a s'}`` (positive symbols, no numbers).

    ``states`` has length T+1 and ``actions`` length T; entries are integer indices.
    The returned gradient is over the S*A entries of theta, row by row.
    """
    states = [int(v) for v in states]
    actions = [int(v) for v in actions]
    if len(states) != len(actions) + 1 or not actions:
        raise ValueError(
            f"states must have length len(actions) + 1 >= 2, got {len(states)} states and {len(actions)} actions"
        )
    if any(not 0 <= v < n_states for v in states):
        raise ValueError(f"states must lie in 0..{n_states - 1}, got {states}")
    if any(not 0 <= v < n_actions for v in actions):
        raise ValueError(f"actions must lie in 0..{n_actions - 1}, got {actions}")
    theta, pi = softmax_policy_symbols(n_states, n_actions)
    start = sp.Symbol(f"mu_{states[0]}", positive=True)
    policy_terms = [pi(a, s) for s, a in zip(states[:-1], actions)]
    dynamics_terms = [
        sp.Symbol(f"P_{s}{a}{s2}", positive=True) for s, a, s2 in zip(states[:-1], actions, states[1:])
    ]
    atoms = sorted({start, *dynamics_terms}, key=str)
    return _trajectory_result(list(theta), start, policy_terms, dynamics_terms, atoms)
