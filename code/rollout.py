r"""Playing whole episodes in gymnasium vector environments.

:func:`collect_episodes` plays a batch of whole episodes with a policy, many environments at
once (through ``gymnasium.make_vec``), and returns them as :class:`pgbook.episodes.Episodes`;
:func:`evaluate` plays fresh episodes and returns their undiscounted returns.

**The autoreset step.** gymnasium 1.x vector environments reset a finished sub-environment on
the *next* call to ``step``: that call ignores the action, returns the first observation of a
new episode and a reward of 0.  Each round (:func:`play_round`) starts every environment
from ``reset`` and keeps exactly the first episode of each: the step at which an episode ends
is its last valid step; the autoreset step after it and everything later is masked out
(``mask`` False, reward 0), so it contributes neither reward nor score.

**Observations and actions.** ``Box`` observations are used as they are (flattened);
``Discrete`` observations become one-hot vectors (:func:`features`); the episodes' ``states``
are these feature vectors.  ``Discrete`` actions are shifted by the space's ``start``; the
actions of a one-dimensional ``Box`` are clipped to its bounds for the environment only (the
episodes keep the sampled action, which is what the score needs).
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from ._validate import (ArgumentTypeError, check_bool, check_choice, check_env_id, check_positive_int,
                        check_rng, check_seed)
from .episodes import Episodes
from .mlp import MLPSoftmax
from .policies import LinearGaussian, LinearSoftmax, sample_categorical

__all__ = [
    "make_envs",
    "features",
    "obs_dim",
    "collect_episodes",
    "play_round",
    "sampler",
    "joint_sampler",
    "episode_cap",
    "evaluate",
    "VECTORIZATION_MODES",
]

#: How :func:`make_envs` builds the vector environment.
VECTORIZATION_MODES = ("auto", "vector_entry_point", "sync")
#: Longest episode a round will wait for when the environment sets no time limit.
SAFETY_MAX_EPISODE_STEPS = 10_000


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
    raise ValueError(space_message("observation", obs_space))


def obs_dim(obs_space) -> int:
    """Length of the feature vector of one observation (see :func:`features`)."""
    if isinstance(obs_space, spaces.Discrete):
        return int(obs_space.n)
    if isinstance(obs_space, spaces.Box):
        return int(np.prod(obs_space.shape))
    raise ValueError(space_message("observation", obs_space))


def space_message(kind: str, space) -> str:
    what = ("Discrete or a Box" if kind == "observation" else "Discrete or a one-dimensional Box")
    return (f"unsupported {kind} space {space!r}: the REINFORCE trainer needs a {what} {kind} space "
            f"(wrap the environment, e.g. with gymnasium.wrappers.FlattenObservation, or pick another env_id)")


def make_envs(env_id: str, num_envs: int, vectorization_mode: str = "auto", env_kwargs: dict | None = None):
    """``gymnasium.make_vec`` with the native vector environment where one exists ("auto"), else "sync"."""
    check_env_id(env_id)
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


def _draw(logits, rng):
    """One action per row of logits: softmax, then the inverse-CDF draw of pgbook.policies."""
    return sample_categorical(np.exp(logits - logits.max(axis=-1, keepdims=True)), rng)


def sampler(policy, theta, rng, greedy=False):
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


def play_round(envs, policy, theta, rng, max_episode_steps, greedy=False, act=None) -> Episodes:
    """Reset every sub-environment and play until each has finished its first episode (or
    ``max_episode_steps`` steps have passed): one episode per sub-environment.

    ``act`` (obs features -> actions) replaces the sampler built from ``policy`` and ``theta``."""
    n = envs.num_envs
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    obs, _ = envs.reset(seed=int(rng.integers(2**31 - 1)))
    obs_list, act_list, rew_list = [], [], []
    lengths = np.zeros(n, dtype=np.int64)
    running = np.ones(n, dtype=bool)
    t = 0
    if act is None:
        act = sampler(policy, theta, rng, greedy)
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
    return Episodes(states=obs_arr, actions=act_arr, rewards=rew_arr, mask=mask, env_steps=steps)


def _pad_cat(arrays, T):
    out = []
    for a in arrays:
        pad = [(0, 0), (0, T - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        out.append(np.pad(a, pad))
    return np.concatenate(out, axis=0)


def collect_episodes(envs, policy, theta, rng, min_episodes: int | None = None, min_steps: int | None = None,
                     max_episode_steps: int | None = None) -> Episodes:
    """Play whole episodes with ``policy(theta)`` on the vector environment ``envs``.

    Each round resets all ``envs.num_envs`` sub-environments (seeds drawn from ``rng``) and keeps
    the first episode of each, masking the autoreset step and everything after it.  Rounds are
    played until the batch has at least ``min_episodes`` episodes or ``min_steps`` valid steps.
    Returns :class:`pgbook.episodes.Episodes` whose ``states`` are the observations' features
    (:func:`features`) and whose ``env_steps`` counts every step taken, masked ones included.
    """
    if (min_episodes is None) == (min_steps is None):
        raise ValueError("give exactly one of min_episodes and min_steps")
    if min_episodes is not None:
        check_positive_int(min_episodes, "min_episodes")
    else:
        check_positive_int(min_steps, "min_steps")
    check_rng(rng)
    cap = episode_cap(envs, max_episode_steps)
    rounds = []
    while True:
        rounds.append(play_round(envs, policy, theta, rng, cap))
        n_ep = sum(b.n for b in rounds)
        n_st = sum(int(b.lengths.sum()) for b in rounds)
        if (min_episodes is not None and n_ep >= min_episodes) or (min_steps is not None and n_st >= min_steps):
            break
    if len(rounds) == 1:
        return rounds[0]
    T = max(b.mask.shape[1] for b in rounds)
    return Episodes(states=_pad_cat([b.states for b in rounds], T), actions=_pad_cat([b.actions for b in rounds], T),
                    rewards=_pad_cat([b.rewards for b in rounds], T), mask=_pad_cat([b.mask for b in rounds], T),
                    env_steps=sum(b.env_steps for b in rounds))


def episode_cap(envs, max_episode_steps=None) -> int:
    """The most steps a round waits for: ``max_episode_steps`` if given, else one more than the
    environment's time limit (room for the autoreset step), else 10 000."""
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
        batch = play_round(envs, policy, theta, rng, episode_cap(envs, max_episode_steps), greedy=greedy)
    finally:
        envs.close()
    return batch.returns


def joint_sampler(policies, thetas, n, rng):
    """Actions for ``len(thetas)`` runs stepped together, ``n`` environments each (rows run-major)."""
    checked = [p.check_theta(t) for p, t in zip(policies, thetas)]
    if all(isinstance(p, LinearSoftmax) and p.bias for p in policies):
        W = np.stack([t[:-1] for t in checked])          # (runs, obs_dim, actions)
        b = np.stack([t[-1] for t in checked])[:, None]  # (runs, 1, actions)
        def act(x):
            logits = np.einsum("snd,sda->sna", x.reshape(len(checked), n, -1), W) + b
            return _draw(logits.reshape(len(checked) * n, -1), rng)
        return act
    samplers = [sampler(p, t, rng) for p, t in zip(policies, checked)]
    return lambda x: np.concatenate([f(x[k * n:(k + 1) * n]) for k, f in enumerate(samplers)])


