"""The book's two small environments, and their exact answers.

Both are registered with gymnasium when ``pgbook`` is imported, so a chapter only writes
``gymnasium.make("pgbook/ShortCorridor-v0")`` or ``gymnasium.make("pgbook/LinearQuadratic-v0")``.
Each also has a numpy vector version (``gymnasium.make_vec(id, num_envs=n,
vectorization_mode="vector_entry_point")``) that steps many copies at once, with gymnasium's
next-step autoreset, for fast training.

**Short corridor with switched actions** (Sutton and Barto, 2018, Example 13.1).
Four cells in a row, ``0 1 2 G``.  Every step costs a reward of -1 and the episode ends
on reaching ``G`` (cell 3).  Action 0 means "left" and action 1 "right", except in cell 1,
where the two are swapped (left moves right, right moves left).  Moving left from cell 0
bumps into the wall and stays put.  The agent sees *the same observation in every cell*
(a ``Discrete(1)`` observation space whose only value is 0), so a policy is a single
number: the probability ``p`` of pressing "right".  Every deterministic policy loops for
ever; the best policy is stochastic.  :func:`short_corridor_value` gives the exact value
of any ``p`` (linear solve, any discount, optional horizon), :func:`short_corridor_value_closed_form`
the undiscounted closed form, and :func:`short_corridor_optimum` the best ``p``.

**Linear-quadratic regulator in one dimension** (in the book's notation, chapter 11).  The state
follows ``s' = f_s s + f_a a + xi`` with ``xi ~ N(0, sigma_xi**2)``, starts at ``s_0 ~ N(0, init_std**2)``
and each step pays the reward ``-(c_s s**2 + c_a a**2)`` (a quadratic cost, negated).
Its optimal policy is linear feedback ``a = -k s`` with the gain ``k`` of the Riccati
equation: :func:`riccati_gain`.  :func:`lq_expected_return` gives the exact expected
(discounted) return of a linear Gaussian policy ``a = -k s + sigma * eps``.
"""
from __future__ import annotations

import math

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ._validate import (check_finite, check_gamma, check_nonnegative, check_positive, check_positive_int,
                        check_finite_real)

__all__ = [
    "ShortCorridorEnv",
    "LinearQuadraticEnv",
    "ShortCorridorVectorEnv",
    "LinearQuadraticVectorEnv",
    "SHORT_CORRIDOR_ID",
    "LINEAR_QUADRATIC_ID",
    "SHORT_CORRIDOR_MAX_STEPS",
    "LINEAR_QUADRATIC_MAX_STEPS",
    "SHORT_CORRIDOR_MIN_TOL",
    "short_corridor_transitions",
    "short_corridor_value",
    "short_corridor_value_closed_form",
    "short_corridor_optimum",
    "short_corridor_mdp",
    "SHORT_CORRIDOR_OBSERVE",
    "riccati_gain",
    "riccati_value",
    "lq_expected_return",
    "register_envs",
]

SHORT_CORRIDOR_ID = "pgbook/ShortCorridor-v0"
LINEAR_QUADRATIC_ID = "pgbook/LinearQuadratic-v0"
#: TimeLimit of the short corridor: long enough that a good policy almost never hits it
#: (the best policy, p = 2 - sqrt 2, is still running after 200 steps with probability about
#: 6.6e-10), short enough that a
#: deterministic policy's endless loop still ends.
SHORT_CORRIDOR_MAX_STEPS = 200
#: TimeLimit of the linear-quadratic regulator.
LINEAR_QUADRATIC_MAX_STEPS = 50

_GOAL = 3
#: Smallest ``tol`` of :func:`short_corridor_optimum`: floats in (0, 1) are about 1e-16 apart
#: near the optimum, so a bracket much narrower than this cannot be formed.
SHORT_CORRIDOR_MIN_TOL = 1e-15


# ---------------------------------------------------------------------------------------
# Short corridor
# ---------------------------------------------------------------------------------------
class ShortCorridorEnv(gymnasium.Env):
    """Sutton and Barto's short corridor with switched actions (Example 13.1).

    Cells 0, 1, 2 and the goal 3.  Action 0 = left, 1 = right; in cell 1 the effects are
    swapped.  Reward -1 per step; ``terminated`` when the goal is reached.  The observation
    is always 0 (space ``Discrete(1)``): the agent cannot tell the cells apart.  The true
    cell is reported in ``info["cell"]`` for plots and tests only; a learner must not use it.
    Register-time ``TimeLimit``: :data:`SHORT_CORRIDOR_MAX_STEPS` steps.

    An action outside ``Discrete(2)`` fails the same assertion gymnasium's own CartPole uses.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(1)
        self.action_space = spaces.Discrete(2)
        self._cell = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._cell = 0
        return 0, {"cell": self._cell}

    def step(self, action):
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid: the actions are 0 (left) and 1 (right)"
        assert self._cell is not None, "Call reset before using step method."
        right = int(action) == 1
        if self._cell == 1:  # the switched cell
            right = not right
        self._cell = min(self._cell + 1, _GOAL) if right else max(self._cell - 1, 0)
        terminated = self._cell == _GOAL
        return 0, -1.0, terminated, False, {"cell": self._cell}

    def render(self):
        if self.render_mode == "ansi":
            cells = ["S", "x", ".", "G"]  # x marks the switched cell
            row = ["[" + (c if i != self._cell else "*") + "]" for i, c in enumerate(cells)]
            return " ".join(row)
        return None


def short_corridor_transitions(p_right):
    """Transition matrix among the three non-goal cells under ``P(right) = p_right``.

    Returns ``Q`` of shape ``(..., 3, 3)`` with ``Q[..., i, j]`` the probability of moving from
    cell ``i`` to cell ``j`` in one step (the missing mass in row 2 is the step into the goal).
    ``p_right`` may be a scalar or an array of probabilities in [0, 1].
    """
    p = check_finite(p_right, "p_right")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p_right must be a probability in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]")
    q = 1.0 - p
    Q = np.zeros(p.shape + (3, 3))
    Q[..., 0, 0] = q  # left bumps into the wall
    Q[..., 0, 1] = p
    Q[..., 1, 0] = p  # switched: right moves left
    Q[..., 1, 2] = q  # switched: left moves right
    Q[..., 2, 1] = q
    return Q  # Q[..., 2, 3] = p is the goal


def short_corridor_value(p_right, gamma: float = 1.0, horizon: int | None = None):
    """Exact expected return from the start cell when "right" is pressed with probability ``p_right``.

    With ``horizon=None`` this solves the Bellman equations ``v = -1 + gamma Q v`` for the
    three non-goal cells (a 3x3 linear solve, vectorised over an array of ``p_right``).  An
    undiscounted policy that never reaches the goal (``p_right`` 0 or 1 with ``gamma=1``)
    has value ``-inf``.  With an integer ``horizon`` T the episode is cut after T steps (as the
    registered env's TimeLimit does) and the value is ``v_0`` of the backward recursion
    ``v_T = 0``, ``v_t = -1 + gamma Q v_{t+1}``; this is finite for every ``p_right``.

    Returns a float for scalar input, otherwise an array of the shape of ``p_right``.
    """
    gamma = check_gamma(gamma)
    Q = short_corridor_transitions(p_right)
    p = np.asarray(p_right, dtype=float)
    if horizon is not None:
        horizon = check_positive_int(horizon, "horizon")
        v = np.zeros(p.shape + (3,))
        for _ in range(horizon):
            v = -1.0 + gamma * np.einsum("...ij,...j->...i", Q, v)
        out = v[..., 0]
    else:
        A = np.eye(3) - gamma * Q
        singular = np.abs(np.linalg.det(A)) < 1e-12
        A = np.where(singular[..., None, None], np.eye(3), A)
        v = np.linalg.solve(A, -np.ones(p.shape + (3, 1)))[..., 0]
        out = np.where(singular, -np.inf, v[..., 0])
    return float(out) if np.ndim(out) == 0 else out


def short_corridor_value_closed_form(p_right):
    """The undiscounted value ``(2p - 4) / (p (1 - p))`` of pressing "right" with probability p.

    Obtained by eliminating the three Bellman equations by hand; ``-inf`` at p = 0 and p = 1.
    """
    p = check_finite(p_right, "p_right")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p_right must be a probability in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((p > 0) & (p < 1), (2 * p - 4) / (p * (1 - p)), -np.inf)
    return float(out) if np.ndim(out) == 0 else out


#: What the short corridor's agent sees in each of its four cells: observation 0 everywhere.
SHORT_CORRIDOR_OBSERVE = np.zeros(4, dtype=np.int64)


def short_corridor_mdp(gamma: float = 1.0, horizon: int = SHORT_CORRIDOR_MAX_STEPS):
    """The short corridor as a :class:`pgbook.mdp.TabularMDP` over its four *cells*.

    States 0, 1, 2 and the terminal goal 3; actions 0 (left) and 1 (right), swapped in cell 1;
    reward -1 per step; episodes start in cell 0 and are cut after ``horizon`` steps (the
    registered environment's ``TimeLimit``).  The agent does not see the cell: give a policy
    over one observation, :data:`SHORT_CORRIDOR_OBSERVE` maps every cell to it (e.g.
    ``pgbook.mdp.grad_J_theorem(mdp, policy, theta, observe=SHORT_CORRIDOR_OBSERVE)``).
    """
    from .mdp import TabularMDP  # mdp does not import envs; imported here to keep envs light

    P = np.zeros((4, 2, 4))
    for cell in range(3):
        for action in (0, 1):
            right = (action == 1) != (cell == 1)
            P[cell, action, min(cell + 1, _GOAL) if right else max(cell - 1, 0)] = 1.0
    P[_GOAL, :, _GOAL] = 1.0
    R = np.full((4, 2, 4), -1.0)
    R[_GOAL] = 0.0
    terminal = np.arange(4) == _GOAL
    return TabularMDP(P=P, R=R, mu0=np.eye(4)[0], gamma=gamma, horizon=horizon, terminal=terminal,
                      name="short corridor")


def short_corridor_optimum(gamma: float = 1.0, horizon: int | None = None, tol: float = 1e-12):
    """The best probability of "right" and its value: ``(p_star, v_star)``.

    Undiscounted and without a horizon the answer is the closed form ``p* = 2 - sqrt(2)``
    (the root of ``p^2 - 4p + 2 = 0``, where the derivative of the closed-form value vanishes)
    with ``v* = -(6 + 4 sqrt(2))``, about -11.657.  This function does not rely on that: it
    maximises :func:`short_corridor_value` by golden-section search on (0, 1), so it works for
    any ``gamma`` and ``horizon`` (the value is unimodal in p); the tests compare its answer
    with the closed form.

    The search stops once the bracket around ``p_star`` is narrower than ``tol``, which must be at
    least :data:`SHORT_CORRIDOR_MIN_TOL` (1e-15): floats cannot form a narrower bracket, so a
    smaller ``tol`` is refused rather than searched for ever.
    """
    gamma = check_gamma(gamma)
    tol = check_positive(tol, "tol")
    if tol < SHORT_CORRIDOR_MIN_TOL:
        raise ValueError(f"tol must be at least {SHORT_CORRIDOR_MIN_TOL:g} (floats near the optimum are about "
                         f"1e-16 apart, so no narrower bracket exists), got {tol:g}")
    if horizon is not None:
        horizon = check_positive_int(horizon, "horizon")
    lo, hi = 1e-9, 1.0 - 1e-9
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    f = lambda x: short_corridor_value(x, gamma, horizon)  # noqa: E731
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = f(c), f(d)
    # each step keeps a fraction `ratio` of the bracket; the cap (and the check that the bracket
    # still shrinks) guarantee termination even where rounding stalls the search
    max_steps = math.ceil(math.log(tol / (hi - lo)) / math.log(ratio)) + 10
    for _ in range(max_steps):
        if hi - lo <= tol:
            break
        width = hi - lo
        if fc > fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = f(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = f(d)
        if not hi - lo < width:
            break
    p_star = 0.5 * (lo + hi)
    return p_star, f(p_star)


# ---------------------------------------------------------------------------------------
# Linear-quadratic regulator
# ---------------------------------------------------------------------------------------
class LinearQuadraticEnv(gymnasium.Env):
    """One-dimensional linear system with quadratic cost, in the book's notation (chapter 11).

    Dynamics ``s' = f_s s + f_a a + xi`` with ``xi ~ N(0, sigma_xi**2)``; start
    ``s_0 ~ N(0, init_std**2)``; reward ``-(c_s s**2 + c_a a**2)`` for the state ``s`` *before*
    the step and the action ``a`` taken.

    Parameters (all settable through ``gymnasium.make(LINEAR_QUADRATIC_ID, f_s=..., ...)``):

    * ``f_s``: state multiplier (default 1.0: left alone, the state drifts like a random walk).
    * ``f_a``: action multiplier (default 1.0, non-zero).
    * ``c_s``: state cost weight (default 1.0, > 0).
    * ``c_a``: action cost weight (default 1.0, > 0).
    * ``sigma_xi``: standard deviation of the process noise xi (default 0.1, >= 0).
    * ``init_std``: standard deviation of the initial state (default 1.0, >= 0).
    * ``max_action``: the action space is ``Box(-max_action, max_action, (1,))`` (default 20);
      actions outside are clipped to it, as gymnasium's Pendulum does.
    * ``max_state``: the observation space is ``Box(-max_state, max_state, (1,))`` (default
      1000); if the state leaves it the system has left its operating range and the episode
      terminates (with that step's reward), so a diverging policy never yields an overflow.
      With the defaults and any stabilising gain neither bound is ever met, so the exact
      formulas of :func:`lq_expected_return` apply.

    Register-time ``TimeLimit``: :data:`LINEAR_QUADRATIC_MAX_STEPS` steps.  Observations and
    actions are float64 arrays of shape (1,).
    """

    metadata = {"render_modes": []}

    def __init__(self, f_s: float = 1.0, f_a: float = 1.0, c_s: float = 1.0, c_a: float = 1.0,
                 sigma_xi: float = 0.1, init_std: float = 1.0, max_action: float = 20.0,
                 max_state: float = 1000.0, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (this environment does not render), got {render_mode!r}")
        self.render_mode = None
        self.f_s, self.f_a, self.c_s, self.c_a = _lq_coefficients(f_s, f_a, c_s, c_a)
        self.sigma_xi = check_nonnegative(sigma_xi, "sigma_xi")
        self.init_std = check_nonnegative(init_std, "init_std")
        self.max_action = check_positive(max_action, "max_action")
        self.max_state = check_positive(max_state, "max_state")
        self.action_space = spaces.Box(-self.max_action, self.max_action, shape=(1,), dtype=np.float64)
        self.observation_space = spaces.Box(-self.max_state, self.max_state, shape=(1,), dtype=np.float64)
        self._s = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        s = self.init_std * self.np_random.standard_normal()
        self._s = float(np.clip(s, -self.max_state, self.max_state))
        return np.array([self._s]), {}

    def step(self, action):
        assert self._s is not None, "Call reset before using step method."
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -self.max_action, self.max_action))
        s = self._s
        reward = -(self.c_s * s * s + self.c_a * a * a)
        s_next = self.f_s * s + self.f_a * a + self.sigma_xi * self.np_random.standard_normal()
        terminated = not (abs(s_next) <= self.max_state)
        self._s = float(np.clip(s_next, -self.max_state, self.max_state))
        return np.array([self._s]), float(reward), bool(terminated), False, {}


def _lq_coefficients(f_s, f_a, c_s, c_a):
    """The four coefficients of the linear-quadratic problem, checked: f_s and f_a finite (f_a non-zero),
    c_s and c_a positive."""
    f_s = check_finite_real(f_s, "f_s")
    f_a = check_finite_real(f_a, "f_a")
    if f_a == 0.0:
        raise ValueError("f_a must be non-zero, otherwise the action has no effect on the state")
    return f_s, f_a, check_positive(c_s, "c_s"), check_positive(c_a, "c_a")


def _lq_args(f_s, f_a, c_s, c_a, gamma):
    return (*_lq_coefficients(f_s, f_a, c_s, c_a), check_gamma(gamma))


def riccati_gain(f_s: float = 1.0, f_a: float = 1.0, c_s: float = 1.0, c_a: float = 1.0, gamma: float = 1.0,
                 horizon: int | None = None, tol: float = 1e-14, max_iter: int = 100_000):
    r"""Optimal feedback gain(s) ``k`` (the optimal policy is ``a = -k s``), by the Riccati
    recursion.

    The optimal cost-to-go is ``c s^2`` (plus a constant from the noise, which does not change
    the gain), so the optimal value is ``-c s^2``.  Going one step back in time,

    .. math::

       c &\leftarrow c_s + \gamma f_s^2 c - \frac{(\gamma f_s f_a c)^2}{c_a + \gamma f_a^2 c}, \\
       k &= \frac{\gamma f_s f_a c}{c_a + \gamma f_a^2 c}.

    * ``horizon=None``: the discounted infinite-horizon problem; iterate from ``c = c_s`` to the
      fixed point ``c*`` and return the stationary gain ``k*`` (a float).  For ``gamma = 1`` this
      needs the system to be controllable (``f_a != 0``, always true here).
    * ``horizon=T``: the finite-horizon problem with T actions; start from ``c = 0`` after the
      last step and return the array ``k[0..T-1]`` of time-varying gains (``k[t]`` is used at
      step t).

    Raises ValueError for bad parameters or if the iteration does not converge.
    """
    f_s, f_a, c_s, c_a, gamma = _lq_args(f_s, f_a, c_s, c_a, gamma)
    tol = check_positive(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    if horizon is not None:
        horizon = check_positive_int(horizon, "horizon")
        c, gains = 0.0, np.empty(horizon)
        for t in range(horizon - 1, -1, -1):
            gains[t] = gamma * f_s * f_a * c / (c_a + gamma * f_a * f_a * c)
            c = c_s + gamma * f_s * f_s * c - (gamma * f_s * f_a * c) ** 2 / (c_a + gamma * f_a * f_a * c)
        return gains
    c = c_s
    for _ in range(max_iter):
        c_new = c_s + gamma * f_s * f_s * c - (gamma * f_s * f_a * c) ** 2 / (c_a + gamma * f_a * f_a * c)
        if abs(c_new - c) <= tol * max(1.0, abs(c)):
            c = c_new
            break
        c = c_new
    else:
        raise ValueError(f"the Riccati iteration did not converge in max_iter={max_iter} steps; "
                         "check f_s, f_a, gamma")
    return gamma * f_s * f_a * c / (c_a + gamma * f_a * f_a * c)


def riccati_value(f_s: float = 1.0, f_a: float = 1.0, c_s: float = 1.0, c_a: float = 1.0,
                  gamma: float = 1.0) -> float:
    """The coefficient ``c*`` of the optimal discounted infinite-horizon cost-to-go ``c* s^2`` (noise-free
    part), computed from the Riccati gain ``k*`` as the cost of the closed loop ``s' = (f_s - f_a k*) s``."""
    f_s, f_a, c_s, c_a, gamma = _lq_args(f_s, f_a, c_s, c_a, gamma)
    k = riccati_gain(f_s, f_a, c_s, c_a, gamma)
    closed = f_s - f_a * k
    return (c_s + c_a * k * k) / (1.0 - gamma * closed * closed)


def lq_expected_return(k, sigma=0.0, f_s: float = 1.0, f_a: float = 1.0, c_s: float = 1.0, c_a: float = 1.0,
                       sigma_xi: float = 0.1, init_std: float = 1.0, gamma: float = 1.0,
                       horizon: int | None = LINEAR_QUADRATIC_MAX_STEPS):
    r"""Exact expected discounted return of the policy ``a = -k s + sigma * eps``,
    ``eps ~ N(0, 1)``.

    Only the second moment ``m_t = E[s_t^2]`` matters (everything has mean zero):
    ``m_0 = init_std^2`` and ``m_{t+1} = (f_s - f_a k)^2 m_t + f_a^2 sigma^2 + sigma_xi^2``; step
    t costs ``E[c_s s_t^2 + c_a a_t^2] = (c_s + c_a k^2) m_t + c_a sigma^2``.  So

    .. math::

       J(k, \sigma) = -\sum_{t=0}^{T-1} \gamma^t \big[(c_s + c_a k^2) m_t + c_a\sigma^2\big].

    ``horizon=T`` (default: the env's TimeLimit) sums T steps; ``horizon=None`` sums to
    infinity in closed form (``-inf`` when ``gamma (f_s - f_a k)^2 >= 1`` or when ``gamma = 1``).
    ``k`` may be an array (the result then has its shape).  The formula ignores the env's
    clipping bounds, which a stabilising policy practically never reaches.
    """
    f_s, f_a, c_s, c_a, gamma = _lq_args(f_s, f_a, c_s, c_a, gamma)
    k = check_finite(k, "k")
    sigma = check_nonnegative(sigma, "sigma")
    sigma_xi = check_nonnegative(sigma_xi, "sigma_xi")
    init_std = check_nonnegative(init_std, "init_std")
    rho = (f_s - f_a * k) ** 2
    cost_s = c_s + c_a * k * k
    drive = f_a * f_a * sigma * sigma + sigma_xi * sigma_xi
    if horizon is not None:
        horizon = check_positive_int(horizon, "horizon")
        m = np.full(k.shape, init_std * init_std)
        total = np.zeros(k.shape)
        for t in range(horizon):
            total = total + gamma**t * (cost_s * m + c_a * sigma * sigma)
            m = rho * m + drive
        out = -total
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            stable = (gamma * rho < 1.0) & (gamma < 1.0)
            # sum_t gamma^t m_t with m_t = rho^t m0 + drive (1 - rho^t) / (1 - rho)
            discounted_m = init_std**2 / (1 - gamma * rho) + gamma * drive / ((1 - gamma) * (1 - gamma * rho))
            out = np.where(stable, -(cost_s * discounted_m + c_a * sigma * sigma / (1 - gamma)), -np.inf)
    return float(out) if np.ndim(out) == 0 else out



# ---------------------------------------------------------------------------------------
# Native vector versions (numpy over the batch; used by gymnasium.make_vec(..., "vector_entry_point"))
# ---------------------------------------------------------------------------------------
class _NumpyVectorEnv(VectorEnv):
    """Shared bookkeeping of the two vector environments: step counters, TimeLimit and
    gymnasium's next-step autoreset (the step after an episode ends ignores that sub-environment's
    action, starts a new episode and returns reward 0, terminated = truncated = False)."""

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def _setup(self, num_envs, max_episode_steps, single_obs, single_act):
        self.num_envs = check_positive_int(num_envs, "num_envs")
        self.max_episode_steps = check_positive_int(max_episode_steps, "max_episode_steps")
        self.single_observation_space = single_obs
        self.single_action_space = single_act
        self.observation_space = batch_space(single_obs, self.num_envs)
        self.action_space = batch_space(single_act, self.num_envs)
        self.render_mode = None
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        self._state = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state = self._initial(self.num_envs)
        self._steps[:] = 0
        self._prev_done[:] = False
        return self._obs(), {}

    def step(self, actions):
        assert self._state is not None, "Call reset before using step method."
        reward, terminated = self._advance(actions)
        self._steps += 1
        truncated = (self._steps >= self.max_episode_steps) & ~terminated
        done = self._prev_done
        if done.any():  # the autoreset step
            self._state[done] = self._initial(int(done.sum()))
            self._steps[done] = 0
            reward[done] = 0.0
            terminated[done] = False
            truncated[done] = False
        self._prev_done = terminated | truncated
        return self._obs(), reward, terminated, truncated, {}


class ShortCorridorVectorEnv(_NumpyVectorEnv):
    """``num_envs`` short corridors stepped at once (same rules as :class:`ShortCorridorEnv`)."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = SHORT_CORRIDOR_MAX_STEPS,
                 render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode must be None for the vector short corridor, got {render_mode!r}")
        self._setup(num_envs, max_episode_steps, spaces.Discrete(1), spaces.Discrete(2))

    def _initial(self, n):
        return np.zeros(n, dtype=np.int64)

    def _obs(self):
        return np.zeros(self.num_envs, dtype=np.int64)

    def _advance(self, actions):
        assert self.action_space.contains(np.asarray(actions, dtype=np.int64)), f"{actions!r} invalid: the actions are 0 (left) and 1 (right)"
        right = (np.asarray(actions) == 1) ^ (self._state == 1)  # switched in cell 1
        self._state = np.where(right, np.minimum(self._state + 1, _GOAL), np.maximum(self._state - 1, 0))
        return -np.ones(self.num_envs), self._state == _GOAL


class LinearQuadraticVectorEnv(_NumpyVectorEnv):
    """``num_envs`` copies of :class:`LinearQuadraticEnv` stepped at once (same parameters and rules)."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = LINEAR_QUADRATIC_MAX_STEPS, **params):
        self.params = LinearQuadraticEnv(**params)  # validates the parameters once
        p = self.params
        self._setup(num_envs, max_episode_steps, p.observation_space, p.action_space)

    def _initial(self, n):
        p = self.params
        return np.clip(p.init_std * self.np_random.standard_normal(n), -p.max_state, p.max_state)

    def _obs(self):
        return self._state[:, None].copy()

    def _advance(self, actions):
        p = self.params
        a = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs), -p.max_action, p.max_action)
        s = self._state
        reward = -(p.c_s * s * s + p.c_a * a * a)
        s_next = p.f_s * s + p.f_a * a + p.sigma_xi * self.np_random.standard_normal(self.num_envs)
        terminated = ~(np.abs(s_next) <= p.max_state)
        self._state = np.clip(s_next, -p.max_state, p.max_state)
        return reward, terminated



# ---------------------------------------------------------------------------------------
# Registration (once, on `import pgbook`)
# ---------------------------------------------------------------------------------------
def register_envs() -> None:
    """Register both environments with gymnasium; calling it again does nothing."""
    if SHORT_CORRIDOR_ID not in gymnasium.registry:
        gymnasium.register(id=SHORT_CORRIDOR_ID, entry_point="pgbook.envs:ShortCorridorEnv",
                           vector_entry_point="pgbook.envs:ShortCorridorVectorEnv",
                           max_episode_steps=SHORT_CORRIDOR_MAX_STEPS)
    if LINEAR_QUADRATIC_ID not in gymnasium.registry:
        gymnasium.register(id=LINEAR_QUADRATIC_ID, entry_point="pgbook.envs:LinearQuadraticEnv",
                           vector_entry_point="pgbook.envs:LinearQuadraticVectorEnv",
                           max_episode_steps=LINEAR_QUADRATIC_MAX_STEPS)


register_envs()
