r"""Small tabular MDPs where everything can be computed exactly.

The episode model used everywhere in the book (and by :func:`sample_trajectories`):

* :math:`s_0 \sim \mu_0`; at steps :math:`t = 0, \dots, T-1` (``T = horizon``), if :math:`s_t` is
  not terminal the agent draws :math:`a_t \sim \pi(\cdot\mid s_t)`, the environment draws
  :math:`s_{t+1} \sim P(\cdot\mid s_t, a_t)` and pays :math:`r_t = R(s_t, a_t, s_{t+1})`.
* A terminal state is absorbing: once there, no action is taken and no reward is paid
  (``mask`` is False for those steps).  After ``T`` actions the episode is cut off (this is
  gymnasium's ``TimeLimit``).
* The objective is :math:`J = \mathbb E\big[\sum_{t=0}^{T-1}\gamma^t r_t\big]`.

Exact quantities (:func:`J_exact`, :func:`grad_J_exact`) use finite-horizon, time-dependent
value functions :math:`V_t, Q_t` and state distributions :math:`d_t`; :func:`J_by_enumeration`
sums over every trajectory, an independent route to the same number.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import (ArgumentTypeError, check_bool, check_finite, check_gamma, check_positive, check_positive_int,
                        check_probabilities, check_real_array, check_rng, check_shape,
                        check_mdp, check_policy_table, check_policy_theta)
from .episodes import Episodes
from .estimators import discounted_return
from .policies import sample_categorical

__all__ = [
    "TabularMDP",
    "tiny_mdp",
    "frozen_lake_mdp",
    "from_toy_text",
    "policy_table",
    "score_table",
    "value_functions",
    "optimal_values",
    "state_distributions",
    "enumerate_trajectories",
    "J_by_enumeration",
    "J_exact",
    "grad_J_exact",
    "discounted_values",
    "discounted_visitation",
    "grad_J_theorem",
    "stationary_J",
    "optimal_stationary_J",
    "sample_trajectories",
    "log_prob_trajectory",
    "gymnasium_returns",
]

#: Default cap on the number of enumerated trajectories.
MAX_TRAJECTORIES = 200_000


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite-horizon tabular MDP.

    Fields: ``P`` (S, A, S) transition probabilities :math:`P(s'\\mid s,a)`; ``R`` (S, A, S) reward
    paid on the transition :math:`s \\xrightarrow{a} s'`; ``mu0`` (S,) initial distribution;
    ``gamma`` in [0, 1]; ``horizon`` T, the maximum number of actions per episode; ``terminal`` (S,)
    bool, absorbing states where the episode ends; optional ``name``.
    Raises ValueError naming the field when any of them is malformed.
    """

    P: np.ndarray
    R: np.ndarray
    mu0: np.ndarray
    gamma: float
    horizon: int
    terminal: np.ndarray | None = None
    name: str = "mdp"

    def __post_init__(self):
        P = check_finite(self.P, "P")
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] < 1 or P.shape[1] < 1:
            raise ValueError(f"P must have shape (n_states, n_actions, n_states), got {P.shape}")
        S, A, _ = P.shape
        check_probabilities(P, "P", axis=-1)
        R = check_finite(check_shape(self.R, (S, A, S), "R"), "R")
        mu0 = check_probabilities(check_shape(self.mu0, (S,), "mu0"), "mu0")
        gamma = check_gamma(self.gamma)
        horizon = check_positive_int(self.horizon, "horizon")
        if not isinstance(self.name, str):
            raise ArgumentTypeError(f"name must be a string, got {type(self.name).__name__}")
        if self.terminal is None:
            terminal = np.zeros(S, dtype=bool)
        else:
            terminal = np.asarray(check_shape(self.terminal, (S,), "terminal"))
            if terminal.dtype != bool:
                if not np.all(np.isin(terminal, (0, 1))):
                    raise ValueError("terminal must be a boolean array of shape (n_states,)")
                terminal = terminal.astype(bool)
        for field, value in (("P", P), ("R", R), ("mu0", mu0), ("terminal", terminal)):
            value = np.array(value, copy=True)
            value.setflags(write=False)
            object.__setattr__(self, field, value)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "horizon", horizon)

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    @property
    def expected_reward(self) -> np.ndarray:
        """:math:`r(s,a) = \\sum_{s'} P(s'\\mid s,a) R(s,a,s')`, shape (S, A)."""
        return np.einsum("sap,sap->sa", self.P, self.R)

    def replace(self, **changes) -> "TabularMDP":
        """A copy with some fields changed (e.g. ``mdp.replace(gamma=0.5)``), validated again."""
        fields = dict(P=self.P, R=self.R, mu0=self.mu0, gamma=self.gamma, horizon=self.horizon,
                      terminal=self.terminal, name=self.name)
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"unknown TabularMDP field(s): {sorted(unknown)}")
        fields.update(changes)
        return TabularMDP(**fields)


# ---------------------------------------------------------------------------------------------
# Constructors
# ---------------------------------------------------------------------------------------------

def tiny_mdp(gamma: float = 0.9, horizon: int = 3) -> TabularMDP:
    """The book's teaching MDP: two states, two actions, stochastic dynamics.

    State 0 ("home") and state 1 ("field").  Action 0 ("work") and action 1 ("travel").

    * home, work: earn 1; stay home with prob 0.9, otherwise drift to the field.
    * home, travel: earn nothing; reach the field with prob 0.8, otherwise stay home.
    * field, work: earn 3 when the harvest holds (stay in the field, prob 0.75), else 0 and
      fall back home (prob 0.25).
    * field, travel: earn 0.5 to go home (prob 0.7), else stay in the field with nothing.

    Episodes start at home with prob 0.8 (field 0.2) and last ``horizon`` steps (no terminal
    states), so there are at most :math:`2 \\cdot 4^T` trajectories.  Travelling costs a step but
    the field pays more: with ``horizon=1`` the best policy always works, with ``horizon=5`` it
    travels from home and works in the field; at ``horizon=3`` the two nearly tie, and
    :math:`J(\\theta)` is not concave in the logits.
    """
    P = np.array([
        [[0.9, 0.1], [0.2, 0.8]],
        [[0.25, 0.75], [0.7, 0.3]],
    ])
    R = np.array([
        [[1.0, 1.0], [0.0, 0.0]],
        [[0.0, 3.0], [0.5, 0.0]],
    ])
    return TabularMDP(P=P, R=R, mu0=np.array([0.8, 0.2]), gamma=gamma, horizon=horizon,
                      terminal=np.zeros(2, dtype=bool), name="tiny")


def from_toy_text(env, gamma: float, horizon: int | None = None, name: str | None = None) -> TabularMDP:
    """A :class:`TabularMDP` from a gymnasium toy-text environment's transition table.

    ``env.unwrapped.P[s][a]`` is a list of ``(prob, next_state, reward, terminated)``; entries
    with the same next state are merged (rewards probability-weighted).  States entered with
    ``terminated=True`` are terminal.  ``mu0`` is ``env.unwrapped.initial_state_distrib``.
    ``horizon`` defaults to the environment's ``TimeLimit`` (``env.spec.max_episode_steps``).
    """
    base = getattr(env, "unwrapped", None)
    if not hasattr(base, "P"):
        raise ValueError("env must be a gymnasium toy-text environment with a transition table env.unwrapped.P")
    S, A = int(base.observation_space.n), int(base.action_space.n)
    P = np.zeros((S, A, S))
    PR = np.zeros((S, A, S))
    terminal = np.zeros(S, dtype=bool)
    for s in range(S):
        for a in range(A):
            for prob, s2, r, done in base.P[s][a]:
                P[s, a, s2] += prob
                PR[s, a, s2] += prob * r
                if done:
                    terminal[s2] = True
    R = np.divide(PR, P, out=np.zeros_like(PR), where=P > 0)
    if horizon is None:
        spec = getattr(env, "spec", None)
        horizon = getattr(spec, "max_episode_steps", None)
        if horizon is None:
            raise ValueError("horizon must be given: the environment has no TimeLimit (spec.max_episode_steps)")
    mu0 = np.asarray(getattr(base, "initial_state_distrib", np.eye(S)[0]), dtype=float)
    if name is None:
        name = getattr(getattr(env, "spec", None), "id", "toy_text")
    return TabularMDP(P=P, R=R, mu0=mu0, gamma=gamma, horizon=horizon, terminal=terminal, name=name)


def frozen_lake_mdp(map_name: str = "4x4", is_slippery: bool = True, gamma: float = 0.99,
                    horizon: int | None = None) -> TabularMDP:
    """FrozenLake as a :class:`TabularMDP`, built from gymnasium's own transition table.

    ``map_name`` "4x4" (gymnasium id ``FrozenLake-v1``, time limit 100) or "8x8"
    (``FrozenLake8x8-v1``, time limit 200).  Holes and the goal are terminal; reaching the
    goal pays 1.  ``horizon`` defaults to the time limit, so the exact J describes the very
    episodes ``gymnasium.make`` produces (with the discount ``gamma`` applied to step t's reward).
    """
    import gymnasium as gym

    ids = {"4x4": "FrozenLake-v1", "8x8": "FrozenLake8x8-v1"}
    if map_name not in ids:
        raise ValueError(f"map_name must be '4x4' or '8x8', got {map_name!r}")
    env = gym.make(ids[map_name], is_slippery=check_bool(is_slippery, "is_slippery"))
    try:
        return from_toy_text(env, gamma=gamma, horizon=horizon,
                             name=f"FrozenLake {map_name}{'' if is_slippery else ' (not slippery)'}")
    finally:
        env.close()


# ---------------------------------------------------------------------------------------------
# Exact computations
# ---------------------------------------------------------------------------------------------

def policy_table(mdp: TabularMDP, policy, theta) -> np.ndarray:
    """The (S, A) table :math:`\\pi_\\theta(a\\mid s)` of a policy that accepts integer states."""
    check_mdp(mdp)
    theta = check_policy_theta(policy, theta, ("probs",))
    return np.asarray(policy.probs(theta, np.arange(mdp.n_states)), dtype=float)


def score_table(mdp: TabularMDP, policy, theta) -> np.ndarray:
    """:math:`\\nabla_\\theta\\log\\pi_\\theta(a\\mid s)` at every state and action, shape ``(S, A, *theta_shape)``."""
    check_mdp(mdp)
    theta = check_policy_theta(policy, theta, ("score",))
    states, actions = np.meshgrid(np.arange(mdp.n_states), np.arange(mdp.n_actions), indexing="ij")
    return policy.score(theta, states, actions)


def value_functions(mdp: TabularMDP, pi):
    """Finite-horizon values under the policy table ``pi`` (S, A).

    Returns ``V`` (T+1, S) and ``Q`` (T, S, A) with :math:`V_T = 0`,
    :math:`Q_t(s,a) = \\sum_{s'} P(s'\\mid s,a)\\,[R(s,a,s') + \\gamma V_{t+1}(s')]`,
    :math:`V_t(s) = \\sum_a \\pi(a\\mid s) Q_t(s,a)`, and both zero at terminal states.
    :math:`V_t(s)` is the expected discounted reward from step t on, discounted from t.
    """
    mdp = check_mdp(mdp)
    pi = check_policy_table(mdp, pi)
    T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    live = ~mdp.terminal
    r = mdp.expected_reward
    P2 = mdp.P.reshape(S * A, S)                                 # one matrix-vector product per step
    V = np.zeros((T + 1, S))
    Q = np.zeros((T, S, A))
    for t in range(T - 1, -1, -1):
        Q[t] = (r + mdp.gamma * (P2 @ V[t + 1]).reshape(S, A)) * live[:, None]
        V[t] = (pi * Q[t]).sum(axis=1)
    return V, Q


def state_distributions(mdp: TabularMDP, pi) -> np.ndarray:
    """:math:`d_t(s)`, the probability that at step t the episode is running and in state s.

    Shape (T, S); terminal states get 0 (no action is taken there).
    """
    mdp = check_mdp(mdp)
    pi = check_policy_table(mdp, pi)
    live = ~mdp.terminal
    M = np.einsum("sa,sap->sp", pi, mdp.P)          # state-to-state kernel under pi
    d = np.zeros((mdp.horizon, mdp.n_states))
    d[0] = mdp.mu0 * live
    for t in range(1, mdp.horizon):
        d[t] = (d[t - 1] @ M) * live
    return d


def J_exact(mdp: TabularMDP, pi) -> float:
    """:math:`J = \\sum_s \\mu_0(s) V_0(s)` by finite-horizon policy evaluation (pi: (S, A) table)."""
    V, _ = value_functions(mdp, pi)
    return float(mdp.mu0 @ V[0])


def grad_J_exact(mdp: TabularMDP, policy, theta, discount_weighting: bool = True) -> np.ndarray:
    """Analytic :math:`\\nabla_\\theta J` by the finite-horizon policy gradient theorem.

    :math:`\\nabla J = \\sum_{t=0}^{T-1}\\gamma^t \\sum_s d_t(s) \\sum_a \\pi(a\\mid s)\\,
    \\nabla\\log\\pi(a\\mid s)\\, Q_t(s,a)`, using the policy's analytic ``score`` (the policy must
    accept integer states).  Returns an array of ``policy.theta_shape``.

    With ``discount_weighting=False`` the factor :math:`\\gamma^t` is dropped: the result is then the
    exact expectation of the common estimator :math:`\\sum_t \\nabla\\log\\pi(a_t\\mid s_t)\\,G_t`,
    which for :math:`\\gamma < 1` is *not* the gradient of :math:`J` (Nota and Thomas, 2020).
    """
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    discount_weighting = check_bool(discount_weighting, "discount_weighting")
    pi = policy_table(mdp, policy, theta)
    _, Q = value_functions(mdp, pi)
    d = state_distributions(mdp, pi)
    disc = mdp.gamma ** np.arange(mdp.horizon) if discount_weighting else np.ones(mdp.horizon)
    weight = np.einsum("t,ts,tsa->sa", disc, d, Q) * pi          # (S, A)
    return np.tensordot(weight, score_table(mdp, policy, theta), axes=([0, 1], [0, 1]))


# ---------------------------------------------------------------------------------------------
# The stationary (no time limit) problem: the policy gradient theorem
# ---------------------------------------------------------------------------------------------

def _observed(mdp: TabularMDP, policy, theta, observe):
    """``(pi, score)`` at every state, the policy seeing ``observe[s]`` in state s."""
    if observe is None:
        return policy_table(mdp, policy, theta), score_table(mdp, policy, theta)
    obs = np.asarray(check_shape(check_real_array(observe, "observe"), (mdp.n_states,), "observe"))
    if np.any(obs != np.round(obs)) or np.any(obs < 0):
        raise ValueError("observe must hold one non-negative integer observation per state")
    obs = obs.astype(np.int64)
    theta = check_policy_theta(policy, theta)
    pi = np.asarray(policy.probs(theta, obs), dtype=float)
    o_grid, a_grid = np.meshgrid(obs, np.arange(mdp.n_actions), indexing="ij")
    return pi, policy.score(theta, o_grid, a_grid)


def _live_kernel(mdp: TabularMDP, pi) -> np.ndarray:
    """:math:`P_\\pi` among live states: row s is zero when s is terminal, and so is column s."""
    live = (~mdp.terminal).astype(float)
    return live[:, None] * np.einsum("sa,sap->sp", pi, mdp.P) * live[None, :]


def _solve(A: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    if np.linalg.cond(A) > 1e12:
        raise ValueError(f"{what}: the linear system is singular (gamma = 1 and a policy that may never "
                         f"reach a terminal state); use gamma < 1 or a proper policy")
    return np.linalg.solve(A, b)


def discounted_values(mdp: TabularMDP, pi):
    """Stationary values ``(V, Q)`` of the episodic problem *without* a time limit.

    Terminal states are absorbing and worth 0; the horizon is ignored.  One linear solve,
    :math:`V = r_\\pi + \\gamma P_\\pi V` on the live states, then
    :math:`Q(s,a) = \\sum_{s'} P(s'\\mid s,a)[R(s,a,s') + \\gamma V(s')]` (zero at terminal states).
    Shapes (S,) and (S, A).  Needs ``gamma < 1`` or a proper policy (one that reaches a
    terminal state with probability 1); raises ValueError when the system is singular.
    It is the limit of :func:`value_functions`' ``V[0]``, ``Q[0]`` as the horizon grows.
    """
    mdp = check_mdp(mdp)
    pi = check_policy_table(mdp, pi)
    live = ~mdp.terminal
    r = mdp.expected_reward * live[:, None]
    r_pi = (pi * r).sum(axis=1)
    V = _solve(np.eye(mdp.n_states) - mdp.gamma * _live_kernel(mdp, pi), r_pi, "discounted_values")
    V = V * live
    Q = (r + mdp.gamma * (mdp.P @ V)) * live[:, None]
    return V, Q


def discounted_visitation(mdp: TabularMDP, pi) -> np.ndarray:
    """The discounted state-visitation measure of the problem without a time limit, shape (S,).

    :math:`d^\\pi(s) = \\sum_{t\\ge 0}\\gamma^t \\Pr(s_t = s,\\ \\text{episode running})
    = \\mu_0^\\top (I - \\gamma P_\\pi^{\\text{live}})^{-1}` (zero at terminal states).  It is
    not a probability distribution: it sums to :math:`\\sum_t \\gamma^t \\Pr(\\text{running at } t)`,
    the expected discounted number of actions taken (at most :math:`1/(1-\\gamma)`).  It is the
    limit of :math:`\\sum_{t<T}\\gamma^t d_t` (:func:`state_distributions`) as the horizon grows.
    Same conditions as :func:`discounted_values`.
    """
    mdp = check_mdp(mdp)
    pi = check_policy_table(mdp, pi)
    live = ~mdp.terminal
    A = np.eye(mdp.n_states) - mdp.gamma * _live_kernel(mdp, pi)
    return _solve(A.T, mdp.mu0 * live, "discounted_visitation") * live


def grad_J_theorem(mdp: TabularMDP, policy, theta, observe=None) -> np.ndarray:
    """The policy gradient theorem of the problem without a time limit.

    :math:`\\nabla J = \\sum_s d^\\pi(s) \\sum_a \\pi(a\\mid s)\\,\\nabla\\log\\pi(a\\mid s)\\,Q^\\pi(s,a)`
    with :func:`discounted_visitation` and :func:`discounted_values`.  Returns an array of
    ``policy.theta_shape``.  It equals :func:`grad_J_exact` of ``mdp.replace(horizon=H)`` in the
    limit of large H (the gap is of order :math:`\\gamma^H`).

    ``observe`` (S,) integers, optional: the policy sees observation ``observe[s]`` in state s
    (aliased states share one); the score is taken at the observation, the visitation and the
    values at the state.  None: the policy sees the state itself.
    """
    mdp = check_mdp(mdp)
    pi, score = _observed(mdp, policy, theta, observe)
    _, Q = discounted_values(mdp, pi)
    d = discounted_visitation(mdp, pi)
    return np.tensordot(d[:, None] * pi * Q, score, axes=([0, 1], [0, 1]))


def stationary_J(mdp: TabularMDP, policy, theta) -> float:
    """:math:`J(\\theta) = \\sum_s \\mu_0(s) V^{\\pi_\\theta}(s)`, the objective of the problem without a
    time limit (:func:`discounted_values`), whose gradient is :func:`grad_J_theorem`."""
    mdp = check_mdp(mdp)
    V, _ = discounted_values(mdp, policy_table(mdp, policy, theta))
    return float(mdp.mu0 @ V)


def enumerate_trajectories(mdp: TabularMDP, pi, max_trajectories: int = MAX_TRAJECTORIES) -> Episodes:
    """Every trajectory with non-zero dynamics probability, with its probability under ``pi``.

    Branches over every action and every next state with :math:`P(s'\\mid s,a) > 0`; an
    episode that reaches a terminal state stops branching (padding: same state, action 0,
    reward 0, mask False).  Returns :class:`pgbook.episodes.Episodes` with arrays of shape
    (N, T), ``next_states`` and ``prob`` (N,), the probabilities, which sum to 1.  Raises
    ValueError (naming ``horizon``) if there would be more than ``max_trajectories`` trajectories.
    """
    mdp = check_mdp(mdp)
    pi = check_policy_table(mdp, pi)
    max_trajectories = check_positive_int(max_trajectories, "max_trajectories")
    T = mdp.horizon
    s0 = np.nonzero(mdp.mu0 > 0)[0]
    states = s0[:, None]
    prob = mdp.mu0[s0]
    actions = np.zeros((len(s0), 0), dtype=np.int64)
    rewards = np.zeros((len(s0), 0))
    mask = np.zeros((len(s0), 0), dtype=bool)
    for t in range(T):
        s = states[:, -1]
        live = ~mdp.terminal[s]
        # children of each live trajectory: (a, s2) with P > 0
        ok = mdp.P[s] > 0                                         # (N, A, S)
        n_children = np.where(live, ok.reshape(len(s), -1).sum(1), 1)
        total = int(n_children.sum())
        if total > max_trajectories:
            raise ValueError(f"horizon={T} is too long to enumerate: step {t} alone would need {total} "
                             f"trajectories (> max_trajectories={max_trajectories}); use a shorter horizon")
        parent = np.repeat(np.arange(len(s)), n_children)
        a_new = np.zeros(total, dtype=np.int64)
        s_new = s[parent].copy()
        p_step = np.ones(total)
        r_new = np.zeros(total)
        m_new = np.zeros(total, dtype=bool)
        live_idx = np.nonzero(live)[0]
        if live_idx.size:
            li, ai, si = np.nonzero(ok[live_idx])
            rows = live_idx[li]
            # positions of live children inside the repeated array, in order
            pos = np.nonzero(live[parent])[0]
            a_new[pos] = ai
            s_new[pos] = si
            sp = s[rows]
            p_step[pos] = pi[sp, ai] * mdp.P[sp, ai, si]
            r_new[pos] = mdp.R[sp, ai, si]
            m_new[pos] = True
        states = np.concatenate([states[parent], s_new[:, None]], axis=1)
        actions = np.concatenate([actions[parent], a_new[:, None]], axis=1)
        rewards = np.concatenate([rewards[parent], r_new[:, None]], axis=1)
        mask = np.concatenate([mask[parent], m_new[:, None]], axis=1)
        prob = prob[parent] * p_step
    return Episodes(states=states[:, :-1], actions=actions, rewards=rewards, mask=mask,
                    next_states=states[:, 1:], prob=prob)


def J_by_enumeration(mdp: TabularMDP, pi, max_trajectories: int = MAX_TRAJECTORIES) -> float:
    """:math:`J = \\sum_\\tau P(\\tau) R(\\tau)` by listing every trajectory."""
    enum = enumerate_trajectories(mdp, pi, max_trajectories=max_trajectories)
    return float(enum.expectation(discounted_return(enum.rewards, mdp.gamma, enum.mask)))


# ---------------------------------------------------------------------------------------------
# Sampling (the learner's view) and trajectory log-probabilities
# ---------------------------------------------------------------------------------------------

def sample_trajectories(mdp: TabularMDP, policy, theta, n: int, rng: np.random.Generator) -> Episodes:
    """Sample ``n`` episodes at once (vectorised over episodes, a loop over time steps).

    The policy only sees states; the dynamics ``P`` are read here solely to simulate the
    environment.  Returns :class:`pgbook.episodes.Episodes` with arrays of shape (n, T) and
    ``next_states``.
    """
    mdp = check_mdp(mdp)
    n = check_positive_int(n, "n")
    check_rng(rng)
    theta = check_policy_theta(policy, theta, ("sample",))
    T = mdp.horizon
    table = policy.table(theta) if hasattr(policy, "table") else None
    s = sample_categorical(np.broadcast_to(mdp.mu0, (n, mdp.n_states)), rng)
    # padding (after an episode ends): stay in the final state, action 0, reward 0, mask False
    states = np.zeros((n, T), dtype=np.int64)
    actions = np.zeros((n, T), dtype=np.int64)
    rewards = np.zeros((n, T))
    mask = np.zeros((n, T), dtype=bool)
    current = s.copy()                                           # every episode's current state
    live = np.nonzero(~mdp.terminal[current])[0]                 # indices of running episodes
    for t in range(T):
        states[:, t] = current
        if live.size == 0:
            continue
        s = current[live]
        if table is not None:
            a = sample_categorical(table[s], rng)
        else:
            a = np.asarray(policy.sample(theta, s, rng), dtype=np.int64)
        s2 = sample_categorical(mdp.P[s, a], rng)               # the environment's draw
        actions[live, t] = a
        rewards[live, t] = mdp.R[s, a, s2]
        mask[live, t] = True
        current[live] = s2
        live = live[~mdp.terminal[s2]]
    next_states = np.concatenate([states[:, 1:], current[:, None]], axis=1)
    return Episodes(states=states, actions=actions, rewards=rewards, mask=mask, next_states=next_states)


def log_prob_trajectory(mdp: TabularMDP, policy, theta, traj) -> np.ndarray:
    """Full :math:`\\log P(\\tau\\mid\\theta) = \\log\\mu_0(s_0) + \\sum_t [\\log\\pi_\\theta(a_t\\mid s_t)
    + \\log P(s_{t+1}\\mid s_t, a_t)]` over the steps where an action was taken, shape (n,).

    ``traj`` is an :class:`pgbook.episodes.Episodes` with ``next_states`` (sampled or enumerated).
    """
    mdp = check_mdp(mdp)
    if not isinstance(traj, Episodes) or traj.next_states is None:
        raise ArgumentTypeError(f"traj must be Episodes with next_states (from sample_trajectories or "
                                f"enumerate_trajectories), got {type(traj).__name__}")
    theta = check_policy_theta(policy, theta, ("log_prob",))
    s, s2 = traj.states, traj.next_states
    a, m = np.asarray(traj.actions), np.asarray(traj.mask, dtype=bool)
    logpi = policy.log_prob(theta, s, a)
    with np.errstate(divide="ignore"):
        logP = np.log(mdp.P[s, a, s2])
        log_mu0 = np.log(mdp.mu0[s[:, 0]])
    return log_mu0 + np.where(m, logpi + logP, 0.0).sum(axis=1)


def gymnasium_returns(env, policy, theta, n: int, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """Discounted returns :math:`\\sum_t \\gamma^t r_t` of ``n`` episodes run in a gymnasium
    environment itself (``env.reset(seed=...)``, 5-value ``step``) with a policy over integer states.

    An independent check that a :class:`TabularMDP` built by :func:`from_toy_text` describes the
    process gymnasium samples: their mean should match :func:`J_exact` (same ``gamma``; the
    environment's ``TimeLimit`` plays the role of the horizon).  A plain loop: use small ``n``.
    """
    n = check_positive_int(n, "n")
    gamma = check_gamma(gamma)
    check_rng(rng)
    if not (callable(getattr(env, "reset", None)) and callable(getattr(env, "step", None))):
        raise ArgumentTypeError(f"env must be a gymnasium environment (with reset and step), got {type(env).__name__}")
    theta = check_policy_theta(policy, theta, ("sample",))
    returns = np.zeros(n)
    for i in range(n):
        s, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        discount, done = 1.0, False
        while not done:
            a = int(policy.sample(theta, np.asarray(s), rng))
            s, r, terminated, truncated, _ = env.step(a)
            returns[i] += discount * float(r)
            discount *= gamma
            done = terminated or truncated
    return returns


def optimal_values(mdp: TabularMDP):
    r"""Finite-horizon value iteration: ``(V_star, greedy)``.

    ``V_star`` (T+1, S) with :math:`V^\star_T = 0` and

    .. math::

       V^\star_t(s) = \max_a \sum_{s'} P(s'\mid s,a)\,[R(s,a,s') + \gamma V^\star_{t+1}(s')]

    (zero at terminal states); ``greedy`` (T, S) the maximising action at each step.  The best
    achievable objective is ``mdp.mu0 @ V_star[0]``: no policy, stationary or not, does better.
    """
    mdp = check_mdp(mdp)
    T, S = mdp.horizon, mdp.n_states
    live = ~mdp.terminal
    r = mdp.expected_reward
    V = np.zeros((T + 1, S))
    greedy = np.zeros((T, S), dtype=np.int64)
    for t in range(T - 1, -1, -1):
        Q = (r + mdp.gamma * mdp.P @ V[t + 1]) * live[:, None]
        greedy[t] = Q.argmax(axis=1)
        V[t] = Q.max(axis=1)
    return V, greedy


def optimal_stationary_J(mdp, tol: float = 1e-12, max_iterations: int = 100_000) -> float:
    """The best stationary objective :math:`\\mu_0^\\top V^\\star` without a time limit, by value
    iteration until the largest change is below ``tol``; needs ``gamma < 1``."""
    mdp = check_mdp(mdp)
    if not mdp.gamma < 1:
        raise ValueError(f"optimal_stationary_J needs gamma < 1, got gamma = {mdp.gamma}")
    tol = check_positive(tol, "tol")
    live = ~mdp.terminal
    r = mdp.expected_reward * live[:, None]
    V = np.zeros(mdp.n_states)
    for _ in range(check_positive_int(max_iterations, "max_iterations")):
        V_new = ((r + mdp.gamma * mdp.P @ V) * live[:, None]).max(axis=1)
        if np.abs(V_new - V).max() < tol:
            return float(mdp.mu0 @ V_new)
        V = V_new
    raise ValueError(f"value iteration did not converge in {max_iterations} iterations")
