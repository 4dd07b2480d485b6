"""The step rules: Adam and SGD against hand-computed steps, and their errors."""
import numpy as np
import pytest

from pgbook.optim import SGD, Adam, make_optimiser


def test_adam_first_step_is_learning_rate_times_sign():
    # After one step the bias-corrected moments are g and g**2, so the step is lr * g / (|g| + eps).
    g = np.array([0.5, -2.0, 1e-3])
    step = Adam(3, learning_rate=0.1).step(g)
    np.testing.assert_allclose(step, 0.1 * g / (np.abs(g) + 1e-8))


def test_adam_matches_the_recursion_written_out():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(5, 2))
    adam = Adam(2, learning_rate=0.01, beta1=0.8, beta2=0.9)
    m = v = np.zeros(2)
    for t, g in enumerate(grads, start=1):
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        expected = 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-8)
        np.testing.assert_allclose(adam.step(g), expected)


def test_sgd_with_momentum_accumulates():
    sgd = SGD(1, learning_rate=0.5, momentum=0.5)
    np.testing.assert_allclose(sgd.step(np.array([2.0])), [1.0])
    np.testing.assert_allclose(sgd.step(np.array([2.0])), [1.5])  # velocity 0.5 * 2 + 2 = 3


@pytest.mark.parametrize("call, match", [
    (lambda: Adam(2, learning_rate=0.0), "learning_rate"),
    (lambda: Adam(2, learning_rate=0.1, beta1=1.0), "beta1"),
    (lambda: SGD(2, learning_rate=0.1, momentum=1.5), "momentum"),
    (lambda: make_optimiser("rmsprop", 2, 0.1), "optimiser"),
])
def test_bad_settings_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
