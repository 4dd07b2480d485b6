r"""REINFORCE, in numpy, with analytic gradients: the config, the learner and the two trainers.

One iteration of :func:`train`

1. plays a batch of whole episodes with the current policy, many environments at once
   (:func:`pgbook.rollout.collect_episodes`);
2. turns the batch into one gradient sample per episode with the book's estimator
   :func:`pgbook.estimators.policy_gradient_samples`,

   .. math::

      \hat g_i = \sum_t w_t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, (\Psi_t - b_t),

   where :math:`\Psi_t` is the full return :math:`R(\tau)` or the reward-to-go :math:`G_t`,
   :math:`b_t` a baseline (:meth:`Learner.baseline`) and :math:`w_t = \gamma^t` or 1
   (:math:`w_t = 1` for the full return); which gradient the mean of :math:`\hat g_i` is
   (:math:`\nabla J_\gamma`, :math:`\nabla J_1` or neither) is told by
   :func:`pgbook.estimators.estimand` and the fields of :class:`ReinforceConfig`;
3. averages the samples, :math:`\hat g = \frac1n \sum_i \hat g_i`, and takes one ascent step
   (plain SGD or Adam, :meth:`Learner.step`).

Everything is set in one :class:`ReinforceConfig`; :func:`train` returns a :class:`TrainResult`
with the final parameters and one row of metrics per iteration (also passed to a callback).
:func:`train_tabular` is the same algorithm on a tabular MDP, with episodes sampled by
:func:`pgbook.mdp.sample_trajectories`.  Several runs at once: :mod:`pgbook.experiments`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from ._validate import (ArgumentTypeError, NonFiniteError, check_bool, check_choice, check_env_id, check_gamma,
                        check_mdp, check_nonnegative, check_positive, check_positive_int, check_rng, check_seed)
from .baselines import fit_linear_value, leave_one_out_mean, linear_value
from .episodes import Episodes
from .estimators import (discounted_return, policy_gradient_samples, psi, step_scores, step_weights,
                         trajectory_gradient_samples)
from .mlp import MLPSoftmax
from .optim import make_optimiser
from .mdp import J_exact, optimal_values, sample_trajectories
from .policies import LinearGaussian, LinearSoftmax, TabularSoftmax, log_softmax
from .rollout import VECTORIZATION_MODES, collect_episodes, episode_cap, evaluate, make_envs, obs_dim, space_message
from .training import (CollapseWatch, Config, RunResult, TracedResult, TrainingCollapsedWarning, TrainingDivergedWarning,
                       divergence_message, learning_rate_hint)

__all__ = [
    "RunConfig",
    "ReinforceConfig",
    "TrainResult",
    "Learner",
    "train",
    "make_policy",
    "run_learner",
    "normalised",
    "policy_spread",
    "train_tabular",
    "TabularResult",
    "TABULAR_BASELINES",
    "BASELINES",
    "OPTIMISERS",
]

#: The values of :attr:`ReinforceConfig.baseline`.
BASELINES = ("none", "batch-mean", "value")
#: The values of :attr:`RunConfig.optimiser`.
OPTIMISERS = ("adam", "sgd")
POLICIES = ("linear", "mlp")
#: Ridge of the least-squares fit of the ``"value"`` baseline.
VALUE_RIDGE = 1e-3


@dataclass
class RunConfig(Config):
    """The settings every gymnasium trainer of the book shares: the environment, the policy, the
    step rule, the discount, the seed and the budgets.  :class:`ReinforceConfig` and
    :class:`pgbook.actor_critic.ActorCriticConfig` add their own fields to these."""

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
    progress: bool | None = None
    """Progress bar: True, False, or None (a tqdm.auto bar that appears if the run lasts over 2 s)."""
    batch_episodes: int | None = 16
    """Episodes per iteration (one per parallel environment), at least 2."""

    #: Whether ``batch_episodes=None`` (batches of a number of steps instead) is allowed.
    batches_by_steps: ClassVar[bool] = False
    #: Whether the trainer needs a Discrete action space (a softmax policy).
    needs_discrete_actions: ClassVar[bool] = False

    def validate(self):
        """Raise an error naming the first shared field with a bad value; return self."""
        check_env_id(self.env_id)
        if not isinstance(self.env_kwargs, dict):
            raise ArgumentTypeError(f"env_kwargs must be a dict of keyword arguments for the environment, "
                                    f"got {type(self.env_kwargs).__name__}")
        check_choice(self.policy, POLICIES, "policy")
        check_positive_int(self.hidden, "hidden")
        check_nonnegative(self.init_scale, "init_scale")
        check_positive(self.learning_rate, "learning_rate")
        check_choice(self.optimiser, OPTIMISERS, "optimiser")
        check_gamma(self.gamma, "gamma")
        check_seed(self.seed, "seed")
        check_positive_int(self.max_iterations, "max_iterations")
        if self.max_env_steps is not None:
            check_positive_int(self.max_env_steps, "max_env_steps")
        if self.max_seconds is not None:
            check_positive(self.max_seconds, "max_seconds")
        if self.max_episode_steps is not None:
            check_positive_int(self.max_episode_steps, "max_episode_steps")
        check_choice(self.vectorization_mode, VECTORIZATION_MODES, "vectorization_mode")
        if self.batch_episodes is None:
            if not self.batches_by_steps:
                raise ValueError(f"batch_episodes must be an integer of at least 2 ({type(self).__name__} "
                                 f"batches whole episodes), got None")
        else:
            check_positive_int(self.batch_episodes, "batch_episodes")
            if self.batch_episodes < 2:
                raise ValueError("batch_episodes must be at least 2 (the variance estimate needs two episodes)")
        if self.progress is not None and not isinstance(self.progress, (bool, np.bool_)):
            raise ArgumentTypeError(f"progress must be True, False or None, got {type(self.progress).__name__} "
                                    f"{self.progress!r}")
        return self

    @property
    def envs_per_round(self) -> int:
        """Number of environments stepped together: one per episode of the batch."""
        return self.batch_episodes

    def trainer(self) -> Callable:
        """The function that trains with this kind of config, ``trainer(config, callback)``
        (:func:`train` for a :class:`ReinforceConfig`); :func:`pgbook.experiments.time_to_solve` calls it."""
        raise NotImplementedError(f"{type(self).__name__} does not name its trainer")

    def learner(self, policy, rng: np.random.Generator, horizon: int) -> "Learner":
        """A learner for one run with this config, its policy, its generator and the episode cap
        ``horizon``; :func:`pgbook.experiments.train_many` drives several side by side."""
        raise NotImplementedError(f"{type(self).__name__} does not name its learner")


@dataclass
class ReinforceConfig(RunConfig):
    """Every setting of a REINFORCE run.

    The defaults (linear softmax on CartPole-v1, Adam with learning rate 0.2, 16 episodes per batch,
    reward-to-go with a learned linear state-value baseline) solve CartPole-v1 in about 100 000
    environment steps, roughly a second of training on one core; see ``benchmarks/reinforce_cartpole.py``.

    ``ReinforceConfig(learning_rate=0.1)`` changes one field; ``config.replace(...)`` returns a
    modified copy; :meth:`validate` (called by :func:`train`) raises a ValueError naming any bad field.
    """

    batch_episodes: int | None = 16
    """Episodes per iteration (one per parallel environment). Set it to None to batch by steps instead."""
    batches_by_steps: ClassVar[bool] = True
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
    measure_variants: bool = False
    """Also measure, on every batch, the gradient variance of the three classic variants: full return,
    reward-to-go, and reward-to-go minus a baseline (the run's own baseline if it uses reward-to-go
    and one, else the leave-one-out batch mean). Same batch, same parameters: a fair comparison."""

    def validate(self) -> "ReinforceConfig":
        """Raise an error naming the first field with a bad value; return self.

        A value of the wrong type (``reward_to_go=None``, ``progress='no'``, ``init_scale='abc'``,
        ``seed=1.5``) raises :class:`pgbook._validate.ArgumentTypeError` (a TypeError that is also a
        ValueError); a value out of range raises ValueError.  Called on construction and by :func:`train`.
        """
        super().validate()
        if self.batch_episodes is None and self.batch_steps is None:
            raise ValueError("set batch_episodes or batch_steps (both are None)")
        if self.batch_steps is not None:
            check_positive_int(self.batch_steps, "batch_steps")
        check_positive_int(self.num_envs, "num_envs")
        for name in ("reward_to_go", "discount_weighting", "normalise_returns", "measure_variants"):
            check_bool(getattr(self, name), name)
        check_choice(self.baseline, BASELINES, "baseline")
        return self

    @property
    def envs_per_round(self) -> int:
        """Number of environments stepped together."""
        return self.batch_episodes if self.batch_episodes is not None else self.num_envs

    def trainer(self) -> Callable:
        return train

    def learner(self, policy, rng: np.random.Generator, horizon: int) -> "Learner":
        return Learner(self, policy, rng)


# ------------------------------------------------------------------------------------ spaces
def make_policy(config: ReinforceConfig, obs_space, action_space):
    """The policy object for these spaces: LinearSoftmax, MLPSoftmax or LinearGaussian."""
    dim = obs_dim(obs_space)
    if config.needs_discrete_actions and not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"{type(config).__name__} needs a Discrete action space (its trainer uses a softmax "
                         f"policy); {config.env_id} has {action_space!r}")
    if isinstance(action_space, spaces.Discrete):
        if config.policy == "mlp":
            return MLPSoftmax(dim, int(action_space.n), config.hidden)
        return LinearSoftmax(dim, int(action_space.n))
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        if config.policy == "mlp":
            raise ValueError("policy='mlp' supports Discrete action spaces only; use policy='linear' "
                             f"(a linear Gaussian) for the Box action space of {config.env_id}")
        return LinearGaussian(dim, int(action_space.shape[0]))
    raise ValueError(space_message("action", action_space))


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
    return divergence_message(iteration, f"{what} became NaN or infinite", hint)


def _collapse_watch(config: ReinforceConfig) -> CollapseWatch:
    """The run's :class:`pgbook.training.CollapseWatch`; its target is the environment's ``reward_threshold``, used only
    under the environment's own time limit (a shorter ``max_episode_steps`` may put it out of reach)."""
    target = None
    if config.max_episode_steps is None:
        try:
            target = gymnasium.spec(config.env_id).reward_threshold
        except gymnasium.error.Error:  # unknown ids are reported by make_envs
            pass
    return CollapseWatch(target=None if target is None else float(target),
                         target_name=f"the reward_threshold of {config.env_id}")


def _collapse_hint(config: ReinforceConfig) -> str:
    hint = learning_rate_hint(config.learning_rate)
    if config.init_scale > 0:
        hint += f", or lower init_scale (now {config.init_scale:g}) so that the first policy is less sure"
    return hint


def policy_spread(policy, theta, episodes: Episodes):
    """Mean entropy of the policy over the batch's steps and, for a softmax policy, the mean of
    ``1 - max_a pi(a|s)`` (None for a Gaussian, whose entropy does not depend on the state)."""
    if isinstance(policy, LinearGaussian):
        return float(np.sum(theta[-1] + 0.5 * np.log(2 * np.pi * np.e))), None
    log_p = log_softmax(policy.logits(theta, episodes.states[episodes.mask]))
    p = np.exp(log_p)
    entropy = float(-(p * log_p).sum(axis=-1).mean())
    return entropy, float((1.0 - p.max(axis=-1)).mean())


def _total_variance(samples) -> float:
    """Trace of the covariance of the per-episode gradient samples (sum of per-coordinate variances)."""
    flat = samples.reshape(samples.shape[0], -1)
    return float(flat.var(axis=0, ddof=1).sum())


def normalised(advantage, mask) -> np.ndarray:
    """``advantage`` centred and scaled to mean 0 and standard deviation 1 over the valid steps."""
    values = advantage[mask]
    return (advantage - values.mean()) / (values.std() + 1e-8)


class Learner:
    """One REINFORCE run: its policy, parameters, optimiser and baseline, and its update.

    :func:`train` drives one learner; :func:`pgbook.experiments.train_many` drives several on one
    shared vector environment.  :meth:`update` takes one batch of episodes and returns the
    metrics of that iteration, or None after setting ``status`` and ``message`` if something
    stopped being finite; if the run collapses (:class:`pgbook.training.CollapseWatch`) it
    returns the metrics and sets ``status`` to ``"collapsed"``.  The update is three steps:
    :meth:`baseline`, :meth:`step` and :meth:`metrics`.
    """

    def __init__(self, config: ReinforceConfig, policy, rng: np.random.Generator):
        self.config = config
        self.policy = policy
        self.theta = policy.init_theta(rng, config.init_scale)
        self.optimiser = make_optimiser(config.optimiser, self.theta.shape, config.learning_rate)
        self.value_w = None
        self.history: list = []
        self.status, self.message = "budget", ""
        self.env_steps = 0
        self.watch = _collapse_watch(config)

    def diverge(self, what: str, iteration: int):
        self.status, self.message = "diverged", _divergence_message(what, self.config, iteration)

    @staticmethod
    def _value_features(episodes: Episodes) -> np.ndarray:
        n, T, _ = episodes.states.shape
        return np.concatenate([episodes.states, np.ones((n, T, 1))], axis=-1)

    def baseline(self, episodes: Episodes, Psi) -> np.ndarray:
        """:math:`b_t` for this batch, shape (n, T), zero where masked: 0 (``"none"``), the
        leave-one-out batch mean of :math:`\\Psi` (``"batch-mean"``), or the linear state value
        fitted on the previous batch (``"value"``; 0 on the first)."""
        n, T = episodes.mask.shape
        if self.config.baseline == "batch-mean":
            b = np.repeat(leave_one_out_mean(Psi, episodes.mask)[:, None], T, axis=1)
        elif self.config.baseline == "value" and self.value_w is not None:
            b = linear_value(self._value_features(episodes), self.value_w)
        else:
            return np.zeros((n, T))
        return np.where(episodes.mask, b, 0.0)

    def fit_value(self, episodes: Episodes, Psi):
        """Refit the ``"value"`` baseline to this batch's :math:`\\Psi` (used from the next batch on)."""
        if self.config.baseline == "value":
            ridge = VALUE_RIDGE / max(int(episodes.mask.sum()), 1)  # fit_linear_value scales it by the step count
            self.value_w = fit_linear_value(self._value_features(episodes), Psi, episodes.mask, ridge)

    def accept(self, episodes: Episodes, iteration: int) -> bool:
        """Count the batch's environment steps; False, after marking the run diverged, if its returns
        are not finite."""
        self.env_steps += episodes.env_steps
        if not np.all(np.isfinite(episodes.returns)):
            self.diverge("the returns", iteration)
            return False
        return True

    def step(self, grad) -> bool:
        """One optimiser step along ``grad``; False (parameters unchanged) if the new ones are not finite."""
        with np.errstate(all="ignore"):
            new_theta = self.theta + self.optimiser.step(grad)
        if not np.all(np.isfinite(new_theta)):
            return False
        self.theta = new_theta
        return True

    def update(self, episodes: Episodes, iteration: int, start: float, cpu_start: float):
        """One iteration on ``episodes``: gradient, step, value refit, metrics."""
        config, policy, theta, mask = self.config, self.policy, self.theta, episodes.mask
        if not self.accept(episodes, iteration):
            return None
        Psi = psi(episodes.rewards, config.gamma, mask, config.reward_to_go)
        w = step_weights(config.gamma, mask.shape[1], config.reward_to_go, config.discount_weighting)
        try:
            with np.errstate(all="ignore"):  # non-finite scores are caught just below
                score = step_scores(policy, theta, episodes)
                b = self.baseline(episodes, Psi)
                # Centring and scaling Psi - b is a shift (one more baseline) and a rescaling.
                b_used = Psi - normalised(Psi - b, mask) if config.normalise_returns else b
                samples = policy_gradient_samples(score, Psi, w, b_used, mask)
                grad = samples.mean(axis=0)
                spread = policy_spread(policy, theta, episodes)
        except NonFiniteError:  # the policy or the estimator refuses non-finite logits, scores or baselines
            samples = np.array([np.nan])
        if not np.all(np.isfinite(samples)):
            self.diverge("the gradient", iteration)
            return None
        if not self.step(grad):
            self.diverge("the parameters", iteration)
            return None
        self.fit_value(episodes, Psi)
        metrics = self.metrics(episodes, samples, grad, spread, iteration, start, cpu_start)
        if config.measure_variants:
            metrics.update(self.variant_variances(episodes, score, b))
        self.history.append(metrics)
        se = metrics["return_std"] / np.sqrt(episodes.n)
        if self.watch.observe(iteration, metrics["return_mean"], spread[1], se):
            self.status, self.message = "collapsed", self.watch.message(iteration, _collapse_hint(config))
        return metrics

    def metrics(self, episodes: Episodes, samples, grad, spread, iteration: int, start: float,
                cpu_start: float) -> dict:
        """The row of ``history`` for this iteration (its keys are listed in :func:`train`)."""
        returns, lengths, n = episodes.returns, episodes.lengths.astype(float), episodes.n
        entropy, non_greedy = spread
        metrics = {
            "iteration": iteration,
            "env_steps": self.env_steps,
            "wall_time": time.perf_counter() - start,
            "cpu_time": time.process_time() - cpu_start,
            "episodes": n,
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std(ddof=1)) if n > 1 else 0.0,
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
            "length_mean": float(lengths.mean()),
            "length_std": float(lengths.std(ddof=1)) if n > 1 else 0.0,
            "grad_norm": float(np.linalg.norm(grad)),
            "grad_variance": _total_variance(samples),
            "grad_variance_of_mean": _total_variance(samples) / n,
            "entropy": entropy,
            "theta": self.theta.copy(),
        }
        if non_greedy is not None:
            metrics["non_greedy_prob"] = non_greedy
        return metrics

    def variant_variances(self, episodes: Episodes, score, b) -> dict:
        """Gradient variance of the three classic variants on this batch (``measure_variants``):
        full return, reward-to-go, and reward-to-go minus a baseline (the run's own ``b`` if it
        uses the reward-to-go and a baseline, else the leave-one-out batch mean)."""
        config, mask = self.config, episodes.mask
        full = policy_gradient_samples(score, psi(episodes.rewards, config.gamma, mask, False), mask=mask)
        G = psi(episodes.rewards, config.gamma, mask)
        w = step_weights(config.gamma, mask.shape[1], True, config.discount_weighting)
        if not (config.reward_to_go and config.baseline != "none"):
            b = np.where(mask, leave_one_out_mean(G, mask)[:, None], 0.0)
        return {"grad_variance_full_return": _total_variance(full),
                "grad_variance_reward_to_go": _total_variance(policy_gradient_samples(score, G, w, mask=mask)),
                "grad_variance_baseline": _total_variance(policy_gradient_samples(score, G, w, b, mask))}

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
    run stops (``status="diverged"``), warns with :class:`pgbook.training.TrainingDivergedWarning` and the
    result's ``message`` says what to change.  If the policy turns deterministic while its return
    is poor (see :class:`pgbook.training.CollapseWatch`) the run stops (``status="collapsed"``) and warns with
    :class:`pgbook.training.TrainingCollapsedWarning`, whose message says what to change.
    """
    return run_learner(ReinforceConfig.make(config, **overrides), callback, "REINFORCE")


def run_learner(config: RunConfig, callback: Callable[[dict], bool | None] | None = None,
                name: str = "REINFORCE") -> TrainResult:
    """The loop every gymnasium trainer of the book shares (:func:`train`,
    :func:`pgbook.actor_critic.train`, :func:`pgbook.ppo.train`, :func:`pgbook.natural.train`):
    make the vector environment, the policy (:func:`make_policy`) and the learner the config
    names (:meth:`RunConfig.learner`), then, until a budget runs out, the
    callback asks to stop, or the run diverges or collapses, play a batch
    (:func:`pgbook.rollout.collect_episodes`) and hand it to ``learner.update``.  Warns with the
    two warnings of :mod:`pgbook.training` and returns ``learner.result``.
    """
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback must be a function of the metrics dict (or None), got {type(callback).__name__}")
    start = time.perf_counter()
    cpu_start = time.process_time()
    rng = np.random.default_rng([int(config.seed), 0])
    envs = make_envs(config.env_id, config.envs_per_round, config.vectorization_mode, config.env_kwargs)
    bar = None
    learner = None
    try:
        policy = make_policy(config, envs.single_observation_space, envs.single_action_space)
        learner = config.learner(policy, rng, episode_cap(envs, config.max_episode_steps))
        if config.progress is None or config.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=config.max_env_steps, unit="step", desc=f"{name} {config.env_id}", leave=False,
                       delay=0 if config.progress else 2.0, disable=config.progress is False)
        batch_steps = getattr(config, "batch_steps", None)
        for iteration in range(1, config.max_iterations + 1):
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    episodes = collect_episodes(envs, learner.policy, learner.theta, rng,
                                                min_episodes=config.batch_episodes,
                                                min_steps=None if config.batch_episodes else batch_steps,
                                                max_episode_steps=config.max_episode_steps)
            except (FloatingPointError, NonFiniteError):
                learner.diverge("the policy's actions or observations", iteration)
                break
            metrics = learner.update(episodes, iteration, start, cpu_start)
            if metrics is None:
                break
            if bar is not None:
                bar.update(episodes.env_steps)
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
    if learner is not None and learner.status == "diverged":
        warnings.warn(learner.message, TrainingDivergedWarning, stacklevel=3)
    if learner is not None and learner.status == "collapsed":
        warnings.warn(learner.message, TrainingCollapsedWarning, stacklevel=3)
    return learner.result(start)


# ------------------------------------------------------------------------------------ tabular
@dataclass
class TabularResult(TracedResult):
    """What :func:`train_tabular` returns: a :class:`pgbook.training.TracedResult` whose
    ``history`` rows hold ``iteration``, ``return_mean`` (the batch's mean *discounted* return,
    played before the update) and ``theta`` (after the update); ``thetas`` is (iterations + 1, S, A)."""

    def curve(self, key: str = "return_mean") -> np.ndarray:
        """The metric ``key`` (default: the batch's mean discounted return) over iterations."""
        return super().curve(key)


#: The values of ``baseline`` in :func:`train_tabular`.
TABULAR_BASELINES = ("previous-batch", "none")


def train_tabular(mdp, rng: np.random.Generator, *, max_iterations: int = 150, batch_episodes: int = 100,
                  learning_rate: float = 0.1, baseline: str = "previous-batch") -> TabularResult:
    """REINFORCE with a :class:`pgbook.policies.TabularSoftmax` policy and Adam steps, on a tabular MDP.

    The learner sees only sampled episodes (states, actions, rewards) from
    :func:`pgbook.mdp.sample_trajectories`; it never reads ``P`` or ``R`` (the sampler uses them to
    *simulate* the environment, exactly as a gymnasium environment would).  Each iteration plays
    ``batch_episodes`` episodes, forms the discount-weighted reward-to-go estimator
    (:func:`pgbook.estimators.trajectory_gradient_samples`) with, for
    ``baseline="previous-batch"``, the mean discounted return of the *previous* batch as a
    constant baseline (independent of the current batch, so the estimate stays unbiased), and
    takes an Adam ascent step (beta1 = 0.9, beta2 = 0.999).  It is the tabular twin of
    :func:`train`, fast enough to run many episodes per second on FrozenLake.

    Like :func:`train` it stops with a :class:`pgbook.training.TrainingCollapsedWarning`
    (``status="collapsed"``) when the table turns deterministic on the states it visits while its
    return is poor (:class:`pgbook.training.CollapseWatch`), and with a
    :class:`pgbook.training.TrainingDivergedWarning` (``status="diverged"``) if the parameters stop
    being finite.  The starting point of the collapse check is the exact J of the initial
    (uniform) policy and its target the optimal value (:func:`pgbook.mdp.optimal_values`): the
    check judges the run from outside with the model; the learning itself sees only sampled episodes.
    """

    start = time.perf_counter()
    check_mdp(mdp)
    check_rng(rng)
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    batch_episodes = check_positive_int(batch_episodes, "batch_episodes")
    learning_rate = check_positive(learning_rate, "learning_rate")
    check_choice(baseline, TABULAR_BASELINES, "baseline")
    policy = TabularSoftmax(mdp.n_states, mdp.n_actions)
    theta0 = theta = policy.init_theta()
    optimiser = make_optimiser("adam", theta.shape, learning_rate)
    watch = CollapseWatch(first=J_exact(mdp, policy.table(theta)), target=float(mdp.mu0 @ optimal_values(mdp)[0][0]),
                          target_name="the optimal value")
    status, message, b, history = "budget", "", 0.0, []
    for iteration in range(1, max_iterations + 1):
        with np.errstate(all="ignore"):          # a non-finite gradient or step is caught just below
            episodes = sample_trajectories(mdp, policy, theta, batch_episodes, rng).trimmed()
            grad = trajectory_gradient_samples(policy, theta, episodes, mdp.gamma,
                                               baseline=b if baseline == "previous-batch" else None).mean(axis=0)
            disc = discounted_return(episodes.rewards, mdp.gamma, episodes.mask)
            visited = policy.table(theta)[episodes.states[episodes.mask]]  # pi(.|s_t) at every step taken
            non_greedy = float((1.0 - visited.max(axis=-1)).mean()) if visited.size else None
            b = float(disc.mean())
            new_theta = theta + optimiser.step(grad)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(new_theta))):
            status = "diverged"
            message = divergence_message(iteration, "the gradient or the parameters became NaN or infinite",
                                         learning_rate_hint(learning_rate))
            warnings.warn(message, TrainingDivergedWarning, stacklevel=2)
            break
        theta = new_theta
        history.append({"iteration": iteration, "return_mean": b, "theta": theta.copy()})
        se = float(disc.std(ddof=1)) / np.sqrt(batch_episodes) if batch_episodes > 1 else 0.0
        if watch.observe(iteration, b, non_greedy, se):
            status = "collapsed"
            message = watch.message(iteration, learning_rate_hint(learning_rate), "mean discounted return")
            warnings.warn(message, TrainingCollapsedWarning, stacklevel=2)
            break
    return TabularResult(theta=theta, history=history, status=status, message=message,
                         wall_time=time.perf_counter() - start, theta0=theta0)
