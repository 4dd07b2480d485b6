"""The distribution of trajectories, :math:`p_\\theta(\\tau)`, as a distribution object.

:func:`pgbook.estimators.score_function_samples` estimates
:math:`\\nabla_\\theta \\mathbb E_{x\\sim p_\\theta}[f(x)]` for any object with ``sample(rng, n)``,
``score(x)`` and ``log_prob(x)``.  The distributions of :mod:`pgbook.distributions` already
have that shape (variational inference, black-box optimisation).  This module adds the
adapter for reinforcement learning, where x is a whole trajectory:

* :class:`TrajectoryDistribution` ``(mdp, policy, theta)``: :math:`p_\\theta(\\tau)` of a tabular MDP
  under a policy.  Its score is :math:`\\sum_t \\nabla_\\theta \\log\\pi_\\theta(a_t\\mid s_t)` (the
  dynamics drop out), flattened to ``(n, P)``.
* :func:`trajectory_return` ``(mdp)``: the function :math:`f(\\tau) = R(\\tau) = \\sum_t \\gamma^t r_t`.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_mdp, check_policy_theta
from .estimators import discounted_return, step_scores
from .mdp import log_prob_trajectory, sample_trajectories

__all__ = ["TrajectoryDistribution", "trajectory_return"]


class TrajectoryDistribution:
    """The distribution :math:`p_\\theta(\\tau)` of episodes of ``mdp`` under ``policy`` with parameters ``theta``.

    Parameters
    ----------
    mdp : pgbook.mdp.TabularMDP
    policy : a policy of pgbook.policies (e.g. ``TabularSoftmax``) with ``sample``, ``log_prob``, ``score``
    theta : array of ``policy.theta_shape``

    Methods (the interface of ``pgbook.estimators.score_function_samples``):
    ``sample(rng, n)`` returns a ``pgbook.episodes.Episodes`` batch of n episodes;
    ``score(traj)`` returns :math:`\\sum_t m_t \\nabla_\\theta\\log\\pi_\\theta(a_t\\mid s_t)` flattened, shape (n, P)
    with P = ``theta.size`` (reshape with ``theta_shape``); ``log_prob(traj)`` returns the full
    :math:`\\log P(\\tau\\mid\\theta)` including the initial distribution and the dynamics, shape (n,).
    """

    def __init__(self, mdp, policy, theta):
        check_mdp(mdp)
        theta = check_policy_theta(policy, theta, ("sample", "log_prob", "score"))
        self.mdp, self.policy, self._theta = mdp, policy, np.array(theta, dtype=float)

    @property
    def params(self) -> np.ndarray:
        """A copy of theta, flattened (the score's column order)."""
        return self._theta.reshape(-1).copy()

    @property
    def theta_shape(self) -> tuple:
        return self._theta.shape

    def with_params(self, params) -> "TrajectoryDistribution":
        """The same MDP and policy with new (flat or shaped) parameters."""
        params = np.asarray(params, dtype=float)
        if params.size != self._theta.size:
            raise ValueError(f"params must have {self._theta.size} entries (theta_shape {self._theta.shape}), got {params.size}")
        return TrajectoryDistribution(self.mdp, self.policy, params.reshape(self._theta.shape))

    def sample(self, rng, n: int):
        """``n`` episodes (``pgbook.mdp.sample_trajectories``), an ``Episodes`` batch."""
        return sample_trajectories(self.mdp, self.policy, self._theta, n, rng)

    def score(self, traj) -> np.ndarray:
        """:math:`\\nabla_\\theta \\log P(\\tau\\mid\\theta) = \\sum_t m_t\\nabla_\\theta\\log\\pi_\\theta(a_t\\mid s_t)`, shape (n, P)."""
        return step_scores(self.policy, self._theta, traj).sum(axis=1).reshape(traj.n, -1)

    def log_prob(self, traj) -> np.ndarray:
        """Full :math:`\\log P(\\tau\\mid\\theta)` (``pgbook.mdp.log_prob_trajectory``), shape (n,)."""
        return log_prob_trajectory(self.mdp, self.policy, self._theta, traj)


def trajectory_return(mdp):
    """The RL integrand :math:`f(\\tau) = R(\\tau) = \\sum_t \\gamma^t r_t` for trajectories of ``mdp``: traj -> (n,)."""
    check_mdp(mdp)

    def f(traj):
        return discounted_return(traj.rewards, mdp.gamma, traj.mask)

    return f
