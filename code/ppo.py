r"""Proximal policy optimisation (PPO), in numpy: the config, the learner, the trainer.

PPO is the actor-critic of :mod:`pgbook.actor_critic` with a different use of each batch.  The
batch (whole episodes, one per parallel environment) goes through the actor-critic's own critic
step, :meth:`pgbook.actor_critic.ActorCriticLearner.criticise`: the linear critic fitted on the
previous batch (on the first batch, on that batch itself) gives the GAE advantages
:math:`\hat A_t`, normalised per batch if ``normalise_advantages``.  Instead of one step along
the gradient, PPO then maximises the clipped surrogate of the batch,

.. math::

   \frac1N \sum_{t} \min\big(\rho_t(\theta)\hat A_t,\
   \operatorname{clip}(\rho_t(\theta), 1-\xi, 1+\xi)\,\hat A_t\big),
   \qquad \rho_t(\theta) = \frac{\pi_\theta(a_t\mid s_t)}{\pi_{\theta_{\text{old}}}(a_t\mid s_t)},

over the batch's ``N`` valid steps, by ``epochs`` passes of ``minibatches`` optimiser steps
each (Adam by default; minibatches drawn by a permutation from the run's generator), with the
analytic gradient of :func:`pgbook.trust_region.clipped_gradient` plus, if asked, an entropy
bonus (:func:`pgbook.actor_critic.entropy_gradient`).  After each epoch it measures the
approximate KL divergence of the batch, :math:`\frac1N\sum_t (\rho_t - 1 - \log\rho_t)`:
every term is non-negative, and given a state its mean over the old policy's actions is
:math:`\mathrm{KL}(\pi_{\theta_{\text{old}}}(\cdot\mid s)\,\|\,\pi_\theta(\cdot\mid s))`, so it
estimates that KL averaged over the batch's steps (undiscounted).  The epochs stop early once it
exceeds ``target_kl``.  Then the critic is refitted on the batch, as in the actor-critic.  With
``skip_uninformative`` (off by default, unlike the actor-critic) a batch without information
(:func:`pgbook.actor_critic.uninformative`) gets no epochs at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validate import NonFiniteError, check_positive, check_positive_int
from .actor_critic import ActorCriticConfig, ActorCriticLearner, CriticBatch, entropy_gradient
from .estimators import policy_gradient_samples, step_scores
from .reinforce import TrainResult, run_learner
from .training import divergence_message, learning_rate_hint
from .trust_region import clipped_gradient

__all__ = ["PPOConfig", "PPOLearner", "train"]


@dataclass
class PPOConfig(ActorCriticConfig):
    """Every setting of a PPO run; the fields it shares with
    :class:`pgbook.actor_critic.ActorCriticConfig` are spelled and mean the same, and each one whose
    default matters to PPO is declared again here (PPO's defaults do not follow the actor-critic's).

    ``PPOConfig(clip_range=0.1)`` changes one field; ``config.replace(...)`` returns a modified
    copy; :meth:`validate` raises an error naming any bad field.  See ``benchmarks/ppo.py`` for
    what the defaults achieve on CartPole-v1 and Acrobot-v1, next to REINFORCE and the actor-critic.
    """

    learning_rate: float = 0.01
    """Step size of the optimiser (Adam by default), for every minibatch step."""
    gamma: float = 0.995
    """Discount factor in [0, 1] of the returns, the critic and GAE (evaluation reports undiscounted returns)."""
    lam: float = 0.9
    """λ of GAE in [0, 1] (as in :class:`pgbook.actor_critic.ActorCriticConfig`)."""
    batch_episodes: int = 4
    """Whole episodes per batch (one per parallel environment); each batch is used for several epochs."""
    critic_features: str = "quadratic"
    """Features of the linear critic: ``"linear"`` or ``"quadratic"`` (:func:`pgbook.actor_critic.critic_features`)."""
    critic_target: str = "return"
    """What the critic is fitted to: ``"return"`` (the reward-to-go) or ``"lambda-return"``."""
    critic_ridge: float = 1e-3
    """Ridge of the critic's least-squares fit (per step)."""
    normalise_advantages: bool = True
    """Centre and scale the advantages of the batch to mean 0 and standard deviation 1."""
    skip_uninformative: bool = False
    """Run no epochs on a batch whose episodes all have the same length and the same reward at every
    step (:func:`pgbook.actor_critic.uninformative`), whose advantages are only the critic's fitting
    error.  Off by default, unlike the actor-critic: PPO's steps on such a batch are held small by
    the clip and ``target_kl``, and with 4 episodes per batch most early Acrobot-v1 batches are
    such batches.  Measured on Acrobot-v1, seeds 0 to 4, 500 000 environment steps: with the check
    5 of 5 solved, median 70 736 steps (42 776 to 81 700); without it 5 of 5, median 21 428
    (14 916 to 187 940)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus added to the clipped objective (linear softmax policy only)."""
    clip_range: float = 0.2
    """ξ in (0, 1): the ratio of new to old action probabilities is clipped to [1 - ξ, 1 + ξ]
    (papers write ε)."""
    epochs: int = 10
    """Passes over each batch (the most; ``target_kl`` may stop them earlier)."""
    minibatches: int = 4
    """Minibatches per epoch: the batch's valid steps, permuted, are cut into this many parts,
    one optimiser step each."""
    target_kl: float | None = 0.02
    """Stop the epochs of a batch once the approximate KL divergence of the batch from the policy
    that played it exceeds this (None: always run every epoch)."""

    def validate(self) -> "PPOConfig":
        """Raise an error naming the first field with a bad value; return self."""
        super().validate()
        check_positive(self.clip_range, "clip_range")
        if self.clip_range >= 1:
            raise ValueError(f"clip_range must be in (0, 1), got {self.clip_range}")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.minibatches, "minibatches")
        if self.target_kl is not None:
            check_positive(self.target_kl, "target_kl")
        return self

    def trainer(self) -> Callable:
        return train

    def learner(self, policy, rng: np.random.Generator, horizon: int) -> "PPOLearner":
        return PPOLearner(self, policy, rng, horizon)


class PPOLearner(ActorCriticLearner):
    """One PPO run: the actor-critic learner (critic, GAE, optimiser, metrics, collapse watch,
    and its update: :meth:`pgbook.actor_critic.ActorCriticLearner.criticise`, the policy's step,
    the critic's refit) whose policy step, :meth:`improve`, is several epochs of clipped
    minibatch steps per batch."""

    def __init__(self, config: PPOConfig, policy, rng: np.random.Generator, horizon: int):
        super().__init__(config, policy, rng, horizon)
        self.rng = rng                               # draws the minibatches' permutations

    def diverge(self, what: str, iteration: int):
        c = self.config
        hint = learning_rate_hint(c.learning_rate)
        if c.target_kl is None:
            hint += ", or set target_kl (e.g. 0.02) to stop the epochs of a batch early"
        if not c.normalise_advantages:
            hint += ", or set normalise_advantages=True"
        self.status, self.message = "diverged", divergence_message(iteration, f"{what} became NaN or infinite",
                                                                   hint)

    def epochs(self, states, actions, log_prob_old, advantage):
        """The epochs of one batch (its valid steps, flattened): minibatch steps along the clipped
        objective's gradient; returns ``(epochs run, approximate KL, clip fraction)``, or None
        (parameters left at their last finite value) if a gradient or a step is not finite."""
        c, policy = self.config, self.policy
        n = len(advantage)
        approx_kl = clip_fraction = 0.0
        for epoch in range(1, c.epochs + 1):
            for rows in np.array_split(self.rng.permutation(n), min(c.minibatches, n)):
                with np.errstate(all="ignore"):
                    grad, _ = clipped_gradient(policy, self.theta, states[rows], actions[rows],
                                               log_prob_old[rows], advantage[rows], c.clip_range)
                    if c.entropy_coef > 0:
                        grad = grad + c.entropy_coef * entropy_gradient(policy, self.theta, states[rows])
                if not np.all(np.isfinite(grad)):
                    raise NonFiniteError("the clipped objective's gradient")
                if not self.step(grad):
                    return None
            with np.errstate(all="ignore"):
                log_ratio = policy.log_prob(self.theta, states, actions) - log_prob_old
                approx_kl = float(np.mean(np.expm1(log_ratio) - log_ratio))
                clip_fraction = float(np.mean(np.abs(np.expm1(log_ratio)) > c.clip_range))
            if not np.isfinite(approx_kl):
                raise NonFiniteError("the approximate KL")
            if c.target_kl is not None and approx_kl > c.target_kl:
                break
        return epoch, approx_kl, clip_fraction

    def improve(self, episodes, batch: CriticBatch, iteration: int):
        """The policy's part of an iteration: the epochs of clipped minibatch steps on the batch's
        valid steps (none on an uninformative batch).  Returns ``(samples, grad, extra metrics)``,
        with ``samples`` the ordinary policy gradient of each episode at the batch's start (the
        clipped objective's gradient there, summed per episode: its size and spread are reported as
        for the other trainers), or None after marking the run diverged."""
        policy, theta, mask = self.policy, self.theta, episodes.mask
        try:
            with np.errstate(all="ignore"):  # non-finite values are caught just below
                samples = policy_gradient_samples(step_scores(policy, theta, episodes), batch.weight, None, None,
                                                  mask)
                states, actions = episodes.states[mask], episodes.actions[mask]
                log_prob_old = policy.log_prob(theta, states, actions)
        except NonFiniteError:
            samples = np.array([np.nan])
        if not np.all(np.isfinite(samples)):
            self.diverge("the gradient", iteration)
            return None
        if batch.uninformative:
            return samples, samples.mean(axis=0), {"epochs_run": 0, "approx_kl": 0.0, "clip_fraction": 0.0}
        try:
            done = self.epochs(states, actions, log_prob_old, batch.weight[mask])
        except NonFiniteError:
            self.diverge("the clipped objective's gradient", iteration)
            return None
        if done is None:
            self.diverge("the parameters", iteration)
            return None
        return samples, samples.mean(axis=0), dict(zip(("epochs_run", "approx_kl", "clip_fraction"), done))

    def collapse_hint(self) -> str:
        return f"{learning_rate_hint(self.config.learning_rate)}, or lower clip_range (now {self.config.clip_range:g})"


def train(config: PPOConfig | None = None, callback: Callable[[dict], bool | None] | None = None,
          **overrides) -> TrainResult:
    """Train a softmax policy with PPO (clipped objective, GAE, several epochs per batch).

    Same call, budgets, seeding, progress bar, divergence and collapse handling as
    :func:`pgbook.reinforce.train` and :func:`pgbook.actor_critic.train`, and the same metrics
    per iteration (``return_mean`` of the batch played before the update, ``env_steps``,
    ``wall_time``, ``cpu_time``, ``entropy``, ``theta`` after the update, and the critic's
    ``value_error``, ``explained_variance``, ``advantage_std``), plus ``epochs_run`` (epochs
    taken on the batch: fewer than ``epochs`` when ``target_kl`` stopped them, 0 on a batch that
    ``skip_uninformative`` skipped), ``approx_kl``
    (approximate KL divergence of the batch after its last epoch) and ``clip_fraction`` (share of
    the batch's steps whose ratio ended outside :math:`[1-\\xi, 1+\\xi]`).  ``grad_norm`` and
    ``grad_variance`` describe the ordinary policy gradient of the batch at its start, with the
    weights :math:`\\hat A_t` of the epochs, one sample per episode: there (all ratios 1) the
    clipped objective's gradient is :math:`n/N` times the mean of these samples (``n`` episodes,
    ``N`` valid steps).  Returns a
    :class:`pgbook.reinforce.TrainResult` whose ``config`` is the :class:`PPOConfig`.
    """
    return run_learner(PPOConfig.make(config, **overrides), callback, "PPO")
