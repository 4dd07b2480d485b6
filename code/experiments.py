"""Many REINFORCE runs: several seeds side by side, and the time a run takes to solve its task.

:func:`train_many` plays the episodes of several independent runs in one vector environment, so
the Python loop over time steps is paid once; :func:`time_to_solve` trains until an evaluation
says the task is solved and reports the time and environment steps it took.  The algorithm
itself is :mod:`pgbook.reinforce`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np

from ._validate import ArgumentTypeError, NonFiniteError, check_finite_real, check_positive_int, check_seed
from .episodes import Episodes
from .reinforce import ReinforceConfig, RunConfig, make_policy
from .rollout import episode_cap, evaluate, joint_sampler, make_envs, play_round
from .training import TrainingCollapsedWarning, TrainingDivergedWarning

__all__ = ["train_many", "time_to_solve", "split_runs"]


def split_runs(episodes: Episodes, runs: int) -> list:
    """Cut ``runs * n`` episodes played together (run-major rows) into one batch per run, each
    trimmed to its own longest episode; its ``env_steps`` counts what that run alone would have stepped."""
    n = episodes.n // check_positive_int(runs, "runs")
    parts = []
    for k in range(runs):
        part = episodes.take(slice(k * n, (k + 1) * n)).trimmed()
        parts.append(replace(part, env_steps=n * part.mask.shape[1]))
    return parts




def train_many(config: ReinforceConfig | None = None, seeds=(0, 1, 2, 3, 4), *, configs=None,
               **overrides) -> list:
    """Independent REINFORCE runs, one per seed (or per config), played together on one vector environment.

    Every run has its own initial parameters (drawn from its seed), its own optimiser and its own
    baseline, and learns only from its own ``batch_episodes`` episodes per iteration, exactly as
    :func:`pgbook.reinforce.train` would.  The only thing shared is the simulator: one ``gymnasium.make_vec`` with
    ``runs * batch_episodes`` copies steps the episodes of all runs in lockstep, so the Python loop
    over time steps is paid once instead of once per run.  With CartPole's native vector
    environment twenty runs cost a few times one, not twenty.

    Give either ``config`` (plus keyword ``overrides``) and ``seeds``, for one run per seed, or
    ``configs``, a list of configs to run side by side (for example two baselines and many seeds);
    these must agree on the environment, ``batch_episodes`` and ``max_episode_steps``.  A config
    may also be another trainer's :class:`pgbook.reinforce.RunConfig`, such as a
    :class:`pgbook.actor_critic.ActorCriticConfig`: that run learns with its own update (the
    learner its config makes, :meth:`pgbook.reinforce.RunConfig.learner`), so REINFORCE and
    actor-critic runs can share one simulator.

    The runs are statistically the same as :func:`pgbook.reinforce.train` runs but not number for number (the
    environment and the action draws use one shared generator seeded from all the seeds); the same
    arguments give the same runs.  Batching by steps, ``max_seconds`` and callbacks are not
    supported.  Returns a list of :class:`pgbook.reinforce.TrainResult` in the order of the seeds (or configs);
    each run's ``env_steps`` counts the steps it would have taken alone, ``wall_time`` the shared clock.
    """
    if configs is None:
        config = (type(config) if isinstance(config, RunConfig) else ReinforceConfig).make(config, **overrides)
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
            raise ArgumentTypeError(f"seeds must be a sequence of non-negative integers, got {type(seeds).__name__}")
        seeds = [check_seed(s, "each seed in seeds") for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be a non-empty sequence of distinct non-negative integers, got {seeds!r}")
        configs = [config.replace(seed=s) for s in seeds]
    else:
        if isinstance(configs, RunConfig) or not hasattr(configs, "__iter__"):
            raise ArgumentTypeError(f"configs must be a list of ReinforceConfig, got {type(configs).__name__}")
        configs = list(configs)
        if config is not None or overrides or not configs:
            raise ValueError("give either config (with seeds and overrides) or a non-empty list of configs, not both")
    for c in configs:
        if not isinstance(c, RunConfig):
            raise ArgumentTypeError(f"configs must hold ReinforceConfig objects (or another trainer's "
                                    f"RunConfig, such as ActorCriticConfig), got a {type(c).__name__}")
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
        cap = episode_cap(envs, first.max_episode_steps)
        learners = []
        for c in configs:
            policy, rng = make_policy(c, obs_space, action_space), np.random.default_rng([int(c.seed), 0])
            learners.append(c.learner(policy, rng, cap))
        for iteration in range(1, max(c.max_iterations for c in configs) + 1):
            active = [ln for ln in learners if ln.status == "budget" and not _spent(ln, iteration)]
            if not active:
                break
            # runs that stopped keep playing with their last parameters; their episodes are ignored
            act = joint_sampler([ln.policy for ln in learners], [ln.theta for ln in learners], n, shared_rng)
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    episodes = play_round(envs, None, None, shared_rng, cap, act=act)
            except (FloatingPointError, NonFiniteError):
                for ln in active:
                    ln.diverge("the policy's actions or observations", iteration)
                break
            for ln, part in zip(learners, split_runs(episodes, runs)):
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


def time_to_solve(config=None, target: float = 475.0, n_eval: int = 100,
                  eval_seed: int = 12345, **overrides) -> dict:
    """Train until the policy is *solved*: the mean undiscounted return of ``n_eval`` fresh
    evaluation episodes (sampled actions) reaches ``target``.

    The evaluation is run only after an iteration whose batch mean return reaches ``target``, and
    its time is not counted as training time.  Returns a dict with ``solved`` (bool),
    ``seconds`` (training wall time, evaluation excluded), ``cpu_seconds`` (the same in CPU time
    of this process), ``env_steps`` (training steps),
    ``iterations``, ``eval_return`` (the last evaluation's mean, NaN if none ran) and ``result``
    (the :class:`pgbook.reinforce.TrainResult`).  ``config`` is a
    :class:`pgbook.reinforce.ReinforceConfig` (default) or another trainer's
    :class:`pgbook.reinforce.RunConfig`, such as a :class:`pgbook.actor_critic.ActorCriticConfig`,
    which trains with its own trainer (:meth:`pgbook.reinforce.RunConfig.trainer`).
    """
    config = (type(config) if isinstance(config, RunConfig) else ReinforceConfig).make(config, **overrides)
    check = _SolvedCheck(config, check_finite_real(target, "target"), check_positive_int(n_eval, "n_eval"),
                         check_seed(eval_seed, "eval_seed"))
    result = config.trainer()(config, check)
    last = result.history[-1] if result.history else {"wall_time": 0.0, "cpu_time": 0.0}
    return {
        "solved": check.solved,
        "seconds": float(last["wall_time"]) - check.eval_time_before,
        "cpu_seconds": float(last["cpu_time"]) - check.eval_cpu_before,
        "env_steps": result.env_steps,
        "iterations": result.iterations,
        "eval_return": check.eval_return,
        "result": result,
    }


class _SolvedCheck:
    """The callback of :func:`time_to_solve`: after a batch whose mean return reaches ``target``,
    evaluate ``n_eval`` fresh episodes and stop once their mean reaches it too; it keeps the
    evaluation's own time apart so that it can be left out of the training time."""

    def __init__(self, config: ReinforceConfig, target: float, n_eval: int, eval_seed: int):
        self.config, self.target, self.n_eval, self.eval_seed = config, target, n_eval, eval_seed
        self.eval_time = self.eval_cpu = 0.0
        # evaluation time inside the last metrics row's clocks: the evaluations run before that row
        # (the one run after it, in the same call, is not in its clock and must not be subtracted)
        self.eval_time_before = self.eval_cpu_before = 0.0
        self.eval_return = float("nan")
        self.solved = False
        self.policy = None

    def __call__(self, metrics: dict) -> bool:
        self.eval_time_before, self.eval_cpu_before = self.eval_time, self.eval_cpu
        if metrics["return_mean"] < self.target:
            return False
        c = self.config
        t0, c0 = time.perf_counter(), time.process_time()
        if self.policy is None:
            envs = make_envs(c.env_id, 1, c.vectorization_mode, c.env_kwargs)
            self.policy = make_policy(c, envs.single_observation_space, envs.single_action_space)
            envs.close()
        returns = evaluate(self.policy, metrics["theta"], c.env_id, self.n_eval, self.eval_seed + metrics["iteration"],
                           False, c.env_kwargs, c.max_episode_steps, c.vectorization_mode)
        self.eval_time += time.perf_counter() - t0
        self.eval_cpu += time.process_time() - c0
        self.eval_return = float(returns.mean())
        self.solved = self.eval_return >= self.target
        return self.solved
