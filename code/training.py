"""What every training loop of the book shares: its result, its warnings and its collapse watch.

The book trains with four loops, one per field, all with the same vocabulary:
:func:`pgbook.reinforce.train` and :func:`pgbook.reinforce.train_tabular` (reinforcement
learning), :func:`pgbook.es.optimise` (black-box optimisation) and :func:`pgbook.vi.fit`
(variational inference).  Each takes a small config dataclass whose fields carry a docstring,
spells its budget ``max_iterations``, its step size ``learning_rate`` and its step rule
``optimiser``, and returns a :class:`RunResult` (or a subclass): the final parameters
``theta``, one dict of metrics per iteration in ``history``, and a ``status`` that says why
the run stopped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ._validate import ArgumentTypeError, check_positive_int, check_real

__all__ = [
    "Config",
    "RunResult",
    "TracedResult",
    "STATUSES",
    "TrainingDivergedWarning",
    "TrainingCollapsedWarning",
    "CollapseWatch",
    "learning_rate_hint",
    "divergence_message",
    "SATURATION_PROB",
    "COLLAPSE_PATIENCE",
]

#: Why a run stopped: its budget ran out, it reached its target, its callback asked it to,
#: something stopped being finite, or its policy collapsed (see :class:`CollapseWatch`).
STATUSES = ("budget", "target", "callback", "diverged", "collapsed")
#: A softmax policy is *saturated* on a batch when the mean over its steps of
#: 1 - max_a pi(a|s), the probability of not taking the most likely action, is below this.
#: Its score onehot(a) - pi is then about zero: the gradient vanishes and learning stops.
SATURATION_PROB = 1e-6
#: A run has *collapsed* when its policy was saturated on this many batches in a row and their
#: mean return is poor (see :class:`CollapseWatch`).
COLLAPSE_PATIENCE = 5


class TrainingDivergedWarning(UserWarning):
    """Issued when a training loop stops because a parameter, return or gradient is not finite."""


class TrainingCollapsedWarning(UserWarning):
    """Issued when a trainer stops because its policy became deterministic while its return is poor.

    A softmax policy whose most likely action has probability 1 - 1e-6 or more in every visited
    state has a (numerically) zero score, so the gradient vanishes and the run cannot recover;
    if its return is then far below what the run reached (or no better than where it started),
    the run has collapsed, usually because the learning rate is too large.  Used by
    :func:`pgbook.reinforce.train`, :func:`pgbook.experiments.train_many` and
    :func:`pgbook.reinforce.train_tabular`.
    """


class Config:
    """The base of the trainers' config dataclasses (:class:`pgbook.reinforce.ReinforceConfig`,
    :class:`pgbook.es.ESConfig`, :class:`pgbook.vi.VIConfig`).

    A config is checked when it is made (its ``validate`` raises an error naming the first bad
    field); :meth:`replace` returns a changed copy, checked again; :meth:`make` is what a trainer
    does with its ``config`` argument and keyword overrides.
    """

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raise an error naming the first field with a bad value; return self."""
        return self

    def replace(self, **changes):
        """A copy with some fields changed (an unknown field raises an error that names it)."""
        data = asdict(self)
        unknown = set(changes) - set(data)
        if unknown:
            raise ArgumentTypeError(f"unknown {type(self).__name__} field(s): {sorted(unknown)}; "
                                    f"the fields are {sorted(data)}")
        return type(self)(**{**data, **changes})

    @classmethod
    def make(cls, config=None, **overrides):
        """``config`` (default: ``cls()``) with keyword ``overrides``, validated."""
        if config is None:
            config = cls()
        if not isinstance(config, cls):
            raise ArgumentTypeError(f"config must be a {cls.__name__} (or None), got {type(config).__name__}; "
                                    f"pass settings as keywords instead, e.g. learning_rate=0.1")
        return config.replace(**overrides) if overrides else config.validate()


@dataclass
class RunResult:
    """What a training loop returns.

    ``theta`` the final parameters; ``history`` one dict of metrics per iteration (see the
    loop's docstring for its keys), read one metric at a time with :meth:`curve`; ``status``
    one of :data:`STATUSES`; ``message`` says what happened and, for ``"diverged"`` and
    ``"collapsed"``, what to change; ``wall_time`` the run's duration in seconds.
    """

    theta: np.ndarray
    history: list
    status: str
    message: str
    wall_time: float

    @property
    def iterations(self) -> int:
        """Number of iterations run."""
        return len(self.history)

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def collapsed(self) -> bool:
        return self.status == "collapsed"

    def curve(self, key: str) -> np.ndarray:
        """The metric ``key`` over the iterations, as a float array (stacked, for arrays)."""
        if not isinstance(key, str):
            raise ArgumentTypeError(f"key must be the name of a metric (a string), got {type(key).__name__}")
        if self.history and key not in self.history[0]:
            raise ValueError(f"unknown metric {key!r}; the metrics are {sorted(self.history[0])}")
        return np.array([row[key] for row in self.history], dtype=float)


@dataclass
class TracedResult(RunResult):
    """A :class:`RunResult` that also keeps the starting parameters ``theta0``, for trainers whose
    history rows hold the parameters after each step, so that the whole path can be read."""

    theta0: np.ndarray

    @property
    def thetas(self) -> np.ndarray:
        """The parameters before the first step and after every step, shape (iterations + 1, ...)."""
        return np.array([self.theta0] + [row["theta"] for row in self.history], dtype=float)


def learning_rate_hint(learning_rate: float) -> str:
    """The advice every trainer gives when a run diverges or collapses."""
    return f"lower learning_rate (now {learning_rate:g}; try {min(learning_rate / 10, 0.1):g})"


def divergence_message(iteration: int, what: str, hint: str) -> str:
    """The message of every trainer whose run diverged: when, what happened, what to change."""
    return (f"training diverged at iteration {iteration}: {what}. To fix it, {hint}. "
            f"The result keeps the last finite parameters.")


class CollapseWatch:
    """Watches a run for *collapse*: a softmax policy gone deterministic while its return is poor.

    Call :meth:`observe` once per iteration with the batch's mean return (or any measure of
    performance), the standard error of that mean and the policy's non-greedy probability on the
    batch (the mean over its steps of :math:`1 - \\max_a \\pi(a\\mid s)`; None for a policy that
    cannot saturate, such as a Gaussian).  It returns True once the run has collapsed:

    * the policy was *saturated* (non-greedy probability below :data:`SATURATION_PROB`) on the last
      :data:`COLLAPSE_PATIENCE` batches in a row, so its score and hence the gradient are
      (numerically) zero and it cannot recover; and
    * the mean return over those batches is below :attr:`threshold`: the return at the start plus
      half of the way from there to the best return seen so far or, if it is higher, to
      ``target`` (and at least twice the first batch's standard error above the start).  The run
      has lost at least half of what it gained, froze less than halfway to what counts as solving
      the task, or never got clearly better than where it started.

    ``first``, when given, replaces the first batch's return by a known starting value (for
    example the exact objective of the initial policy); ``target``, when given, is a return that
    counts as solving the task (gymnasium's ``reward_threshold``, or the optimal value of a
    tabular MDP), named by ``target_name`` in the message.  A run that solves its task with a
    near-deterministic policy stays near its best return and above halfway to the target, so it
    is never flagged; healthy learning rates do not saturate a softmax at all within a run.
    """

    def __init__(self, patience: int = COLLAPSE_PATIENCE, first: float | None = None,
                 target: float | None = None, target_name: str = "target"):
        self.patience = check_positive_int(patience, "patience")
        self.first = None if first is None else check_real(first, "first")
        self.target = None if target is None else check_real(target, "target")
        self.target_name = target_name
        self.first_se = 0.0
        self.best = -np.inf
        self.window: list = []
        self.saturated_since = None

    @property
    def reference(self) -> float:
        """The higher of the best return seen and ``target``."""
        return self.best if self.target is None else max(self.best, self.target)

    @property
    def threshold(self) -> float:
        """Returns below this count as poor: ``first + max((reference - first) / 2, 2 * first_se)``."""
        return self.first + max(0.5 * (self.reference - self.first), 2.0 * self.first_se)

    @property
    def window_mean(self) -> float:
        return float(np.mean(self.window))

    def observe(self, iteration: int, value: float, non_greedy_prob: float | None, se: float = 0.0) -> bool:
        """Record one iteration; True if the run has now collapsed."""
        if self.first is None:
            self.first, self.first_se = float(value), float(se)
        self.best = max(self.best, self.first, float(value))
        if non_greedy_prob is None or not non_greedy_prob < SATURATION_PROB:
            self.window, self.saturated_since = [], None
            return False
        if self.saturated_since is None:
            self.saturated_since = iteration
        self.window = (self.window + [float(value)])[-self.patience:]
        return len(self.window) == self.patience and self.window_mean < self.threshold

    def message(self, iteration: int, hint: str, what: str = "mean return") -> str:
        """What happened and what to change (``hint``, e.g. "lower learning_rate ...")."""
        if self.target is not None and self.target > self.best:
            reference = (f"{self.target_name}, {self.target:.4g} (the best batch reached {self.best:.4g}; "
                         f"the start {self.first:.4g})")
        else:
            reference = f"the best batch, {self.best:.4g} (at the start: {self.first:.4g})"
        return (f"training collapsed at iteration {iteration}: the policy became deterministic at iteration "
                f"{self.saturated_since} (on each of the last {self.patience} batches it took its most likely "
                f"action with probability above 1 - {SATURATION_PROB:g} on average, so its score and the "
                f"gradient are zero and it cannot improve), and its {what} over those batches, "
                f"{self.window_mean:.4g}, is far below {reference}. To fix it, {hint}. "
                f"The result keeps the final parameters.")
