"""The two step rules every trainer in the book uses: plain gradient steps and Adam.

Both return the *step* to add to the parameters for an ascent direction ``grad``
(so a maximiser does ``theta = theta + opt.step(grad)``; a minimiser passes ``-grad``).
``grad`` must have the parameters' shape and be finite: a NaN gradient raises a
:class:`pgbook._validate.NonFiniteError` instead of turning the parameters into NaN.
"""
from __future__ import annotations

import numpy as np

from ._validate import (ArgumentTypeError, NonFiniteError, check_choice, check_finite, check_positive, check_real,
                        check_shape)

__all__ = ["SGD", "Adam", "make_optimiser"]


def _shape(shape) -> tuple:
    """The parameter shape: an int or a tuple of non-negative ints."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise ArgumentTypeError(f"shape must be an int or a tuple of ints, got {type(shape).__name__} {shape!r}") from None
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims):
        raise ValueError(f"shape must be an int or a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _unit_interval(x, name: str) -> float:
    """A number in [0, 1)."""
    value = check_real(x, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


def _check_grad(grad, shape: tuple) -> np.ndarray:
    """``grad`` as a float array of the parameters' ``shape`` with every entry finite."""
    try:
        g = check_finite(grad, "grad")
    except NonFiniteError as err:
        raise NonFiniteError(f"{err}; a step along it would make the parameters NaN. Check the gradient "
                             "estimate (a lower learning rate often prevents the overflow behind it)") from None
    return check_shape(g, shape, "grad")


class SGD:
    """``step = learning_rate * velocity`` with ``velocity = momentum * velocity + grad``
    (momentum 0 gives the plain gradient step)."""

    def __init__(self, shape, learning_rate: float, momentum: float = 0.0):
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.momentum = _unit_interval(momentum, "momentum")
        self.velocity = np.zeros(_shape(shape))

    def step(self, grad) -> np.ndarray:
        """The step for the ascent direction ``grad`` (shape of the parameters, finite)."""
        grad = _check_grad(grad, self.velocity.shape)
        self.velocity = self.momentum * self.velocity + grad
        return self.learning_rate * self.velocity


class Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected first and second moments."""

    def __init__(self, shape, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.beta1, self.beta2 = _unit_interval(beta1, "beta1"), _unit_interval(beta2, "beta2")
        self.eps = check_positive(eps, "eps")
        self.m = np.zeros(_shape(shape))
        self.v = np.zeros(self.m.shape)
        self.t = 0

    def step(self, grad) -> np.ndarray:
        """The step for the ascent direction ``grad`` (shape of the parameters, finite)."""
        grad = _check_grad(grad, self.m.shape)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)


def make_optimiser(name: str, shape, learning_rate: float, momentum: float = 0.0):
    """``"adam"`` or ``"sgd"`` by name."""
    check_choice(name, ("adam", "sgd"), "optimiser")
    if name == "adam":
        return Adam(shape, learning_rate)
    return SGD(shape, learning_rate, momentum)
