r"""Actor-critic with generalised advantage estimation (GAE), in numpy: the config, the learner, the trainer.

It is REINFORCE (:mod:`pgbook.reinforce`) with one change: the weight of the score is not the
reward-to-go minus a baseline but the GAE advantage of a learned *critic* :math:`\hat V`,

.. math::

   \hat g_i &= \sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, \hat A_t, \\
   \hat A_t &= \sum_{l \ge 0} (\gamma\lambda)^l \delta_{t+l}, \\
   \delta_t &= r_t + \gamma \hat V(s_{t+1}) - \hat V(s_t),

(:func:`pgbook.signals.value_residuals` and :func:`pgbook.signals.gae`).  One iteration of
:func:`train` plays a batch of whole episodes (:func:`pgbook.rollout.collect_episodes`), forms
:math:`\hat A_t` with the critic fitted on the *previous* batch, takes one ascent step with the
book's estimator :func:`pgbook.estimators.policy_gradient_samples` (plus, if asked, an entropy
bonus), and refits the critic.

**The critic** :math:`\hat V` is linear in features of the observation and of the time step,
fitted by least squares (a small ridge) to its own
target on the batch: the discounted reward-to-go :math:`G_t` (``critic_target="return"``, the
default: unbiased, whatever the policy) or the λ-return :math:`\hat A_t + \hat V(s_t)`.  The
features (``critic_features``) are ``"linear"``, :math:`[1, x, t/H, \gamma^{H-t}]`, or ``"quadratic"``,
:math:`[1, x, x^2, t/H, \gamma^{H-t}]`, with :math:`x` the observation's features and :math:`H`
the episode cap.  The time features are what makes the critic right at the time limit: the book's objective
is the return of an episode of at most :math:`H` steps, so after the last step (termination or
truncation alike) there is nothing left to gain, the value there is 0 and no bootstrapping is
needed; a critic that sees them can learn that the value falls as the limit approaches.

**Batches without information** (``skip_uninformative``, on by default).  When every episode of a
batch has the same length and the same reward at every step (:func:`uninformative`), every
episode has the same :math:`G_t` at every step whatever its actions were, and the batch says
nothing about which actions are better.  This is the usual first batch on Acrobot-v1: the
uniform policy reaches the goal in about 1.4% of its 500-step episodes (28 of 2,000 measured),
so a batch of 16 has no success at all with probability about 0.8.  The critic, which sees the
time left, fits such a batch's :math:`G_t` up to its ridge, and what remains of the
advantages is that fit's residue (a spread of about 1e-4 to 1e-2 against about 25 for
:math:`G_t`).  Normalised to unit spread it becomes a full-sized step in a direction no action caused, and Adam, which
scales each coordinate by its own running size, would take that step even without
normalisation: batch after batch the policy drifted away from uniform and grew sure of itself
(on seed 2 of ``benchmarks/actor_critic.py``: 38 batches, every episode -500, entropy from 1.10
down to 0.001, until the budget ran out).  So on such a batch the learner takes no step at all:
the critic is refitted and the metrics recorded (``uninformative`` is True in them), but the
parameters and the optimiser's state stay as they were; a step of the optimiser with a zero
gradient would still move the parameters by Adam's momentum.  The entropy bonus is left out on
such a batch for the same reason.  On CartPole-v1 a batch is uninformative only when all its
episodes reach the 500-step limit, where there is nothing left to gain either.  The check
stops the drift but does not make the first successes count for more: for that on Acrobot-v1
see :attr:`ActorCriticConfig.lam`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ._validate import (ArgumentTypeError, NonFiniteError, check_bool, check_choice, check_finite, check_gamma,
                        check_nonnegative, check_policy_theta, check_positive_int, check_real_array)
from .baselines import fit_linear_value, linear_value
from .episodes import Episodes
from .estimators import policy_gradient_samples, psi, step_scores
from .policies import LinearSoftmax, log_softmax
from .reinforce import (Learner as ReinforceLearner, TrainResult, normalised,
                        RunConfig, policy_spread, run_learner)
from .signals import gae, value_residuals
from .training import divergence_message, learning_rate_hint

__all__ = ["ActorCriticConfig", "ActorCriticLearner", "CriticBatch", "train", "critic_features", "entropy_gradient",
           "uninformative",
           "CRITIC_FEATURES", "CRITIC_TARGETS"]

#: The values of :attr:`ActorCriticConfig.critic_features`.
CRITIC_FEATURES = ("linear", "quadratic")
#: The values of :attr:`ActorCriticConfig.critic_target`.
CRITIC_TARGETS = ("return", "lambda-return")


@dataclass
class ActorCriticConfig(RunConfig):
    """Every setting of an actor-critic run; the fields it shares with
    :class:`pgbook.reinforce.ReinforceConfig` are spelled and mean the same.

    ``ActorCriticConfig(lam=0.9)`` changes one field; ``config.replace(...)`` returns a modified
    copy; :meth:`validate` raises an error naming any bad field.  See ``benchmarks/actor_critic.py``
    for what the defaults achieve on CartPole-v1 and Acrobot-v1.
    """

    needs_discrete_actions: ClassVar[bool] = True

    lam: float = 0.95
    """λ of GAE in [0, 1]: 1 gives :math:`G_t - V(s_t)` (unbiased for any critic), 0 gives
    :math:`\\delta_t` (least variance, unbiased only for the true value).

    Take ``lam=1.0`` when the critic may know nothing of the states, as on Acrobot-v1 from the
    uniform policy: until a batch holds an episode that reached the goal, the critic has seen
    only timed-out episodes and fits (up to its ridge) a function of the time step alone, whose
    residuals :math:`\\delta_t` are about 0 at every step of a successful episode but its last.
    Its advantages are then that last residual discounted back by :math:`(\\gamma\\lambda)^l`:
    with ``lam=0.95`` the credit halves every 11 steps and reaches only the end of the swing;
    with ``lam=1.0`` it halves every 69 steps (:math:`\\gamma^l`, the discount itself) and
    reaches the swings that built up the energy.  Measured with ``benchmarks/actor_critic.py``
    (300 000 environment steps, seeds 0 to 14): ``lam=0.95`` failed seed 2 with and without
    ``skip_uninformative``; ``lam=1.0`` with it solved all 15, without it only 2 of seeds 0 to 4."""
    critic_features: str = "quadratic"
    """Features of the linear critic: ``"linear"`` [1, x, t/H, gamma**(H-t)] or ``"quadratic"``
    [1, x, x**2, t/H, gamma**(H-t)] (:func:`critic_features`; H is the episode cap)."""
    critic_target: str = "return"
    """What the critic is fitted to by least squares: ``"return"`` (the reward-to-go G_t) or
    ``"lambda-return"`` (the advantage plus the critic's own previous values)."""
    critic_ridge: float = 1e-3
    """Ridge of the critic's least-squares fit (per step, on standardised scale-free terms)."""
    normalise_advantages: bool = True
    """Centre and scale the advantages of the batch to mean 0 and standard deviation 1."""
    skip_uninformative: bool = True
    """Take no step (and leave the optimiser's state alone) on a batch whose episodes all have the
    same length and the same reward at every step (:func:`uninformative`), such as a batch of
    Acrobot-v1 episodes that all time out: its advantages are only the critic's fitting error
    (see the module's docstring)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus: the step follows grad J + entropy_coef * grad of the mean
    entropy of pi(.|s_t) over the batch's steps (linear softmax policy only)."""

    def validate(self) -> "ActorCriticConfig":
        """Raise an error naming the first field with a bad value; return self."""
        super().validate()
        check_gamma(self.lam, "lam")
        check_choice(self.critic_features, CRITIC_FEATURES, "critic_features")
        check_choice(self.critic_target, CRITIC_TARGETS, "critic_target")
        check_nonnegative(self.critic_ridge, "critic_ridge")
        check_bool(self.normalise_advantages, "normalise_advantages")
        check_bool(self.skip_uninformative, "skip_uninformative")
        check_nonnegative(self.entropy_coef, "entropy_coef")
        if self.entropy_coef > 0 and self.policy != "linear":
            raise ValueError("entropy_coef > 0 needs policy='linear' (the entropy gradient is written for "
                             "the linear softmax)")
        return self

    def trainer(self) -> Callable:
        return train

    def learner(self, policy, rng: np.random.Generator, horizon: int) -> "ActorCriticLearner":
        return ActorCriticLearner(self, policy, rng, horizon)


def critic_features(states, horizon: int, kind: str = "quadratic", gamma: float = 0.99) -> np.ndarray:
    """The critic's features at every step, shape (n, T, F): ``"linear"``
    :math:`[1, x, t/H, \\gamma^{H-t}]` or ``"quadratic"`` :math:`[1, x, x^2, t/H, \\gamma^{H-t}]`, with
    ``states`` (n, T, d) the observation features and ``horizon`` :math:`H` the episode cap.

    The two time features let the critic see the time left: a reward of ``c`` at every remaining
    step is worth :math:`c\\,(1 - \\gamma^{H-t})/(1-\\gamma)`, linear in :math:`\\gamma^{H-t}`."""
    x = np.asarray(states, dtype=float)
    if x.ndim != 3:
        raise ValueError(f"states must have shape (n, T, d), got {x.shape}")
    check_positive_int(horizon, "horizon")
    check_choice(kind, CRITIC_FEATURES, "kind")
    n, T, _ = x.shape
    gamma = check_gamma(gamma)
    steps = np.arange(T)
    time_features = np.stack([steps / horizon, gamma ** np.maximum(horizon - steps, 0)], axis=-1)
    t = np.broadcast_to(time_features[None], (n, T, 2))
    parts = [np.ones((n, T, 1)), x] + ([x**2] if kind == "quadratic" else []) + [t]
    return np.concatenate(parts, axis=-1)


def uninformative(episodes: Episodes) -> bool:
    """True if every episode of the batch has the same length and the same reward at every step:
    then every episode has the same reward-to-go at every step, whatever actions it took, and the
    batch says nothing about which actions are better."""
    mask = episodes.mask
    if not np.all(mask == mask[:1]):
        return False
    rewards = np.where(mask, episodes.rewards, 0.0)
    return bool(np.all(rewards == rewards[:1]))


def entropy_gradient(policy, theta, states) -> np.ndarray:
    """Gradient in ``theta`` of the mean entropy of :math:`\\pi_\\theta(\\cdot\\mid s)` over the
    observations ``states`` (N, d), for a :class:`pgbook.policies.LinearSoftmax`:
    :math:`\\partial H/\\partial z_k = -p_k(\\log p_k + H)` at the logits :math:`z`, chained
    through :math:`z = [x, 1]\\,\\theta`.  Used for the entropy bonus of the actor-critic and PPO."""
    if not isinstance(policy, LinearSoftmax):
        raise ArgumentTypeError(f"policy must be a LinearSoftmax (the entropy gradient is written for it), "
                                f"got {type(policy).__name__}")
    theta = check_policy_theta(policy, theta, ("logits",))
    x = check_finite(check_real_array(states, "states"), "states")
    if x.ndim != 2 or x.shape[1] != policy.obs_dim:
        raise ValueError(f"states must have shape (N, {policy.obs_dim}), got {x.shape}")
    log_p = log_softmax(policy.logits(theta, x))
    p = np.exp(log_p)
    H = -(p * log_p).sum(axis=-1, keepdims=True)
    dz = -p * (log_p + H)
    X = np.concatenate([x, np.ones((len(x), 1))], axis=1) if policy.bias else x
    return X.T @ dz / max(len(x), 1)


def _entropy_gradient(policy, theta, episodes: Episodes) -> np.ndarray:
    """:func:`entropy_gradient` over the valid steps of a batch."""
    return entropy_gradient(policy, theta, episodes.states[episodes.mask])


@dataclass
class CriticBatch:
    """What the critic makes of one batch (:meth:`ActorCriticLearner.criticise`); arrays (n, T),
    0 where masked."""

    G: np.ndarray
    """The reward-to-go :math:`G_t`."""
    phi: np.ndarray
    """The critic's features at every step, (n, T, F)."""
    V: np.ndarray
    """The critic's values :math:`\\hat V(s_t)`."""
    advantage: np.ndarray
    """The GAE advantages :math:`\\hat A_t`, before any normalisation."""
    weight: np.ndarray
    """What multiplies the score: the advantages, normalised if the config says so; 0 on an
    uninformative batch."""
    uninformative: bool
    """True when the batch carries no information (:func:`uninformative`) and the config skips such batches."""


class ActorCriticLearner(ReinforceLearner):
    """One actor-critic run: the REINFORCE learner (:class:`pgbook.reinforce.Learner`: optimiser
    step, metrics, collapse watch) with a critic and GAE advantages in :meth:`update`."""

    def __init__(self, config: ActorCriticConfig, policy, rng: np.random.Generator, horizon: int):
        super().__init__(config, policy, rng)
        self.horizon = int(horizon)
        self.critic_w = None

    def diverge(self, what: str, iteration: int):
        c = self.config
        hint = learning_rate_hint(c.learning_rate)
        if not c.normalise_advantages:
            hint += ", or set normalise_advantages=True"
        self.status, self.message = "diverged", divergence_message(iteration, f"{what} became NaN or infinite",
                                                                   hint)

    def features(self, episodes: Episodes) -> np.ndarray:
        return critic_features(episodes.states, self.horizon, self.config.critic_features, self.config.gamma)

    def values(self, episodes: Episodes, phi=None) -> np.ndarray:
        """The critic's :math:`\\hat V(s_t)` at every step, (n, T), 0 where masked."""
        phi = self.features(episodes) if phi is None else phi
        return np.where(episodes.mask, linear_value(phi, self.critic_w), 0.0)

    def fit_critic(self, phi, target, mask):
        """Least squares of the critic's values on ``target`` over the valid steps (the critic's objective)."""
        self.critic_w = fit_linear_value(phi, target, mask, self.config.critic_ridge / max(int(mask.sum()), 1))

    def criticise(self, episodes: Episodes) -> CriticBatch:
        """The critic's view of a batch (:class:`CriticBatch`): its :math:`G_t`, the critic's values,
        the GAE advantages and the weights of the score.  On the run's first batch the critic is
        fitted to that batch before it is used.  May raise :class:`pgbook._validate.NonFiniteError`
        or ``LinAlgError``; :meth:`update` reports either as divergence."""
        config, mask = self.config, episodes.mask
        G = psi(episodes.rewards, config.gamma, mask)
        phi = self.features(episodes)
        if self.critic_w is None:
            self.fit_critic(phi, G, mask)
        V = self.values(episodes, phi)
        advantage = gae(value_residuals(episodes.rewards, V, mask, config.gamma), config.gamma, config.lam, mask)
        flat = bool(config.skip_uninformative and uninformative(episodes))
        weight = normalised(advantage, mask) if config.normalise_advantages else advantage
        return CriticBatch(G=G, phi=phi, V=V, advantage=advantage, weight=np.where(mask & ~flat, weight, 0.0),
                           uninformative=flat)

    def improve(self, episodes: Episodes, batch: CriticBatch, iteration: int):
        """The policy's part of an iteration: one ascent step along the book's estimator with the
        weights ``batch.weight`` (plus the entropy bonus), none on an uninformative batch.  Returns
        ``(samples, grad, extra metrics)``, or None after marking the run diverged."""
        config, policy, theta = self.config, self.policy, self.theta
        try:
            with np.errstate(all="ignore"):  # non-finite values are caught just below
                samples = policy_gradient_samples(step_scores(policy, theta, episodes), batch.weight, None, None,
                                                  episodes.mask)
                grad = samples.mean(axis=0)
                if config.entropy_coef > 0 and not batch.uninformative:
                    grad = grad + config.entropy_coef * _entropy_gradient(policy, theta, episodes)
        except NonFiniteError:
            samples = grad = np.array([np.nan])
        if not (np.all(np.isfinite(samples)) and np.all(np.isfinite(grad))):
            self.diverge("the gradient", iteration)
            return None
        if not batch.uninformative and not self.step(grad):
            self.diverge("the parameters", iteration)
            return None
        return samples, grad, {}

    def collapse_hint(self) -> str:
        """What to change when the run collapses."""
        return learning_rate_hint(self.config.learning_rate)

    def update(self, episodes: Episodes, iteration: int, start: float, cpu_start: float):
        """One iteration on ``episodes``: the critic's advantages (:meth:`criticise`), the policy's
        update (:meth:`improve`), the critic's refit on the batch, metrics."""
        config, policy, mask = self.config, self.policy, episodes.mask
        if not self.accept(episodes, iteration):
            return None
        try:
            with np.errstate(all="ignore"):  # non-finite values are caught just below
                batch = self.criticise(episodes)
                spread = policy_spread(policy, self.theta, episodes)
            finite = all(np.all(np.isfinite(x)) for x in (batch.V, batch.advantage, batch.weight))
        except (NonFiniteError, np.linalg.LinAlgError):
            finite = False
        if not finite:
            self.diverge("the critic's advantages", iteration)
            return None
        improved = self.improve(episodes, batch, iteration)
        if improved is None:
            return None
        samples, grad, extra = improved
        target = batch.G if config.critic_target == "return" else batch.advantage + batch.V
        try:
            self.fit_critic(batch.phi, target, mask)
        except (NonFiniteError, np.linalg.LinAlgError):
            self.diverge("the critic", iteration)
            return None
        metrics = self.metrics(episodes, samples, grad, spread, iteration, start, cpu_start)
        value_error = float(np.mean((batch.G - batch.V)[mask] ** 2))
        metrics.update(value_error=value_error,
                       explained_variance=1.0 - value_error / max(float(np.var(batch.G[mask])), 1e-12),
                       advantage_std=float(batch.advantage[mask].std()), uninformative=batch.uninformative,
                       **extra)
        self.history.append(metrics)
        se = metrics["return_std"] / np.sqrt(episodes.n)
        if self.watch.observe(iteration, metrics["return_mean"], spread[1], se):
            self.status, self.message = "collapsed", self.watch.message(iteration, self.collapse_hint())
        return metrics


def train(config: ActorCriticConfig | None = None, callback: Callable[[dict], bool | None] | None = None,
          **overrides) -> TrainResult:
    """Train a policy with actor-critic and GAE(λ).

    Same call, budgets, seeding, progress bar, divergence and collapse handling as
    :func:`pgbook.reinforce.train`, and the same metrics per iteration (``return_mean`` of the
    batch played before the update, ``env_steps``, ``wall_time``, ``cpu_time``, ``grad_norm``,
    ``entropy``, ``theta`` ...), plus the critic's ``value_error`` (mean squared error of the
    critic used for this batch against its reward-to-go :math:`G_t`), ``explained_variance``
    (1 minus that over the variance of :math:`G_t`) and ``advantage_std`` (spread of the advantages
    before any normalisation; 0 means no signal).  Returns a :class:`pgbook.reinforce.TrainResult`
    whose ``config`` is the :class:`ActorCriticConfig`.
    """
    return run_learner(ActorCriticConfig.make(config, **overrides), callback, "actor-critic")
