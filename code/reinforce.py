r"""REINFORCE on gymnasium environments, in numpy, with analytic gradients.

One iteration of :func:`train`

1. plays a batch of whole episodes with the current policy, many environments at once
   (:func:`collect_batch`, through ``gymnasium.make_vec``);
2. turns the batch into one gradient sample per episode with the Part I estimator
   :func:`pgbook.estimators.policy_gradient_samples`,

   .. math::

      \hat g_i = \sum_t w_t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, (\Psi_t - b_t),

   where :math:`\Psi_t` is the full return :math:`R(\tau)` or the reward-to-go :math:`G_t`,
   :math:`b_t` a baseline and :math:`w_t = \gamma^t` or 1 (:math:`w_t = 1` for the full
   return); which gradient the mean of :math:`\hat g_i` is (:math:`\nabla J_\gamma`,
   :math:`\nabla J_1` or neither) is told by :func:`pgbook.estimators.estimand` and the fields
   of :class:`ReinforceConfig`;
3. averages the samples, :math:`\hat g = \frac1n \sum_i \hat g_i`, and takes one ascent step
   (plain SGD or Adam).

Everything is set in one :class:`ReinforceConfig`; :func:`train` returns a :class:`TrainResult`
with the final parameters and one row of metrics per iteration (also passed to a callback).

**The autoreset step.** gymnasium 1.x vector environments reset a finished sub-environment on
the *next* call to ``step``: that call ignores the action, returns the first observation of a
new episode and a reward of 0.  Each round of :func:`collect_batch` starts every environment
from ``reset`` and keeps exactly the first episode of each: the step at which an episode ends
is its last valid step; the autoreset step after it and everything later is masked out
(``mask`` False, reward 0), so it contributes neither reward nor score.

**Observations and actions.** ``Box`` observations are used as they are (flattened);
``Discrete`` observations become one-hot vectors.  ``Discrete`` actions use a softmax policy
(:class:`pgbook.policies.LinearSoftmax` or :class:`pgbook.mlp.MLPSoftmax`), one-dimensional
``Box`` actions a linear Gaussian (:class:`pgbook.policies.LinearGaussian`; the sampled action
is clipped to the bounds for the environment only, the score uses the sample itself).
Any other space raises a ValueError.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable

import gymnasium
import numpy as np
from gymnasium import spaces

from ._validate import (ArgumentTypeError, NonFiniteError, check_bool, check_choice, check_gamma, check_nonnegative,
                        check_finite_real, check_positive, check_positive_int, check_real, check_rng,
                        check_seed)
from .mlp import MLPSoftmax
from .policies import LinearGaussian, LinearSoftmax, _sample_categorical, log_softmax
from .optim import make_optimiser
from .training import (CollapseWatch, RunResult, TrainingCollapsedWarning, TrainingDivergedWarning,
                       learning_rate_hint)

from .estimators import policy_gradient_samples, returns_to_go

__all__ = [
    "ReinforceConfig",
    "TrainResult",
    "Batch",
    "train",
    "train_many",
    "collect_batch",
    "evaluate",
    "make_envs",
    "make_policy",
    "features",
    "time_to_solve",
    "BASELINES",
    "OPTIMISERS",
]

#: The values of :attr:`ReinforceConfig.baseline`.
BASELINES = ("none", "batch-mean", "value")
#: The values of :attr:`ReinforceConfig.optimiser`.
OPTIMISERS = ("adam", "sgd")
POLICIES = ("linear", "mlp")
VECTORIZATION_MODES = ("auto", "vector_entry_point", "sync")
#: Longest episode a round will wait for when the environment sets no time limit.
SAFETY_MAX_EPISODE_STEPS = 10_000
@dataclass
class ReinforceConfig:
    """Every setting of a REINFORCE run.

    The defaults (linear softmax on CartPole-v1, Adam with learning rate 0.2, 16 episodes per batch,
    reward-to-go with a learned linear state-value baseline) solve CartPole-v1 in about 100 000
    environment steps, roughly a second of training on one core; see ``benchmarks/reinforce_cartpole.py``.

    ``ReinforceConfig(learning_rate=0.1)`` changes one field; ``config.replace(...)`` returns a
    modified copy; :meth:`validate` (called by :func:`train`) raises a ValueError naming any bad field.
    """

    env_id: str = "CartPole-v1"
    """gymnasium environment id, e.g. ``"CartPole-v1"``, ``"Acrobot-v1"``, ``"pgbook/LinearQuadratic-v0"``."""
    env_kwargs: dict = field(default_factory=dict)
    """Extra keyword arguments for the environment constructor."""
    policy: str = "linear"
    """``"linear"`` (linear softmax for discrete actions, linear Gaussian for Box actions) or
    ``"mlp"`` (one hidden tanh layer, discrete actions only)."""
    hidden: int = 16
    """Width of the hidden layer of the ``"mlp"`` policy."""
    init_scale: float = 0.0
    """Standard deviation of the random initial output weights (0: start from the uniform / zero-mean policy)."""
    learning_rate: float = 0.2
    """Step size of the optimiser."""
    optimiser: str = "adam"
    """``"adam"`` (Adam with beta1=0.9, beta2=0.999, eps=1e-8) or ``"sgd"`` (theta += learning_rate * gradient)."""
    gamma: float = 0.99
    """Discount factor in [0, 1] used in the returns (evaluation always reports undiscounted returns)."""
    batch_episodes: int | None = 16
    """Episodes per iteration (one per parallel environment). Set it to None to batch by steps instead."""
    batch_steps: int | None = None
    """Minimum number of valid steps per iteration: whole rounds of ``num_envs`` episodes are played
    until the batch holds at least this many steps. Only used when ``batch_episodes`` is None."""
    num_envs: int = 16
    """Parallel environments per round when batching by steps (with ``batch_episodes`` it equals that)."""
    reward_to_go: bool = True
    """Weight the score of step t by the reward-to-go G_t (True) or by the full return R(tau) (False).
    The full return always has step weight w_t = 1 (it is already discounted from step 0) and is
    unbiased for the gradient of the discounted objective J_gamma."""
    discount_weighting: bool = False
    """With ``reward_to_go``: multiply the term of step t by w_t = gamma**t (True), which makes the
    update unbiased for grad J_gamma, or leave it out (False, the default, as most implementations
    do). Without it and with gamma < 1 the mean update is neither grad J_gamma nor grad J_1 (the
    undiscounted return) nor the gradient of any function (Nota and Thomas, 2020), but an ascent
    direction for J_1 in practice; with gamma = 1 every setting is unbiased for grad J_1.
    ``pgbook.estimators.estimand(gamma, reward_to_go, discount_weighting)`` names the target."""
    baseline: str = "value"
    """``"none"``; ``"batch-mean"``: for episode i the mean of Psi over the other episodes of the
    batch (leave-one-out, so it stays unbiased); ``"value"``: a linear state-value
    V(s) = [features(s), 1] @ w fitted by least squares to Psi on the previous batch."""
    normalise_returns: bool = False
    """Centre and scale the weights Psi_t - b_t of the batch to mean 0 and standard deviation 1."""
    seed: int = 0
    """Seed of the run: initial parameters, actions and environment resets. Same seed, same run."""
    max_iterations: int = 200
    """Budget: at most this many iterations (gradient steps)."""
    max_env_steps: int | None = 1_000_000
    """Budget: stop after the iteration that reaches this many environment steps (None: no limit)."""
    max_seconds: float | None = None
    """Budget: stop after the iteration that reaches this much wall time in seconds (None: no limit)."""
    max_episode_steps: int | None = None
    """Cut episodes after this many steps (None: the environment's own time limit, or 10000)."""
    vectorization_mode: str = "auto"
    """``"auto"`` (the environment's native vector version if it has one, else ``"sync"``),
    ``"vector_entry_point"`` or ``"sync"``."""
    measure_variants: bool = False
    """Also measure, on every batch, the gradient variance of the three classic variants: full return,
    reward-to-go, and reward-to-go minus a baseline (the run's own baseline if it uses reward-to-go
    and one, else the leave-one-out batch mean). Same batch, same parameters: a fair comparison."""
    progress: bool | None = None
    """Progress bar: True, False, or None (a tqdm.auto bar that appears if the run lasts over 2 s)."""

    def replace(self, **changes) -> "ReinforceConfig":
        """A copy with some fields changed."""
        data = asdict(self)
        unknown = set(changes) - set(data)
        if unknown:
            raise ValueError(f"unknown ReinforceConfig field(s): {sorted(unknown)}; the fields are {sorted(data)}")
        data.update(changes)
        return ReinforceConfig(**data)

    def __post_init__(self):
        self.validate()

    def validate(self) -> "ReinforceConfig":
        """Raise an error naming the first field with a bad value; return self.

        A value of the wrong type (``reward_to_go=None``, ``progress='no'``, ``init_scale='abc'``,
        ``seed=1.5``) raises :class:`pgbook._validate.ArgumentTypeError` (a TypeError that is also a
        ValueError); a value out of range raises ValueError.  Called on construction and by :func:`train`.
        """
        _check_env_id(self.env_id)
        if not isinstance(self.env_kwargs, dict):
            raise ArgumentTypeError(f"env_kwargs must be a dict of keyword arguments for the environment, "
                                    f"got {type(self.env_kwargs).__name__}")
        check_choice(self.policy, POLICIES, "policy")
        check_positive_int(self.hidden, "hidden")
        check_nonnegative(self.init_scale, "init_scale")
        check_positive(self.learning_rate, "learning_rate")
        check_choice(self.optimiser, OPTIMISERS, "optimiser")
        check_gamma(self.gamma, "gamma")
        if self.batch_episodes is None and self.batch_steps is None:
            raise ValueError("set batch_episodes or batch_steps (both are None)")
        if self.batch_episodes is not None:
            check_positive_int(self.batch_episodes, "batch_episodes")
            if self.batch_episodes < 2:
                raise ValueError("batch_episodes must be at least 2 (the variance estimate needs two episodes)")
        if self.batch_steps is not None:
            check_positive_int(self.batch_steps, "batch_steps")
        check_positive_int(self.num_envs, "num_envs")
        for name in ("reward_to_go", "discount_weighting", "normalise_returns", "measure_variants"):
            check_bool(getattr(self, name), name)
        check_choice(self.baseline, BASELINES, "baseline")
        check_seed(self.seed, "seed")
        check_positive_int(self.max_iterations, "max_iterations")
        if self.max_env_steps is not None:
            check_positive_int(self.max_env_steps, "max_env_steps")
        if self.max_seconds is not None:
            check_positive(self.max_seconds, "max_seconds")
        if self.max_episode_steps is not None:
            check_positive_int(self.max_episode_steps, "max_episode_steps")
        check_choice(self.vectorization_mode, VECTORIZATION_MODES, "vectorization_mode")
        if self.progress is not None and not isinstance(self.progress, (bool, np.bool_)):
            raise ArgumentTypeError(f"progress must be True, False or None, got {type(self.progress).__name__} "
                                    f"{self.progress!r}")
        return self

    @property
    def envs_per_round(self) -> int:
        """Number of environments stepped together."""
        return self.batch_episodes if self.batch_episodes is not None else self.num_envs


# ------------------------------------------------------------------------------------ spaces
def features(obs_space, obs) -> np.ndarray:
    """Feature vectors of a batch of observations: one-hot for ``Discrete``, flattened floats for ``Box``.

    ``obs`` has shape ``(n,) + obs_space.shape``; the result has shape ``(n, obs_dim(obs_space))``.
    """
    if isinstance(obs_space, spaces.Discrete):
        idx = np.asarray(obs, dtype=np.int64) - int(obs_space.start)
        return np.eye(int(obs_space.n))[idx]
    if isinstance(obs_space, spaces.Box):
        obs = np.asarray(obs, dtype=float)
        return obs.reshape(obs.shape[0], -1)
    raise ValueError(_space_message("observation", obs_space))


def _obs_dim(obs_space) -> int:
    if isinstance(obs_space, spaces.Discrete):
        return int(obs_space.n)
    if isinstance(obs_space, spaces.Box):
        return int(np.prod(obs_space.shape))
    raise ValueError(_space_message("observation", obs_space))


def _space_message(kind: str, space) -> str:
    what = ("Discrete or a Box" if kind == "observation" else "Discrete or a one-dimensional Box")
    return (f"unsupported {kind} space {space!r}: the REINFORCE trainer needs a {what} {kind} space "
            f"(wrap the environment, e.g. with gymnasium.wrappers.FlattenObservation, or pick another env_id)")


def make_policy(config: ReinforceConfig, obs_space, action_space):
    """The policy object for these spaces: LinearSoftmax, MLPSoftmax or LinearGaussian."""
    obs_dim = _obs_dim(obs_space)
    if isinstance(action_space, spaces.Discrete):
        if config.policy == "mlp":
            return MLPSoftmax(obs_dim, int(action_space.n), config.hidden)
        return LinearSoftmax(obs_dim, int(action_space.n))
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        if config.policy == "mlp":
            raise ValueError("policy='mlp' supports Discrete action spaces only; use policy='linear' "
                             f"(a linear Gaussian) for the Box action space of {config.env_id}")
        return LinearGaussian(obs_dim, int(action_space.shape[0]))
    raise ValueError(_space_message("action", action_space))


def _check_env_id(env_id) -> str:
    """``env_id`` must be a non-empty string such as ``"CartPole-v1"``."""
    if not isinstance(env_id, str):
        raise ArgumentTypeError(f"env_id must be a gymnasium environment id string, got {type(env_id).__name__}")
    if not env_id:
        raise ValueError("env_id must be a gymnasium environment id string such as 'CartPole-v1', got ''")
    return env_id


def make_envs(env_id: str, num_envs: int, vectorization_mode: str = "auto", env_kwargs: dict | None = None):
    """``gymnasium.make_vec`` with the native vector environment where one exists ("auto"), else "sync"."""
    _check_env_id(env_id)
    num_envs = check_positive_int(num_envs, "num_envs")
    check_choice(vectorization_mode, VECTORIZATION_MODES, "vectorization_mode")
    if env_kwargs is not None and not isinstance(env_kwargs, dict):
        raise ArgumentTypeError(f"env_kwargs must be a dict or None, got {type(env_kwargs).__name__}")
    env_kwargs = dict(env_kwargs or {})
    try:
        spec = gymnasium.spec(env_id)
    except Exception as err:  # gymnasium raises its own error types for unknown ids
        raise ValueError(f"env_id {env_id!r} is not a registered gymnasium environment ({err})") from None
    mode = vectorization_mode
    if mode == "auto":
        mode = "vector_entry_point" if getattr(spec, "vector_entry_point", None) is not None else "sync"
    return gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **env_kwargs)


def _env_action(action_space, actions):
    if isinstance(action_space, spaces.Discrete):
        return actions + int(action_space.start)
    return np.clip(actions, action_space.low, action_space.high).astype(action_space.dtype)


# ------------------------------------------------------------------------------------ rollouts
@dataclass
class Batch:
    """Whole episodes laid out as ``(n, T)`` arrays, where ``T`` is the longest episode of the batch.

    ``mask[i, t]`` is True for the steps episode ``i`` really took; rewards are 0 where it is False.
    """

    obs: np.ndarray        #: (n, T, obs_dim) features of the observations
    actions: np.ndarray    #: (n, T) ints, or (n, T, act_dim) floats for a Gaussian policy
    rewards: np.ndarray    #: (n, T) float, 0 where masked
    mask: np.ndarray       #: (n, T) bool
    lengths: np.ndarray    #: (n,) steps per episode
    env_steps: int         #: environment steps taken, the masked ones included

    @property
    def returns(self) -> np.ndarray:
        """Undiscounted return of each episode, shape (n,)."""
        return self.rewards.sum(axis=1)

    @property
    def n_episodes(self) -> int:
        return int(self.lengths.shape[0])


def _draw(logits, rng):
    """One action per row of logits: softmax, then the inverse-CDF draw of pgbook.policies."""
    return _sample_categorical(np.exp(logits - logits.max(axis=-1, keepdims=True)), rng)


def _sampler(policy, theta, rng, greedy=False):
    """A function obs_features -> actions for the rollout loop.

    For the softmax policies it is a lean copy of ``policy.sample`` (same probabilities, same
    inverse-CDF draw, so the same actions for the same ``rng``) without the per-call input checks,
    which would otherwise cost a third of the rollout time; ``theta`` is checked once here.
    """
    theta = policy.check_theta(theta)
    if greedy:
        return lambda x: _greedy(policy, theta, x)
    if isinstance(policy, LinearSoftmax) and policy.bias:
        W, b = theta[:-1], theta[-1]
        return lambda x: _draw(x @ W + b, rng)
    if isinstance(policy, MLPSoftmax):
        W1, b1, W2, b2 = policy.unpack(theta)
        return lambda x: _draw(np.tanh(x @ W1 + b1) @ W2 + b2, rng)
    return lambda x: policy.sample(theta, x, rng)


def _play_round(envs, policy, theta, rng, max_episode_steps, greedy=False, act=None):
    """Reset every sub-environment and play until each has finished its first episode.

    ``act`` (obs features -> actions) replaces the sampler built from ``policy`` and ``theta``."""
    n = envs.num_envs
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    obs, _ = envs.reset(seed=int(rng.integers(2**31 - 1)))
    obs_list, act_list, rew_list = [], [], []
    lengths = np.zeros(n, dtype=np.int64)
    running = np.ones(n, dtype=bool)
    t = 0
    if act is None:
        act = _sampler(policy, theta, rng, greedy)
    while running.any() and t < max_episode_steps:
        x = features(obs_space, obs)
        if not np.all(np.isfinite(x)):
            raise FloatingPointError("the environment returned a non-finite observation")
        actions = act(x)
        obs, reward, terminated, truncated, _ = envs.step(_env_action(action_space, actions))
        obs_list.append(x)
        act_list.append(actions)
        rew_list.append(np.where(running, np.asarray(reward, dtype=float), 0.0))
        t += 1
        lengths[running] = t
        # The step that ends an episode is its last valid step; the next one is the autoreset.
        running &= ~(np.asarray(terminated) | np.asarray(truncated))
    steps = t * n
    obs_arr = np.stack(obs_list, axis=1)
    act_arr = np.stack(act_list, axis=1)
    rew_arr = np.stack(rew_list, axis=1)
    mask = np.arange(t)[None, :] < lengths[:, None]
    return Batch(obs_arr, act_arr, rew_arr, mask, lengths, steps)


def _pad_cat(arrays, T):
    out = []
    for a in arrays:
        pad = [(0, 0), (0, T - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        out.append(np.pad(a, pad))
    return np.concatenate(out, axis=0)


def collect_batch(envs, policy, theta, rng, min_episodes: int | None = None, min_steps: int | None = None,
                  max_episode_steps: int | None = None) -> Batch:
    """Play whole episodes with ``policy(theta)`` on the vector environment ``envs``.

    Each round resets all ``envs.num_envs`` sub-environments (seeds drawn from ``rng``) and keeps
    the first episode of each, masking the autoreset step and everything after it.  Rounds are
    played until the batch has at least ``min_episodes`` episodes or ``min_steps`` valid steps.
    Returns a :class:`Batch`.
    """
    if (min_episodes is None) == (min_steps is None):
        raise ValueError("give exactly one of min_episodes and min_steps")
    if min_episodes is not None:
        check_positive_int(min_episodes, "min_episodes")
    else:
        check_positive_int(min_steps, "min_steps")
    check_rng(rng)
    cap = _episode_cap(envs, max_episode_steps)
    rounds = []
    while True:
        rounds.append(_play_round(envs, policy, theta, rng, cap))
        n_ep = sum(b.n_episodes for b in rounds)
        n_st = sum(int(b.lengths.sum()) for b in rounds)
        if (min_episodes is not None and n_ep >= min_episodes) or (min_steps is not None and n_st >= min_steps):
            break
    if len(rounds) == 1:
        return rounds[0]
    T = max(b.mask.shape[1] for b in rounds)
    return Batch(_pad_cat([b.obs for b in rounds], T), _pad_cat([b.actions for b in rounds], T),
                 _pad_cat([b.rewards for b in rounds], T), _pad_cat([b.mask for b in rounds], T),
                 np.concatenate([b.lengths for b in rounds]), sum(b.env_steps for b in rounds))


def _episode_cap(envs, max_episode_steps):
    if max_episode_steps is not None:
        return check_positive_int(max_episode_steps, "max_episode_steps")
    spec = getattr(envs, "spec", None)
    limit = getattr(spec, "max_episode_steps", None) if spec is not None else None
    return int(limit) + 1 if limit else SAFETY_MAX_EPISODE_STEPS


def _greedy(policy, theta, x):
    if isinstance(policy, LinearGaussian):
        return policy.mean_std(theta, x)[0]
    return np.argmax(policy.probs(theta, x), axis=-1)


def evaluate(policy, theta, env_id: str = "CartPole-v1", n_episodes: int = 100, seed: int = 0,
             greedy: bool = False, env_kwargs: dict | None = None, max_episode_steps: int | None = None,
             vectorization_mode: str = "auto") -> np.ndarray:
    """Undiscounted returns of ``n_episodes`` episodes of ``policy(theta)``, all played at once.

    ``greedy=True`` takes the most probable action (the mean, for a Gaussian) instead of sampling.
    ``seed`` must be a non-negative integer.  Returns an array of shape ``(n_episodes,)``.
    """
    n_episodes = check_positive_int(n_episodes, "n_episodes")
    seed = check_seed(seed, "seed")
    greedy = check_bool(greedy, "greedy")
    if not callable(getattr(policy, "check_theta", None)):
        raise ArgumentTypeError(f"policy must be a policy object such as the TrainResult's policy "
                                f"(pgbook.policies.LinearSoftmax, ...), got {type(policy).__name__}")
    theta = policy.check_theta(theta)
    envs = make_envs(env_id, n_episodes, vectorization_mode, env_kwargs)
    try:
        rng = np.random.default_rng([seed, 1])
        batch = _play_round(envs, policy, theta, rng, _episode_cap(envs, max_episode_steps), greedy=greedy)
    finally:
        envs.close()
    return batch.returns


# ------------------------------------------------------------------------------------ gradient
def _score(policy, theta, batch):
    """Per-step scores, (n, T, *theta_shape), zero where masked."""
    actions = batch.actions
    if isinstance(policy, (LinearSoftmax, MLPSoftmax)):
        actions = np.where(batch.mask, actions, 0)
    s = policy.score(theta, batch.obs, actions)
    return s * batch.mask.reshape(batch.mask.shape + (1,) * (s.ndim - 2))


def _psi(batch, gamma, reward_to_go):
    g = returns_to_go(batch.rewards, gamma, batch.mask)
    if reward_to_go:
        return g
    return np.where(batch.mask, g[:, :1], 0.0)


def _leave_one_out_mean(psi, mask):
    """For each episode, the mean of psi over the valid steps of the *other* episodes."""
    sums = np.where(mask, psi, 0.0).sum(axis=1)
    counts = mask.sum(axis=1)
    other = np.maximum(counts.sum() - counts, 1)
    return (sums.sum() - sums) / other


def _value_features(batch):
    n, T, _ = batch.obs.shape
    return np.concatenate([batch.obs, np.ones((n, T, 1))], axis=-1)


def _fit_value(batch, psi, ridge=1e-3):
    X = _value_features(batch)[batch.mask]
    y = psi[batch.mask]
    A = X.T @ X + ridge * np.eye(X.shape[1])
    return np.linalg.solve(A, X.T @ y)


def _gradient_samples(score, batch, psi, config, baseline_nt):
    """One gradient sample per episode via pgbook.estimators.policy_gradient_samples."""
    if config.normalise_returns:
        adv = psi - baseline_nt
        vals = adv[batch.mask]
        scaled = (adv - vals.mean()) / (vals.std() + 1e-8)
        # Psi - b_eff = scaled advantage: normalisation is a shift (a baseline) and a rescaling.
        baseline_nt = np.where(batch.mask, psi - scaled, 0.0)
    return policy_gradient_samples(score, batch.rewards, batch.mask, config.gamma,
                                   reward_to_go=config.reward_to_go,
                                   discount_weighting=config.discount_weighting,
                                   baseline=baseline_nt)


def _variance(samples):
    """Trace of the covariance of the per-episode gradient samples (sum of per-coordinate variances)."""
    flat = samples.reshape(samples.shape[0], -1)
    return float(flat.var(axis=0, ddof=1).sum())


# ------------------------------------------------------------------------------------ training
@dataclass
class TrainResult(RunResult):
    """What :func:`train` returns: a :class:`pgbook.training.RunResult` with the run's ``config``,
    its ``policy`` object and ``env_steps``, the environment steps it took.

    ``history`` holds one dict of metrics per iteration (see :func:`train`); ``status`` is
    ``"budget"`` (a budget ran out), ``"callback"`` (the callback asked to stop), ``"diverged"``
    (then ``message`` says what to change and ``theta`` holds the last finite parameters) or
    ``"collapsed"`` (the policy became deterministic while its return was poor; ``message`` says
    what to change).
    """

    config: ReinforceConfig
    policy: object
    env_steps: int

    def curve(self, key: str = "return_mean") -> np.ndarray:
        """The metric ``key`` (default: the batch's mean return) over iterations as a float array."""
        return super().curve(key)

    def evaluate(self, n_episodes: int = 100, seed: int = 0, greedy: bool = False) -> np.ndarray:
        """Undiscounted returns of ``n_episodes`` fresh episodes with the final parameters."""
        c = self.config
        return evaluate(self.policy, self.theta, c.env_id, n_episodes, seed, greedy, c.env_kwargs,
                        c.max_episode_steps, c.vectorization_mode)


def _divergence_message(what: str, config: ReinforceConfig, iteration: int) -> str:
    hint = learning_rate_hint(config.learning_rate)
    if config.optimiser == "sgd":
        hint += ", or switch to optimiser='adam', whose steps are bounded by the learning rate"
    if not config.normalise_returns:
        hint += ", or set normalise_returns=True"
    return (f"training diverged at iteration {iteration}: {what} became NaN or infinite. "
            f"To fix it, {hint}. The result keeps the last finite parameters.")


def _reward_threshold(env_id: str):
    """gymnasium's ``reward_threshold`` of ``env_id`` (the return that counts as solving it), or None."""
    try:
        value = gymnasium.spec(env_id).reward_threshold
    except gymnasium.error.Error:  # unknown ids are reported by make_envs
        return None
    return None if value is None else float(value)


def _collapse_watch(config: ReinforceConfig) -> CollapseWatch:
    """The run's :class:`CollapseWatch`; its target is the environment's ``reward_threshold``, used only
    under the environment's own time limit (a shorter ``max_episode_steps`` may put it out of reach)."""
    target = _reward_threshold(config.env_id) if config.max_episode_steps is None else None
    return CollapseWatch(target=target, target_name=f"the reward_threshold of {config.env_id}")


def _collapse_hint(config: ReinforceConfig) -> str:
    hint = learning_rate_hint(config.learning_rate)
    if config.init_scale > 0:
        hint += f", or lower init_scale (now {config.init_scale:g}) so that the first policy is less sure"
    return hint


def _policy_spread(policy, theta, batch):
    """Mean entropy of the policy over the batch's steps and, for a softmax policy, the mean of
    ``1 - max_a pi(a|s)`` (None for a Gaussian, whose entropy does not depend on the state)."""
    if isinstance(policy, LinearGaussian):
        return float(np.sum(theta[-1] + 0.5 * np.log(2 * np.pi * np.e))), None
    log_p = log_softmax(policy.logits(theta, batch.obs[batch.mask]))
    p = np.exp(log_p)
    entropy = float(-(p * log_p).sum(axis=-1).mean())
    return entropy, float((1.0 - p.max(axis=-1)).mean())


class _Learner:
    """The state of one REINFORCE run (policy, parameters, optimiser, value baseline) and its update.

    :func:`train` drives one learner; :func:`train_many` drives several on one shared vector
    environment.  :meth:`update` takes one batch and returns the metrics of that iteration, or
    None after setting ``status`` and ``message`` if something stopped being finite.  If the run
    collapses (:class:`CollapseWatch`) it returns the metrics and sets ``status`` to "collapsed".
    """

    def __init__(self, config, policy, rng):
        self.config = config
        self.policy = policy
        self.theta = policy.init_theta(rng, config.init_scale)
        self.step_rule = make_optimiser(config.optimiser, self.theta.shape, config.learning_rate)
        self.value_w = None
        self.history: list = []
        self.status, self.message = "budget", ""
        self.env_steps = 0
        self.watch = _collapse_watch(config)

    def diverge(self, what: str, iteration: int):
        self.status, self.message = "diverged", _divergence_message(what, self.config, iteration)

    def update(self, batch: Batch, iteration: int, start: float, cpu_start: float):
        config, policy, theta = self.config, self.policy, self.theta
        self.env_steps += batch.env_steps
        returns = batch.returns
        if not np.all(np.isfinite(returns)):
            self.diverge("the returns", iteration)
            return None
        psi = _psi(batch, config.gamma, config.reward_to_go)
        n, T = batch.mask.shape
        try:
            with np.errstate(all="ignore"):  # non-finite scores are caught just below
                score = _score(policy, theta, batch)
                if config.baseline == "none":
                    base = None
                elif config.baseline == "batch-mean":
                    base = np.repeat(_leave_one_out_mean(psi, batch.mask)[:, None], T, axis=1)
                else:
                    base = np.zeros((n, T)) if self.value_w is None else _value_features(batch) @ self.value_w
                base_nt = np.zeros((n, T)) if base is None else np.where(batch.mask, base, 0.0)
                samples = _gradient_samples(score, batch, psi, config, base_nt)
                grad = samples.mean(axis=0)
                entropy, non_greedy = _policy_spread(policy, theta, batch)
        except NonFiniteError:  # the policy or the estimator refuses non-finite logits, scores or baselines
            samples = np.array([np.nan])
        if not np.all(np.isfinite(samples)):
            self.diverge("the gradient", iteration)
            return None
        with np.errstate(all="ignore"):
            step = self.step_rule.step(grad)
            new_theta = theta + step
        if not np.all(np.isfinite(new_theta)):
            self.diverge("the parameters", iteration)
            return None
        self.theta = theta = new_theta
        if config.baseline == "value":
            self.value_w = _fit_value(batch, psi)
        lengths = batch.lengths.astype(float)
        return_std = float(returns.std(ddof=1)) if n > 1 else 0.0
        metrics = {
            "iteration": iteration,
            "env_steps": self.env_steps,
            "wall_time": time.perf_counter() - start,
            "cpu_time": time.process_time() - cpu_start,
            "episodes": n,
            "return_mean": float(returns.mean()),
            "return_std": return_std,
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
            "length_mean": float(lengths.mean()),
            "length_std": float(lengths.std(ddof=1)) if n > 1 else 0.0,
            "grad_norm": float(np.linalg.norm(grad)),
            "grad_variance": _variance(samples),
            "grad_variance_of_mean": _variance(samples) / n,
            "entropy": entropy,
            "theta": theta.copy(),
        }
        if non_greedy is not None:
            metrics["non_greedy_prob"] = non_greedy
        if config.measure_variants:
            plain = config.replace(normalise_returns=False)
            zeros = np.zeros((n, T))
            full = policy_gradient_samples(score, batch.rewards, batch.mask, config.gamma, reward_to_go=False,
                                           discount_weighting=config.discount_weighting, baseline=zeros)
            rtg_psi = _psi(batch, config.gamma, True)
            rtg = _gradient_samples(score, batch, rtg_psi, plain.replace(reward_to_go=True), zeros)
            if config.reward_to_go and config.baseline != "none":
                third = base_nt  # the run's own baseline
            else:
                loo = np.repeat(_leave_one_out_mean(rtg_psi, batch.mask)[:, None], T, axis=1)
                third = np.where(batch.mask, loo, 0.0)
            based = _gradient_samples(score, batch, rtg_psi, plain.replace(reward_to_go=True), third)
            metrics["grad_variance_full_return"] = _variance(full)
            metrics["grad_variance_reward_to_go"] = _variance(rtg)
            metrics["grad_variance_baseline"] = _variance(based)
        self.history.append(metrics)
        if self.watch.observe(iteration, metrics["return_mean"], non_greedy, return_std / np.sqrt(n)):
            self.status, self.message = "collapsed", self.watch.message(iteration, _collapse_hint(config))
        return metrics

    def result(self, start: float) -> TrainResult:
        return TrainResult(theta=self.theta, history=self.history, status=self.status, message=self.message,
                           wall_time=time.perf_counter() - start, config=self.config, policy=self.policy,
                           env_steps=self.env_steps)


def train(config: ReinforceConfig | None = None, callback: Callable[[dict], bool | None] | None = None,
          **overrides) -> TrainResult:
    """Train a policy with REINFORCE.

    Parameters
    ----------
    config : ReinforceConfig, optional
        All settings (default: ``ReinforceConfig()``); keyword ``overrides`` replace fields.
    callback : callable, optional
        Called after every iteration with the metrics dict of that iteration; returning True stops
        the run (``status="callback"``).

    Metrics per iteration: ``iteration``, ``env_steps`` (total so far, masked autoreset steps
    included), ``wall_time`` (seconds since the start), ``cpu_time`` (CPU seconds of this process
    since the start: the fairer clock when other programs share the machine), ``episodes``, ``return_mean``,
    ``return_std``, ``return_min``, ``return_max`` (undiscounted returns of the batch, played
    with the parameters *before* this iteration's update), ``length_mean``, ``length_std``,
    ``grad_norm`` (Euclidean norm of the averaged gradient), ``grad_variance`` (trace of the
    covariance of the per-episode gradient samples), ``grad_variance_of_mean`` (the same divided
    by the number of episodes: the variance of the gradient estimate used in the step), and with
    ``measure_variants`` also ``grad_variance_full_return``, ``grad_variance_reward_to_go`` and
    ``grad_variance_baseline`` measured on the same batch.  ``theta`` is a copy of the parameters
    after the update (the only entry that is not a number).

    A softmax policy also reports ``entropy`` (mean over the batch's steps of the entropy of
    :math:`\\pi(\\cdot\\mid s)`, in nats) and ``non_greedy_prob`` (mean of :math:`1 - \\max_a \\pi(a\\mid s)`);
    a Gaussian policy reports its ``entropy`` (differential, the same in every state).

    Returns a :class:`TrainResult`.  If parameters, returns or gradients stop being finite the
    run stops (``status="diverged"``), warns with :class:`TrainingDivergedWarning` and the
    result's ``message`` says what to change.  If the policy turns deterministic while its return
    is poor (see :class:`CollapseWatch`) the run stops (``status="collapsed"``) and warns with
    :class:`TrainingCollapsedWarning`, whose message says what to change.
    """
    config = _config_with(config, overrides)
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback must be a function of the metrics dict (or None), got {type(callback).__name__}")
    start = time.perf_counter()
    cpu_start = time.process_time()
    rng = np.random.default_rng([int(config.seed), 0])
    envs = make_envs(config.env_id, config.envs_per_round, config.vectorization_mode, config.env_kwargs)
    bar = None
    learner = None
    try:
        obs_space, action_space = envs.single_observation_space, envs.single_action_space
        learner = _Learner(config, make_policy(config, obs_space, action_space), rng)
        if config.progress is None or config.progress:
            from tqdm.auto import tqdm
            total = config.max_env_steps if config.max_env_steps is not None else None
            bar = tqdm(total=total, unit="step", desc=f"REINFORCE {config.env_id}", leave=False,
                       delay=0 if config.progress else 2.0, disable=config.progress is False)
        for iteration in range(1, config.max_iterations + 1):
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    batch = collect_batch(envs, learner.policy, learner.theta, rng,
                                          min_episodes=config.batch_episodes,
                                          min_steps=None if config.batch_episodes else config.batch_steps,
                                          max_episode_steps=config.max_episode_steps)
            except (FloatingPointError, NonFiniteError):
                learner.diverge("the policy's actions or observations", iteration)
                break
            metrics = learner.update(batch, iteration, start, cpu_start)
            if metrics is None:
                break
            if bar is not None:
                bar.update(batch.env_steps)
                bar.set_postfix(ret=f"{metrics['return_mean']:.1f}", refresh=False)
            stop = callback is not None and callback(metrics)
            if learner.status == "collapsed":
                break
            if stop:
                learner.status = "callback"
                break
            if config.max_env_steps is not None and learner.env_steps >= config.max_env_steps:
                break
            if config.max_seconds is not None and metrics["wall_time"] >= config.max_seconds:
                break
    finally:
        envs.close()
        if bar is not None:
            bar.close()
    if learner.status == "diverged":
        warnings.warn(learner.message, TrainingDivergedWarning, stacklevel=2)
    if learner.status == "collapsed":
        warnings.warn(learner.message, TrainingCollapsedWarning, stacklevel=2)
    return learner.result(start)


def _config_with(config, overrides) -> ReinforceConfig:
    """``config`` (default ``ReinforceConfig()``) with keyword ``overrides``, validated."""
    if config is None:
        config = ReinforceConfig()
    if not isinstance(config, ReinforceConfig):
        raise ArgumentTypeError(f"config must be a ReinforceConfig (or None), got {type(config).__name__}; "
                                "pass settings as keywords, e.g. train(learning_rate=0.1)")
    if overrides:
        config = config.replace(**overrides)
    return config.validate()


def _joint_sampler(policies, thetas, n, rng):
    """Actions for ``len(thetas)`` runs stepped together, ``n`` environments each (rows run-major)."""
    checked = [p.check_theta(t) for p, t in zip(policies, thetas)]
    if all(isinstance(p, LinearSoftmax) and p.bias for p in policies):
        W = np.stack([t[:-1] for t in checked])          # (runs, obs_dim, actions)
        b = np.stack([t[-1] for t in checked])[:, None]  # (runs, 1, actions)
        def act(x):
            logits = np.einsum("snd,sda->sna", x.reshape(len(checked), n, -1), W) + b
            return _draw(logits.reshape(len(checked) * n, -1), rng)
        return act
    samplers = [_sampler(p, t, rng) for p, t in zip(policies, checked)]
    return lambda x: np.concatenate([f(x[k * n:(k + 1) * n]) for k, f in enumerate(samplers)])


def _split_batch(batch: Batch, runs: int) -> list:
    """Cut a batch of ``runs * n`` episodes (run-major) into one Batch per run, each trimmed to its
    own longest episode; ``env_steps`` counts what that run alone would have stepped."""
    n = batch.n_episodes // runs
    parts = []
    for k in range(runs):
        rows = slice(k * n, (k + 1) * n)
        lengths = batch.lengths[rows]
        T = int(lengths.max())
        parts.append(Batch(batch.obs[rows, :T], batch.actions[rows, :T], batch.rewards[rows, :T],
                           batch.mask[rows, :T], lengths, n * T))
    return parts


def train_many(config: ReinforceConfig | None = None, seeds=(0, 1, 2, 3, 4), *, configs=None,
               **overrides) -> list:
    """Independent REINFORCE runs, one per seed (or per config), played together on one vector environment.

    Every run has its own initial parameters (drawn from its seed), its own optimiser and its own
    baseline, and learns only from its own ``batch_episodes`` episodes per iteration, exactly as
    :func:`train` would.  The only thing shared is the simulator: one ``gymnasium.make_vec`` with
    ``runs * batch_episodes`` copies steps the episodes of all runs in lockstep, so the Python loop
    over time steps is paid once instead of once per run.  With CartPole's native vector
    environment twenty runs cost a few times one, not twenty.

    Give either ``config`` (plus keyword ``overrides``) and ``seeds``, for one run per seed, or
    ``configs``, a list of configs to run side by side (for example two baselines and many seeds);
    these must agree on the environment, ``batch_episodes`` and ``max_episode_steps``.

    The runs are statistically the same as :func:`train` runs but not number for number (the
    environment and the action draws use one shared generator seeded from all the seeds); the same
    arguments give the same runs.  Batching by steps, ``max_seconds`` and callbacks are not
    supported.  Returns a list of :class:`TrainResult` in the order of the seeds (or configs);
    each run's ``env_steps`` counts the steps it would have taken alone, ``wall_time`` the shared clock.
    """
    if configs is None:
        config = _config_with(config, overrides)
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
            raise ArgumentTypeError(f"seeds must be a sequence of non-negative integers, got {type(seeds).__name__}")
        seeds = [check_seed(s, "each seed in seeds") for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be a non-empty sequence of distinct non-negative integers, got {seeds!r}")
        configs = [config.replace(seed=s) for s in seeds]
    else:
        if isinstance(configs, ReinforceConfig) or not hasattr(configs, "__iter__"):
            raise ArgumentTypeError(f"configs must be a list of ReinforceConfig, got {type(configs).__name__}")
        configs = list(configs)
        if config is not None or overrides or not configs:
            raise ValueError("give either config (with seeds and overrides) or a non-empty list of configs, not both")
    for c in configs:
        if not isinstance(c, ReinforceConfig):
            raise ArgumentTypeError(f"configs must hold ReinforceConfig objects, got a {type(c).__name__}")
        c.validate()
        if c.batch_episodes is None:
            raise ValueError("train_many needs batch_episodes (batching by steps is not supported)")
        if c.max_seconds is not None:
            raise ValueError("train_many does not support max_seconds; use max_iterations or max_env_steps")
    shared = ("env_id", "env_kwargs", "vectorization_mode", "batch_episodes", "max_episode_steps")
    first = configs[0]
    for c in configs[1:]:
        for name in shared:
            if getattr(c, name) != getattr(first, name):
                raise ValueError(f"every config of train_many must have the same {name}: "
                                 f"got {getattr(first, name)!r} and {getattr(c, name)!r}")
    n, runs = first.batch_episodes, len(configs)
    start, cpu_start = time.perf_counter(), time.process_time()
    shared_rng = np.random.default_rng([*(int(c.seed) for c in configs), runs, 2])
    envs = make_envs(first.env_id, runs * n, first.vectorization_mode, first.env_kwargs)
    try:
        obs_space, action_space = envs.single_observation_space, envs.single_action_space
        learners = [_Learner(c, make_policy(c, obs_space, action_space), np.random.default_rng([int(c.seed), 0]))
                    for c in configs]
        cap = _episode_cap(envs, first.max_episode_steps)
        for iteration in range(1, max(c.max_iterations for c in configs) + 1):
            active = [ln for ln in learners if ln.status == "budget" and not _spent(ln, iteration)]
            if not active:
                break
            # runs that stopped keep playing with their last parameters; their episodes are ignored
            sampler = _joint_sampler([ln.policy for ln in learners], [ln.theta for ln in learners], n, shared_rng)
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    batch = _play_round(envs, None, None, shared_rng, cap, act=sampler)
            except (FloatingPointError, NonFiniteError):
                for ln in active:
                    ln.diverge("the policy's actions or observations", iteration)
                break
            for ln, part in zip(learners, _split_batch(batch, runs)):
                if ln in active:
                    ln.update(part, iteration, start, cpu_start)
    finally:
        envs.close()
    for ln in learners:
        if ln.status == "diverged":
            warnings.warn(f"seed {ln.config.seed}: {ln.message}", TrainingDivergedWarning, stacklevel=2)
        if ln.status == "collapsed":
            warnings.warn(f"seed {ln.config.seed}: {ln.message}", TrainingCollapsedWarning, stacklevel=2)
    return [ln.result(start) for ln in learners]


def _spent(learner, iteration: int) -> bool:
    """True once a run has used up its iteration or environment-step budget."""
    budget = learner.config.max_env_steps
    return iteration > learner.config.max_iterations or (budget is not None and learner.env_steps >= budget)


def time_to_solve(config: ReinforceConfig | None = None, target: float = 475.0, n_eval: int = 100,
                  eval_seed: int = 12345, **overrides) -> dict:
    """Train until the policy is *solved*: the mean undiscounted return of ``n_eval`` fresh
    evaluation episodes (sampled actions) reaches ``target``.

    The evaluation is run only after an iteration whose batch mean return reaches ``target``, and
    its time is not counted as training time.  Returns a dict with ``solved`` (bool),
    ``seconds`` (training wall time, evaluation excluded), ``cpu_seconds`` (the same in CPU time
    of this process), ``env_steps`` (training steps),
    ``iterations``, ``eval_return`` (the last evaluation's mean, NaN if none ran) and ``result``
    (the :class:`TrainResult`).
    """
    config = _config_with(config, overrides)
    target = check_finite_real(target, "target")
    n_eval = check_positive_int(n_eval, "n_eval")
    eval_seed = check_seed(eval_seed, "eval_seed")
    state = {"eval_time": 0.0, "eval_cpu": 0.0, "eval_return": float("nan"), "solved": False, "policy": None}
    probe_policy = {}

    def callback(metrics):
        if metrics["return_mean"] < target:
            return False
        t0, c0 = time.perf_counter(), time.process_time()
        if "policy" not in probe_policy:
            envs = make_envs(config.env_id, 1, config.vectorization_mode, config.env_kwargs)
            probe_policy["policy"] = make_policy(config, envs.single_observation_space, envs.single_action_space)
            envs.close()
        returns = evaluate(probe_policy["policy"], metrics["theta"], config.env_id, n_eval,
                           eval_seed + metrics["iteration"], False, config.env_kwargs,
                           config.max_episode_steps, config.vectorization_mode)
        state["eval_time"] += time.perf_counter() - t0
        state["eval_cpu"] += time.process_time() - c0
        state["eval_return"] = float(returns.mean())
        state["solved"] = state["eval_return"] >= target
        return state["solved"]

    result = train(config, callback)
    last = result.history[-1] if result.history else {"wall_time": 0.0, "cpu_time": 0.0}
    return {
        "solved": state["solved"],
        "seconds": float(last["wall_time"]) - state["eval_time"],
        "cpu_seconds": float(last["cpu_time"]) - state["eval_cpu"],
        "env_steps": result.env_steps,
        "iterations": result.iterations,
        "eval_return": state["eval_return"],
        "result": result,
    }
