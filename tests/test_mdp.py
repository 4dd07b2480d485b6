"""Tabular MDPs: exact J two ways, exact gradient vs finite differences, the sampler vs the exact
process (and vs gymnasium's own FrozenLake), trajectory log-probabilities, and input errors."""
import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pgbook import make_rng, mdp as M
from pgbook.estimators import compare, discounted_return, finite_difference_gradient
from pgbook.policies import TabularSoftmax

SEEDS = st.integers(0, 2**32 - 1)
# A FrozenLake 4x4 policy that mostly follows a good route (Left=0, Down=1, Right=2, Up=3).
GOOD_4X4 = np.array([0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0])


def random_mdp(rng, n_states=4, n_actions=2, horizon=3, gamma=0.8):
    """A random MDP with sparse dynamics and one terminal state (state n_states - 1)."""
    P = rng.random((n_states, n_actions, n_states)) * (rng.random((n_states, n_actions, n_states)) < 0.6)
    P[..., 0] += 0.05
    P /= P.sum(-1, keepdims=True)
    R = rng.normal(size=(n_states, n_actions, n_states))
    terminal = np.zeros(n_states, dtype=bool)
    terminal[-1] = True
    mu0 = rng.dirichlet(np.ones(n_states))
    return M.TabularMDP(P=P, R=R, mu0=mu0, gamma=gamma, horizon=horizon, terminal=terminal)


def J_naive(mdp, pi):
    """Independent recursion over (state, time) written directly from the definition."""
    def value(s, t):
        if t == mdp.horizon or mdp.terminal[s]:
            return 0.0
        total = 0.0
        for a in range(mdp.n_actions):
            for s2 in range(mdp.n_states):
                total += pi[s, a] * mdp.P[s, a, s2] * (mdp.R[s, a, s2] + mdp.gamma * value(s2, t + 1))
        return total
    return sum(mdp.mu0[s] * value(s, 0) for s in range(mdp.n_states))


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, horizon=st.integers(1, 4), gamma=st.sampled_from([0.0, 0.5, 0.9, 1.0]))
def test_J_exact_equals_enumeration_and_naive_recursion(seed, horizon, gamma):
    rng = np.random.default_rng(seed)
    for mdp in (M.tiny_mdp(gamma=gamma, horizon=horizon), random_mdp(rng, horizon=horizon, gamma=gamma)):
        pol = TabularSoftmax(mdp.n_states, mdp.n_actions)
        pi = pol.table(rng.normal(size=pol.theta_shape))
        enum = M.enumerate_trajectories(mdp, pi)
        assert abs(enum.prob.sum() - 1) < 1e-12
        assert enum.states.shape == enum.next_states.shape == enum.mask.shape == (enum.n, horizon)
        np.testing.assert_array_equal(enum.states[:, 1:], enum.next_states[:, :-1])
        J = M.J_exact(mdp, pi)
        assert J == pytest.approx(M.J_by_enumeration(mdp, pi), abs=1e-12)
        assert J == pytest.approx(J_naive(mdp, pi), abs=1e-12)


def test_tiny_mdp_trajectory_count_and_hand_value():
    mdp = M.tiny_mdp(gamma=0.5, horizon=1)
    pi = np.full((2, 2), 0.5)
    # one step: J = sum_s mu0(s) sum_a pi(a|s) r(s, a)
    r = np.array([[1.0, 0.0], [0.75 * 3.0, 0.7 * 0.5]])
    assert M.J_exact(mdp, pi) == pytest.approx(0.8 * 0.5 + 0.2 * (2.25 + 0.35) / 2)
    assert np.allclose(mdp.expected_reward, r)
    assert M.enumerate_trajectories(M.tiny_mdp(horizon=3), pi).n == 2 * 4 ** 3
    # the dynamics matter: the best deterministic policy depends on the horizon
    det = {(a0, a1): np.eye(2)[[a0, a1]] for a0 in (0, 1) for a1 in (0, 1)}
    best = lambda T: max(det, key=lambda k: M.J_exact(M.tiny_mdp(horizon=T), det[k]))
    assert best(1) == (0, 0) and best(5) == (1, 0)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS)
def test_grad_J_exact_matches_finite_differences_tiny_and_random(seed):
    rng = np.random.default_rng(seed)
    for mdp in (M.tiny_mdp(), M.tiny_mdp(gamma=1.0, horizon=5), random_mdp(rng, horizon=4)):
        pol = TabularSoftmax(mdp.n_states, mdp.n_actions)
        theta = rng.uniform(-2, 2, size=pol.theta_shape)
        fd = finite_difference_gradient(lambda th: M.J_exact(mdp, pol.table(th)), theta, eps=1e-6)
        np.testing.assert_allclose(M.grad_J_exact(mdp, pol, theta), fd, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
def test_grad_J_exact_matches_finite_differences_frozen_lake(gamma):
    mdp = M.frozen_lake_mdp("4x4", gamma=gamma)
    pol = TabularSoftmax(16, 4)
    theta = np.random.default_rng(3).normal(size=(16, 4)) + 2 * np.eye(4)[GOOD_4X4]
    fd = finite_difference_gradient(lambda th: M.J_exact(mdp, pol.table(th)), theta, eps=1e-6)
    g = M.grad_J_exact(mdp, pol, theta)
    np.testing.assert_allclose(g, fd, atol=1e-8)
    assert np.abs(g).max() > 1e-3          # a real signal, not a trivially zero gradient


def test_frozen_lake_tables():
    mdp = M.frozen_lake_mdp("4x4")
    assert mdp.n_states == 16 and mdp.n_actions == 4 and mdp.horizon == 100 and mdp.gamma == 0.99
    np.testing.assert_array_equal(np.nonzero(mdp.terminal)[0], [5, 7, 11, 12, 15])   # holes and goal
    assert mdp.mu0[0] == 1.0
    # reward 1 exactly on entering the goal, 0 elsewhere; slippery: 1/3 to each of three directions
    into_goal = (mdp.P[..., 15] > 0) & ~mdp.terminal[:, None]
    assert np.all(mdp.R[..., 15][into_goal] == 1) and mdp.R[..., :15].max() == 0 and mdp.R[15].max() == 0
    assert mdp.P[14, 2, 15] == pytest.approx(1 / 3)
    big = M.frozen_lake_mdp("8x8")
    assert big.n_states == 64 and big.horizon == 200
    assert M.frozen_lake_mdp("4x4", is_slippery=False).P.max() == 1.0


def test_frozen_lake_deterministic_route_has_known_value():
    mdp = M.frozen_lake_mdp("4x4", is_slippery=False, gamma=0.9)
    # route 0 -down-> 4 -down-> 8 -right-> 9 -down-> 13 -right-> 14 -right-> 15 : 6 steps, reward at step 5
    route = {0: 1, 4: 1, 8: 2, 9: 1, 13: 2, 14: 2}
    pi = np.full((16, 4), 0.25)
    for s, a in route.items():
        pi[s] = np.eye(4)[a]
    assert M.J_exact(mdp, pi) == pytest.approx(0.9 ** 5)
    assert M.J_exact(mdp.replace(horizon=5), pi) == 0.0      # the time limit cuts the route short
    assert M.J_exact(mdp.replace(horizon=6), pi) == pytest.approx(0.9 ** 5)


def test_sampler_trajectory_frequencies_match_enumeration():
    mdp = M.tiny_mdp(horizon=2)
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.3, -0.4], [1.0, 0.0]])
    enum = M.enumerate_trajectories(mdp, pol.table(theta))
    n = 100_000
    tr = M.sample_trajectories(mdp, pol, theta, n, make_rng(200 + 5))
    full = np.concatenate([tr.states, tr.next_states[:, -1:]], axis=1)
    keys = lambda s, a: [tuple(r) for r in np.concatenate([s, a], axis=1)]
    enum_full = np.concatenate([enum.states, enum.next_states[:, -1:]], axis=1)
    index = {k: i for i, k in enumerate(keys(enum_full, enum.actions))}
    which = np.array([index[k] for k in keys(full, tr.actions)])
    c = compare(np.eye(enum.n)[which], enum.prob)            # frequency of each trajectory vs its probability
    assert c.passed, str(c)


def test_sampler_returns_match_J_exact_frozen_lake():
    mdp = M.frozen_lake_mdp("4x4")
    pol = TabularSoftmax(16, 4)
    theta = 2 * np.eye(4)[GOOD_4X4]
    tr = M.sample_trajectories(mdp, pol, theta, 20_000, make_rng(200 + 6))
    assert tr.mask.shape == (20_000, 100) and np.all(tr.lengths <= 100)
    # an action is taken exactly while the episode runs: mask is a prefix of True values
    assert np.all(np.diff(tr.mask.astype(int), axis=1) <= 0)
    c = compare(discounted_return(tr.rewards, mdp.gamma, tr.mask), np.array(M.J_exact(mdp, pol.table(theta))))
    assert c.passed, str(c)


def test_gymnasium_rollouts_match_J_exact():
    """The exact J describes gymnasium's own episodes: its TimeLimit, our discount."""
    horizon, gamma, n = 30, 1.0, 1000
    mdp = M.frozen_lake_mdp("4x4", gamma=gamma, horizon=horizon)
    pol = TabularSoftmax(16, 4)
    theta = 5 * np.eye(4)[GOOD_4X4]
    rng = make_rng(200 + 7)
    env = gym.make("FrozenLake-v1", max_episode_steps=horizon)
    returns = np.zeros(n)
    for i in range(n):
        s, _ = env.reset(seed=int(rng.integers(2**31)))
        for t in range(horizon + 5):
            s, r, terminated, truncated, _ = env.step(int(pol.sample(theta, np.array(s), rng)))
            returns[i] += gamma ** t * r
            if terminated or truncated:
                assert t < horizon
                break
    J = M.J_exact(mdp, pol.table(theta))
    assert compare(returns, np.array(J), comparisons=2).passed
    # the module's helper does the same
    helper = M.gymnasium_returns(env, pol, theta, 600, gamma, make_rng(208))
    assert compare(helper, np.array(J), comparisons=2).passed
    # and the horizon matters here: the 100-step J is far away
    assert abs(M.J_exact(M.frozen_lake_mdp("4x4", gamma=gamma), pol.table(theta)) - J) > 10 * returns.std() / np.sqrt(n)


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS)
def test_log_prob_trajectory(seed):
    rng = np.random.default_rng(seed)
    mdp = random_mdp(rng)
    pol = TabularSoftmax(mdp.n_states, mdp.n_actions)
    theta = rng.normal(size=pol.theta_shape)
    enum = M.enumerate_trajectories(mdp, pol.table(theta))
    keep = enum.prob > 0
    np.testing.assert_allclose(np.exp(M.log_prob_trajectory(mdp, pol, theta, enum))[keep], enum.prob[keep],
                               rtol=1e-10)
    # its gradient (finite differences, dynamics included) is the sum of the scores
    tr = M.sample_trajectories(mdp, pol, theta, 5, rng)
    for i in range(5):
        one = tr.take(slice(i, i + 1))
        fd = finite_difference_gradient(lambda th: M.log_prob_trajectory(mdp, pol, th, one)[0], theta)
        scores = (pol.score(theta, one.states, one.actions) * one.mask[..., None, None]).sum(axis=(0, 1))
        np.testing.assert_allclose(fd, scores, atol=1e-6)


def test_value_functions_and_state_distributions_are_consistent():
    mdp = random_mdp(np.random.default_rng(8), horizon=5)
    pi = TabularSoftmax(4, 2).table(np.random.default_rng(9).normal(size=(4, 2)))
    V, Q = M.value_functions(mdp, pi)
    d = M.state_distributions(mdp, pi)
    assert V.shape == (6, 4) and Q.shape == (5, 4, 2) and d.shape == (5, 4)
    # J = sum_t gamma^t sum_s d_t(s) sum_a pi(a|s) r(s, a)
    r = mdp.expected_reward
    J = sum(mdp.gamma ** t * d[t] @ (pi * r).sum(1) for t in range(5))
    assert J == pytest.approx(M.J_exact(mdp, pi))
    assert np.all(d[:, 3] == 0) and np.all(V[:, 3] == 0)


GOOD_P = np.full((2, 2, 2), 0.5)
GOOD_R = np.zeros((2, 2, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(P=np.full((2, 2, 2), 0.6)), "P"),
        (dict(P=np.full((2, 2, 3), 1 / 3)), "P"),
        (dict(P=np.where(np.eye(2)[None].repeat(2, 0) > 0, 1.2, -0.2)), "P"),
        (dict(R=np.zeros((2, 2))), "R"),
        (dict(R=np.full((2, 2, 2), np.nan)), "R"),
        (dict(mu0=np.array([0.5, 0.6])), "mu0"),
        (dict(mu0=np.array([1.0])), "mu0"),
        (dict(gamma=1.5), "gamma"),
        (dict(gamma=-0.1), "gamma"),
        (dict(horizon=0), "horizon"),
        (dict(horizon=2.5), "horizon"),
        (dict(terminal=np.array([True])), "terminal"),
        (dict(terminal=np.array([2, 0])), "terminal"),
    ],
)
def test_bad_mdp_fields_raise(kwargs, match):
    fields = dict(P=GOOD_P, R=GOOD_R, mu0=np.array([1.0, 0.0]), gamma=0.9, horizon=3)
    fields.update(kwargs)
    with pytest.raises(ValueError, match=match):
        M.TabularMDP(**fields)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.J_exact(M.tiny_mdp(), np.full((2, 2), 0.7)), "pi"),
        (lambda: M.J_exact(M.tiny_mdp(), np.full((3, 2), 0.5)), "pi"),
        (lambda: M.J_exact("tiny", np.full((2, 2), 0.5)), "mdp"),
        (lambda: M.enumerate_trajectories(M.tiny_mdp(horizon=12), np.full((2, 2), 0.5)), "horizon"),
        (lambda: M.tiny_mdp(gamma=2.0), "gamma"),
        (lambda: M.tiny_mdp(horizon=-1), "horizon"),
        (lambda: M.frozen_lake_mdp("5x5"), "map_name"),
        (lambda: M.sample_trajectories(M.tiny_mdp(), TabularSoftmax(2, 2), np.zeros((2, 2)), 0,
                                       np.random.default_rng(0)), "n"),
        (lambda: M.sample_trajectories(M.tiny_mdp(), TabularSoftmax(2, 2), np.zeros((2, 2)), 5, 0), "rng"),
        (lambda: M.grad_J_exact(M.tiny_mdp(), TabularSoftmax(2, 2), np.full((2, 2), np.inf)), "theta"),
        (lambda: M.tiny_mdp().replace(colour="red"), "colour"),
        (lambda: M.gymnasium_returns(gym.make("FrozenLake-v1"), TabularSoftmax(16, 4), np.zeros((16, 4)), 0, 0.9,
                                     np.random.default_rng(0)), "n"),
        (lambda: M.gymnasium_returns(gym.make("FrozenLake-v1"), TabularSoftmax(16, 4), np.zeros((16, 4)), 3, 1.1,
                                     np.random.default_rng(0)), "gamma"),
        (lambda: M.from_toy_text(gym.make("CartPole-v1"), gamma=0.9), "env"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- chapter 13: the stationary theorem
def test_discounted_values_satisfy_bellman_and_are_the_long_horizon_limit():
    rng = make_rng(13)
    m = random_mdp(rng, n_states=5, n_actions=3, horizon=400, gamma=0.9)
    pi = rng.dirichlet(np.ones(3), size=5)
    V, Q = M.discounted_values(m, pi)
    live = ~m.terminal
    assert np.allclose(V, (pi * Q).sum(1)) and np.all(V[~live] == 0) and np.all(Q[~live] == 0)
    assert np.allclose(Q[live], (m.expected_reward + m.gamma * m.P @ V)[live])
    Vt, Qt = M.value_functions(m, pi)
    assert np.allclose(Vt[0], V, atol=1e-12) and np.allclose(Qt[0], Q, atol=1e-12)


def test_discounted_visitation_is_the_sum_of_discounted_state_distributions():
    rng = make_rng(14)
    m = random_mdp(rng, n_states=5, n_actions=3, horizon=400, gamma=0.9)
    pi = rng.dirichlet(np.ones(3), size=5)
    d = M.discounted_visitation(m, pi)
    d_t = M.state_distributions(m, pi)
    disc = m.gamma ** np.arange(m.horizon)
    assert np.allclose(d, (disc[:, None] * d_t).sum(0), atol=1e-12)
    # it sums to the expected discounted number of actions taken, E[sum_t gamma^t 1{running at t}]
    expected_steps = (disc * d_t.sum(1)).sum()
    assert abs(d.sum() - expected_steps) < 1e-12 and d.sum() < 1 / (1 - m.gamma) - 0.1
    # no terminal states: exactly 1 / (1 - gamma)
    tiny = M.tiny_mdp(gamma=0.7)
    assert abs(M.discounted_visitation(tiny, np.full((2, 2), 0.5)).sum() - 1 / 0.3) < 1e-12


def test_theorem_equals_the_finite_horizon_gradient_in_the_limit_and_differs_before():
    tiny = M.tiny_mdp(gamma=0.9, horizon=5)
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.0, 0.5], [0.0, -1.0]])
    g = M.grad_J_theorem(tiny, pol, theta)
    long = M.grad_J_exact(tiny.replace(horizon=400), pol, theta)
    short = M.grad_J_exact(tiny, pol, theta)
    assert np.abs(g - long).max() < 1e-12 * np.abs(g).max()
    assert np.abs(g - short).max() > 0.1                          # the time limit matters at T = 5
    # and against finite differences of the stationary J
    J = lambda th: tiny.mu0 @ M.discounted_values(tiny, pol.table(th))[0]  # noqa: E731
    assert np.allclose(finite_difference_gradient(J, theta), g, atol=1e-7)


def test_theorem_on_the_aliased_short_corridor_matches_the_value_derivative():
    from pgbook import envs
    from pgbook.policies import softmax

    corridor = envs.short_corridor_mdp()
    pol = TabularSoftmax(1, 2)
    for p in (0.2, 0.5, 0.8):
        theta = np.array([[0.0, np.log(p / (1 - p))]])
        g = M.grad_J_theorem(corridor, pol, theta, observe=envs.SHORT_CORRIDOR_OBSERVE)
        fd = finite_difference_gradient(lambda th: envs.short_corridor_value(softmax(th)[0, 1]), theta)
        assert np.allclose(g, fd, atol=1e-6), (p, g, fd)
        V, _ = M.discounted_values(corridor, pol.probs(theta, envs.SHORT_CORRIDOR_OBSERVE))
        assert abs(V[0] - envs.short_corridor_value(p)) < 1e-10
    p_star = 2 - np.sqrt(2)                        # Sutton and Barto's optimum, about 0.59: stochastic
    assert abs(envs.short_corridor_optimum()[0] - p_star) < 1e-6
    theta = np.array([[0.0, np.log(p_star / (1 - p_star))]])
    assert np.abs(M.grad_J_theorem(corridor, pol, theta, observe=envs.SHORT_CORRIDOR_OBSERVE)).max() < 1e-12
    # a deterministic policy never reaches the goal: the stationary problem is singular
    with pytest.raises(ValueError, match="singular"):
        M.discounted_values(corridor, np.tile([1.0, 0.0], (4, 1)))


def test_theorem_reads_the_policy_at_the_observation():
    tiny = M.tiny_mdp(gamma=0.9, horizon=5)
    pol = TabularSoftmax(2, 2)
    theta = np.array([[0.0, 0.5], [0.3, -1.0]])
    g = M.grad_J_theorem(tiny, pol, theta)
    assert np.array_equal(M.grad_J_theorem(tiny, pol, theta, observe=[0, 1]), g)
    # observations named the other way round: the same gradient with the rows of theta swapped
    assert np.allclose(M.grad_J_theorem(tiny, pol, theta[::-1], observe=[1, 0])[::-1], g, atol=1e-14)
