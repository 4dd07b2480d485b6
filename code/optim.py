"""The two step rules every trainer in the book uses: plain gradient steps and Adam.

Both return the *step* to add to the parameters for an ascent direction ``grad``
(so a maximiser does ``theta = theta + opt.step(grad)``; a minimiser passes ``-grad``).
"""
from __future__ import annotations

import numpy as np

from ._validate import check_positive

__all__ = ["SGD", "Adam", "make_optimizer"]


class SGD:
    """``step = learning_rate * velocity`` with ``velocity = momentum * velocity + grad``
    (momentum 0 gives the plain gradient step)."""

    def __init__(self, shape, learning_rate: float, momentum: float = 0.0):
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.velocity = np.zeros(shape)

    def step(self, grad) -> np.ndarray:
        self.velocity = self.momentum * self.velocity + grad
        return self.learning_rate * self.velocity


class Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected first and second moments."""

    def __init__(self, shape, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= float(beta) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {beta}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), check_positive(eps, "eps")
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, grad) -> np.ndarray:
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)


def make_optimizer(name: str, shape, learning_rate: float, momentum: float = 0.0):
    """``"adam"`` or ``"sgd"`` by name."""
    if name == "adam":
        return Adam(shape, learning_rate)
    if name == "sgd":
        return SGD(shape, learning_rate, momentum)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")
