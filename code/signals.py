r"""The weights :math:`\Psi_t` that may multiply the score, and the loss that deep-learning code minimises.

Every estimator of chapters 4 to 13 has the form
:math:`\hat g = \frac1n\sum_i \sum_t w_t\,\nabla_\theta\log\pi_\theta(a_t\mid s_t)\,\Psi_t`
(:func:`pgbook.estimators.policy_gradient_samples`).  This module forms the other weights
:math:`\Psi_t` of the family, at every step of a batch of :class:`pgbook.episodes.Episodes` of a
tabular MDP: the action value :math:`Q^\pi(s_t,a_t)` (:func:`q_signal`), the advantage
:math:`A^\pi = Q^\pi - V^\pi` (:func:`advantage_signal`), the TD residual
:math:`\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)` (:func:`td_residuals`) and a state baseline
:math:`V(s_t)` (:func:`state_baseline`).  :func:`weight_family` lists the whole family for one
critic :math:`V` (the true :math:`V^\pi` or an imperfect :math:`\hat V`), :func:`family_samples`
turns it into gradient samples, and :func:`critic_bias` is the exact bias an imperfect critic
causes.  :func:`surrogate_loss` is :math:`L(\theta)`, whose gradient is minus the estimator.
:func:`gae` sums the residuals into the generalised advantage estimate
:math:`\hat A_t = \sum_l (\gamma\lambda)^l \delta_{t+l}`, whatever made them: :func:`td_residuals`
(tabular episodes and a table ``V``) or :func:`value_residuals` (a critic's values at each step).

Values are time-indexed, as in :func:`pgbook.mdp.value_functions`: ``V`` of shape (T+1, S) with
``V[t, s]`` the value at step t (``V[T] = 0``), or stationary, shape (S,) (the problem without a
time limit, :func:`pgbook.mdp.discounted_values`).
"""
from __future__ import annotations

import numpy as np

from ._validate import (check_episodes, check_finite, check_gamma, check_mdp, check_policy_table,
                        check_policy_theta, check_positive_int, check_shape)
from .estimators import psi as returns_psi
from .estimators import policy_gradient_samples, step_scores, step_weights
from .policies import TabularSoftmax
from .mdp import policy_table, score_table, state_distributions, value_functions

__all__ = [
    "q_signal",
    "advantage_signal",
    "td_residuals",
    "state_baseline",
    "lookahead_q",
    "WEIGHT_NAMES",
    "weight_family",
    "family_samples",
    "critic_bias",
    "surrogate_loss",
    "value_residuals",
    "gae",
    "gae_tradeoff",
]

#: The names of :func:`weight_family`, in the book's order.
WEIGHT_NAMES = ("R(tau)", "G_t", "G_t - V(s_t)", "Q(s_t, a_t)", "A(s_t, a_t)", "delta_t")


def _tabular_episodes(episodes, mdp=None, next_states: bool = False):
    check_episodes(episodes)
    s = np.asarray(episodes.states)
    if s.ndim != 2 or s.dtype.kind not in "iu":
        raise ValueError(f"episodes must have integer states of shape (n, T) (a tabular MDP's), got "
                         f"{s.dtype} of shape {s.shape}")
    if next_states and episodes.next_states is None:
        raise ValueError("episodes must have next_states (from sample_trajectories or enumerate_trajectories)")
    if mdp is not None:
        if s.size and (s.min() < 0 or s.max() >= mdp.n_states):
            raise ValueError(f"episodes has states outside [0, {mdp.n_states}) of the mdp")
        if s.shape[1] > mdp.horizon:
            raise ValueError(f"episodes has {s.shape[1]} steps, more than the mdp's horizon {mdp.horizon}")
    return episodes


def _values(V, n_states: int | None = None, name: str = "V") -> np.ndarray:
    V = check_finite(V, name)
    if V.ndim not in (1, 2) or (n_states is not None and V.shape[-1] != n_states):
        want = "S" if n_states is None else n_states
        raise ValueError(f"{name} must have shape ({want},) (stationary) or (T+1, {want}) (time-indexed), "
                         f"got {V.shape}")
    return V


def _at_steps(V: np.ndarray, states: np.ndarray, offset: int = 0) -> np.ndarray:
    """``V`` at ``states`` (n, T): ``V[t + offset, s_t]`` if time-indexed, else ``V[s_t]``."""
    if V.ndim == 1:
        return V[states]
    T = states.shape[1]
    if V.shape[0] < T + offset:
        raise ValueError(f"V must have at least {T + offset} rows (one per step), got {V.shape[0]}")
    return V[np.arange(T) + offset, states]


def q_signal(mdp, pi, episodes) -> np.ndarray:
    """:math:`Q^\\pi_t(s_t, a_t)` at every step of ``episodes``, shape (n, T), 0 where masked.

    Time-indexed values of the finite-horizon MDP (:func:`pgbook.mdp.value_functions`) under the
    policy table ``pi`` (S, A); column t of ``episodes`` is step t.
    """
    mdp = check_mdp(mdp)
    _tabular_episodes(episodes, mdp)
    _, Q = value_functions(mdp, pi)
    s, a, m = episodes.states, np.where(episodes.mask, episodes.actions, 0), episodes.mask
    return np.where(m, Q[np.arange(s.shape[1]), s, a], 0.0)


def advantage_signal(mdp, pi, episodes) -> np.ndarray:
    """:math:`A^\\pi_t(s_t, a_t) = Q^\\pi_t(s_t,a_t) - V^\\pi_t(s_t)` at every step, shape (n, T), 0 where masked."""
    mdp = check_mdp(mdp)
    _tabular_episodes(episodes, mdp)
    V, _ = value_functions(mdp, pi)
    return np.where(episodes.mask, q_signal(mdp, pi, episodes) - _at_steps(V, episodes.states), 0.0)


def td_residuals(episodes, V, gamma, terminal=None) -> np.ndarray:
    """:math:`\\delta_t = r_t + \\gamma V(s_{t+1}) - V(s_t)` at every step, shape (n, T), 0 where masked.

    ``V`` is time-indexed (T+1, S), read as :math:`V_{t+1}(s_{t+1})` and :math:`V_t(s_t)`, or
    stationary (S,).  ``terminal`` (S,) bool, optional: next states where it is True are worth 0
    whatever ``V`` says there (the episode is over); None trusts ``V`` (which is 0 at terminal
    states when it comes from :func:`pgbook.mdp.value_functions` or
    :func:`pgbook.mdp.discounted_values`).  ``episodes`` needs ``next_states``.
    """
    _tabular_episodes(episodes, next_states=True)
    gamma = check_gamma(gamma)
    V = _values(V)
    s, s2 = episodes.states, episodes.next_states
    if max(s.max(initial=0), s2.max(initial=0)) >= V.shape[-1]:
        raise ValueError(f"V has {V.shape[-1]} states but episodes visit state {max(s.max(), s2.max())}")
    v_next = _at_steps(V, s2, offset=1)
    if terminal is not None:
        terminal = np.asarray(check_shape(terminal, (V.shape[-1],), "terminal"), dtype=bool)
        v_next = np.where(terminal[s2], 0.0, v_next)
    delta = np.where(episodes.mask, episodes.rewards, 0.0) + gamma * v_next - _at_steps(V, s)
    return np.where(episodes.mask, delta, 0.0)


def state_baseline(V, episodes) -> np.ndarray:
    """:math:`V(s_t)` (time-indexed: :math:`V_t(s_t)`) at every step, shape (n, T), 0 where masked."""
    _tabular_episodes(episodes)
    V = _values(V)
    if episodes.states.max(initial=0) >= V.shape[-1]:
        raise ValueError(f"V has {V.shape[-1]} states but episodes visit state {episodes.states.max()}")
    return np.where(episodes.mask, _at_steps(V, episodes.states), 0.0)


def lookahead_q(mdp, V) -> np.ndarray:
    """The action values a critic ``V`` implies by one step of lookahead,
    :math:`\\hat Q(s,a) = \\sum_{s'} P(s'\\mid s,a)[R(s,a,s') + \\gamma \\hat V(s')]`, terminal next
    states worth 0 and terminal states 0.

    ``V`` (T+1, S) time-indexed gives (T, S, A) with :math:`\\hat V_{t+1}` in row t; ``V`` (S,)
    stationary gives (S, A).  With :math:`V = V^\\pi` this is :math:`Q^\\pi`; it is also
    :math:`\\mathbb E[r_t + \\gamma\\hat V(s_{t+1})\\mid s_t, a_t]`, the mean of :func:`td_residuals` plus
    :math:`\\hat V(s_t)`.
    """
    mdp = check_mdp(mdp)
    V = _values(V, mdp.n_states)
    live = ~mdp.terminal
    V_live = V * live
    if V.ndim == 1:
        return (mdp.expected_reward + mdp.gamma * (mdp.P @ V_live)) * live[:, None]
    if V.shape[0] != mdp.horizon + 1:
        raise ValueError(f"V must have shape ({mdp.horizon + 1}, {mdp.n_states}) (T+1, S), got {V.shape}")
    Q = mdp.expected_reward[None] + mdp.gamma * np.einsum("sap,tp->tsa", mdp.P, V_live[1:])
    return Q * live[None, :, None]


def weight_family(mdp, pi, episodes, V=None) -> dict:
    """The six weights of the book for one critic, at every step of ``episodes``.

    Returns a dict ``{name: (psi, w)}`` in the order of :data:`WEIGHT_NAMES`, with ``psi`` (n, T)
    and the step weights ``w`` (T,) of :func:`pgbook.estimators.policy_gradient_samples`:

    * ``"R(tau)"``: the discounted return, :math:`w_t = 1`;
    * ``"G_t"``: the reward-to-go; ``"G_t - V(s_t)"``: minus the critic at the state;
    * ``"Q(s_t, a_t)"``: :func:`lookahead_q` of the critic; ``"A(s_t, a_t)"``: that minus the critic;
    * ``"delta_t"``: :func:`td_residuals` of the critic;

    all but the first with :math:`w_t = \\gamma^t`.  ``V`` (T+1, S), the critic, defaults to the
    true :math:`V^\\pi_t` of :func:`pgbook.mdp.value_functions`, and then the Q and A weights are
    :func:`q_signal` and :func:`advantage_signal`.  With the true critic every weight's mean is
    :math:`\\nabla J`; with another, :func:`critic_bias` gives the bias of the last three.
    """
    mdp = check_mdp(mdp)
    pi = check_policy_table(mdp, pi)
    _tabular_episodes(episodes, mdp, next_states=True)
    if V is None:
        V = value_functions(mdp, pi)[0]
    V = _values(V, mdp.n_states)
    if V.shape != (mdp.horizon + 1, mdp.n_states):
        raise ValueError(f"V must have shape ({mdp.horizon + 1}, {mdp.n_states}) (T+1, S), got {V.shape}")
    T = episodes.mask.shape[1]
    s, m = episodes.states, episodes.mask
    a = np.where(m, episodes.actions, 0)
    gamma = mdp.gamma
    ones, disc = step_weights(gamma, T, reward_to_go=False), step_weights(gamma, T)
    G = returns_psi(episodes.rewards, gamma, m)
    b = state_baseline(V, episodes)
    Q = np.where(m, lookahead_q(mdp, V)[np.arange(T), s, a], 0.0)
    delta = td_residuals(episodes, V, gamma, terminal=mdp.terminal)
    signals = (returns_psi(episodes.rewards, gamma, m, reward_to_go=False), G, G - b, Q, Q - b, delta)
    return {name: (psi, ones if name == "R(tau)" else disc) for name, psi in zip(WEIGHT_NAMES, signals)}


def family_samples(policy, theta, episodes, family: dict, chunk: int = 1024) -> dict:
    """Gradient samples of every weight in ``family`` (from :func:`weight_family`), ``{name: (n, *theta_shape)}``.

    Row i of each is :math:`\\sum_t w_t\\,\\nabla\\log\\pi_\\theta(a_t\\mid s_t)\\,\\Psi_t` of episode i,
    :func:`pgbook.estimators.policy_gradient_samples` with the scores of
    :func:`pgbook.estimators.step_scores`, formed once per ``chunk`` episodes and shared by all weights.
    For a :class:`~pgbook.policies.TabularSoftmax` the same sums are formed by scattering each step's
    coefficient into row :math:`s_t`, without building the scores.
    """
    check_episodes(episodes)
    theta = check_policy_theta(policy, theta, ("score",))
    chunk = check_positive_int(chunk, "chunk")
    if not isinstance(family, dict) or not family:
        raise ValueError("family must be a non-empty dict {name: (psi, w)} such as weight_family returns")
    n = episodes.n
    if isinstance(policy, TabularSoftmax) and np.ndim(episodes.states) == 2:
        # Same numbers, no (n, T, S, A) scores: score_t = onehot(s_t) (onehot(a_t) - pi(.|s_t)), so each
        # sample scatters its step coefficients into row s_t (as estimators.trajectory_gradient_samples does).
        S, A = policy.theta_shape
        pi = policy.table(theta)
        i, t = np.nonzero(episodes.mask)
        s, a = episodes.states[i, t], episodes.actions[i, t]
        result = {}
        for name, (psi, w) in family.items():
            psi = check_finite(psi, f"family[{name!r}] psi")
            if psi.shape != episodes.mask.shape:
                raise ValueError(f"family[{name!r}] psi must have shape {episodes.mask.shape}, got {psi.shape}")
            c = psi[i, t] * (1.0 if w is None else np.broadcast_to(check_finite(w, "w"), psi.shape[1:])[t])
            g = np.bincount((i * S + s) * A + a, weights=c, minlength=n * S * A).reshape(n, S, A)
            for k in range(A):
                g[:, :, k] -= np.bincount(i * S + s, weights=c * pi[s, k], minlength=n * S).reshape(n, S)
            result[name] = g
        return result
    out = {name: [] for name in family}
    for i in range(0, n, chunk):
        rows = slice(i, min(i + chunk, n))
        part = episodes.take(rows)
        score = step_scores(policy, theta, part)
        for name, (psi, w) in family.items():
            out[name].append(policy_gradient_samples(score, np.asarray(psi)[rows], w, mask=part.mask))
    return {name: np.concatenate(x, axis=0) for name, x in out.items()}


def critic_bias(mdp, policy, theta, V) -> np.ndarray:
    """Exact bias of the Q, A and :math:`\\delta` weights of :func:`weight_family` with the critic ``V``.

    :math:`\\sum_t \\gamma^t \\sum_s d_t(s) \\sum_a \\pi(a\\mid s)\\,\\nabla\\log\\pi(a\\mid s)\\,
    [\\hat Q_t(s,a) - Q^\\pi_t(s,a)]`, with :math:`\\hat Q` from :func:`lookahead_q`: the critic's error
    at the *next* state, seen through the dynamics, does not average out; its error at the
    current state is a baseline and does.  The weight :math:`G_t - \\hat V(s_t)` has no bias
    whatever ``V``.  ``V`` (T+1, S).  Returns an array of ``policy.theta_shape``.
    """
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    V = _values(V, mdp.n_states)
    pi = policy_table(mdp, policy, theta)
    _, Q = value_functions(mdp, pi)
    d = state_distributions(mdp, pi)
    disc = mdp.gamma ** np.arange(mdp.horizon)
    weight = np.einsum("t,ts,tsa->sa", disc, d, lookahead_q(mdp, V) - Q) * pi
    return np.tensordot(weight, score_table(mdp, policy, theta), axes=([0, 1], [0, 1]))


def surrogate_loss(policy, theta, episodes, psi) -> float:
    """The loss deep-learning code minimises,
    :math:`L(\\theta) = -\\frac1n\\sum_i\\sum_t m_t \\log\\pi_\\theta(a_t\\mid s_t)\\,\\Psi_t`, with
    ``psi`` (n, T) a fixed array (fold any step weights :math:`w_t` into it).

    Its gradient is ``-policy_gradient_samples(step_scores(policy, theta, episodes), psi).mean(0)``,
    minus the estimator; its value is not :math:`J` and says nothing about it.
    """
    check_episodes(episodes)
    theta = check_policy_theta(policy, theta, ("log_prob",))
    psi = check_finite(psi, "psi")
    if psi.shape != episodes.mask.shape:
        raise ValueError(f"psi must have shape {episodes.mask.shape} (n, T) like the episodes, got {psi.shape}")
    m = episodes.mask
    actions = np.where(m, episodes.actions, 0) if np.ndim(episodes.actions) == 2 else episodes.actions
    logp = policy.log_prob(theta, episodes.states, actions)
    return float(-np.where(m, logp * psi, 0.0).sum() / episodes.n)


def value_residuals(rewards, values, mask, gamma) -> np.ndarray:
    """:math:`\\delta_t = r_t + \\gamma v_{t+1} - v_t` from a critic's values ``values`` (n, T) at
    the steps of a batch (gymnasium episodes), shape (n, T), 0 where masked.

    The value after an episode's last step is 0: the episode is over, either because it
    terminated or because its time limit cut it, and a critic that sees the time left (as the
    critics of :mod:`pgbook.actor_critic` do) is then asked to be 0 there too.
    """
    rewards = check_finite(rewards, "rewards")
    values = check_finite(values, "values")
    mask = np.asarray(mask, dtype=bool)
    if not (rewards.ndim == 2 and rewards.shape == values.shape == mask.shape):
        raise ValueError(f"rewards, values and mask must have the same shape (n, T), got {rewards.shape}, "
                         f"{values.shape} and {mask.shape}")
    gamma = check_gamma(gamma)
    v = np.where(mask, values, 0.0)
    v_next = np.concatenate([v[:, 1:], np.zeros((v.shape[0], 1))], axis=1)
    return np.where(mask, rewards + gamma * v_next - v, 0.0)


def gae(deltas, gamma, lam, mask=None) -> np.ndarray:
    """The generalised advantage estimate :math:`\\hat A_t = \\sum_{l \\ge 0} (\\gamma\\lambda)^l \\delta_{t+l}`,
    shape (n, T), 0 where masked.

    ``deltas`` (n, T) are TD residuals, from :func:`td_residuals` (tabular) or
    :func:`value_residuals` (a critic's values); one backward recursion over time,
    :math:`\\hat A_t = \\delta_t + \\gamma\\lambda\\,\\hat A_{t+1}`, vectorised over the episodes
    (the sum stops at each episode's last step).  ``lam = 0`` gives :math:`\\delta_t`;
    ``lam = 1`` gives :math:`G_t - V(s_t)` (the residuals telescope) when the value after the last
    step is 0.
    """
    deltas = check_finite(deltas, "deltas")
    if deltas.ndim != 2:
        raise ValueError(f"deltas must have shape (n, T), got {deltas.shape}")
    gamma = check_gamma(gamma)
    lam = check_gamma(lam, "lam")
    mask = np.ones(deltas.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != deltas.shape:
        raise ValueError(f"mask must have shape {deltas.shape} like deltas, got {mask.shape}")
    d = np.where(mask, deltas, 0.0)
    out = np.zeros_like(d)
    running = np.zeros(d.shape[0])
    for t in range(d.shape[1] - 1, -1, -1):
        running = d[:, t] + gamma * lam * running
        out[:, t] = running
    return np.where(mask, out, 0.0)


def gae_tradeoff(mdp, policy, theta, V, lams, n: int = 1) -> dict:
    """Exact bias, variance and mean squared error of the GAE(λ) estimator for each λ in ``lams``,
    by enumerating every trajectory of the (small) tabular ``mdp``.

    The one-episode sample is :math:`\\hat g = \\sum_t \\gamma^t \\nabla\\log\\pi(a_t\\mid s_t)\\,\\hat A_t`
    with :math:`\\hat A_t` = :func:`gae` of the :func:`td_residuals` of the critic ``V`` (T+1, S)
    (terminal next states worth 0).  Returns a dict of arrays over ``lams``: ``bias`` the norm of
    :math:`\\mathbb E\\hat g - \\nabla J`, ``variance`` the trace of the covariance of one
    episode's :math:`\\hat g`, ``mse`` :math:`= \\text{bias}^2 + \\text{variance}/n`, the mean squared
    distance to :math:`\\nabla J` of the mean of ``n`` episodes' samples, plus ``lams`` and ``grad_norm`` :math:`\\|\\nabla J\\|`.
    """
    from .mdp import enumerate_trajectories, grad_J_exact
    mdp = check_mdp(mdp)
    theta = check_policy_theta(policy, theta)
    n = check_positive_int(n, "n")
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    for lam in lams:
        check_gamma(lam, "each of lams")
    V = _values(V, mdp.n_states)
    if V.shape != (mdp.horizon + 1, mdp.n_states):
        raise ValueError(f"V must have shape ({mdp.horizon + 1}, {mdp.n_states}) (T+1, S), got {V.shape}")
    pi = policy_table(mdp, policy, theta)
    enum = enumerate_trajectories(mdp, pi)
    grad = grad_J_exact(mdp, policy, theta)
    delta = td_residuals(enum, V, mdp.gamma, terminal=mdp.terminal)
    w = step_weights(mdp.gamma, enum.mask.shape[1])
    family = {lam: (gae(delta, mdp.gamma, lam, enum.mask), w) for lam in lams}
    samples = family_samples(policy, theta, enum, family)
    bias, var = [], []
    for lam in lams:
        g = samples[lam].reshape(enum.n, -1)
        mean = enum.expectation(g)
        bias.append(float(np.linalg.norm(mean - grad.ravel())))
        var.append(float(enum.expectation(((g - mean) ** 2).sum(axis=1))))
    bias, var = np.array(bias), np.array(var)
    return {"lams": lams, "bias": bias, "variance": var, "mse": bias**2 + var / n,
            "grad_norm": float(np.linalg.norm(grad))}
