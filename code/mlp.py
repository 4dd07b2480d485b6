r"""A softmax policy with one hidden tanh layer and hand-written backpropagation.

The network maps an observation ``x`` (``obs_dim`` numbers) to action probabilities

.. math::

   h &= \tanh(x W_1 + b_1), \\
   \text{logits} &= h W_2 + b_2, \\
   \pi_\theta(a \mid x) &= \operatorname{softmax}(\text{logits})_a .

The parameters live in one flat vector ``theta`` (shape ``theta_shape = (n_params,)``) so that
the trainer and the optimisers treat it like any other policy's parameters;
:meth:`MLPSoftmax.unpack` views it as ``W1, b1, W2, b2``.  The score
:math:`\nabla_\theta \log \pi_\theta(a \mid x)` is computed by backpropagation written out by hand:
the gradient of the log-probability with respect to the logits is ``onehot(a) - probs``, and the
chain rule carries it back through ``W2`` and the tanh layer (whose derivative is ``1 - h**2``).
``tests/test_mlp.py`` checks it against finite differences.

:class:`MLPSoftmax` is a :class:`pgbook.policies.SoftmaxPolicy`: it defines the logits, and
``probs``, ``log_prob``, ``sample`` and ``check_theta`` are those of every softmax policy of the
book.  The methods are vectorised over any leading batch shape of ``obs``.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_finite, check_nonnegative, check_positive_int, check_rng
from .policies import SoftmaxPolicy, softmax

__all__ = ["MLPSoftmax"]


class MLPSoftmax(SoftmaxPolicy):
    """Softmax policy over ``n_actions`` actions with one hidden tanh layer of ``hidden`` units.

    Parameters
    ----------
    obs_dim : int
        Length of an observation vector.
    n_actions : int
        Number of discrete actions.
    hidden : int
        Width of the hidden layer.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 16):
        self.obs_dim = check_positive_int(obs_dim, "obs_dim")
        self.n_actions = check_positive_int(n_actions, "n_actions")
        self.hidden = check_positive_int(hidden, "hidden")
        d, h, a = self.obs_dim, self.hidden, self.n_actions
        # Offsets of W1 (d, h), b1 (h,), W2 (h, a), b2 (a,) inside the flat theta.
        self._sizes = [d * h, h, h * a, a]
        self._offsets = np.cumsum([0] + self._sizes)
        self.theta_shape = (int(self._offsets[-1]),)

    def __repr__(self) -> str:
        return f"MLPSoftmax(obs_dim={self.obs_dim}, n_actions={self.n_actions}, hidden={self.hidden})"

    # ------------------------------------------------------------------ parameters
    def unpack(self, theta):
        """Views ``W1 (obs_dim, hidden)``, ``b1 (hidden,)``, ``W2 (hidden, n_actions)``, ``b2 (n_actions,)`` of ``theta``
        (which must be real, finite and of shape ``theta_shape``)."""
        theta = self.check_theta(theta)
        o = self._offsets
        d, h, a = self.obs_dim, self.hidden, self.n_actions
        return (theta[o[0]:o[1]].reshape(d, h), theta[o[1]:o[2]],
                theta[o[2]:o[3]].reshape(h, a), theta[o[3]:o[4]])

    def pack(self, W1, b1, W2, b2) -> np.ndarray:
        """The flat parameter vector made of the four blocks (inverse of :meth:`unpack`)."""
        names = ("W1", "b1", "W2", "b2")
        parts = [check_finite(p, name).reshape(-1) for p, name in zip((W1, b1, W2, b2), names)]
        for p, size, name in zip(parts, self._sizes, names):
            if p.size != size:
                raise ValueError(f"{name} must have {size} entries, got {p.size}")
        return np.concatenate(parts)

    def init_theta(self, rng: np.random.Generator, scale: float = 0.0) -> np.ndarray:
        """Initial parameters, drawn from ``rng`` (a ``numpy.random.Generator``, always needed).

        The hidden weights ``W1`` get Gaussian entries of standard deviation ``1/sqrt(obs_dim)``
        (the hidden units must differ, or they would all learn the same thing); the output
        weights get standard deviation ``scale`` (0 by default: the initial policy is uniform).
        """
        scale = check_nonnegative(scale, "scale")
        rng = check_rng(rng)
        d, h, a = self.obs_dim, self.hidden, self.n_actions
        W1 = rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, h))
        W2 = rng.normal(0.0, scale, size=(h, a)) if scale > 0 else np.zeros((h, a))
        return self.pack(W1, np.zeros(h), W2, np.zeros(a))

    # ------------------------------------------------------------------ forward pass
    def _obs(self, obs) -> np.ndarray:
        obs = check_finite(obs, "obs")
        if obs.shape[-1:] != (self.obs_dim,):
            raise ValueError(f"obs must have last dimension {self.obs_dim}, got shape {obs.shape}")
        return obs

    def _forward(self, theta, obs):
        """``W2``, the observations ``x``, the hidden units ``h`` and the logits."""
        W1, b1, W2, b2 = self.unpack(theta)
        x = self._obs(obs)
        hidden = np.tanh(x @ W1 + b1)
        return W2, x, hidden, hidden @ W2 + b2

    def logits(self, theta, obs) -> np.ndarray:
        """Unnormalised log-probabilities ``tanh(x W1 + b1) W2 + b2``, shape ``obs.shape[:-1] + (n_actions,)``."""
        return self._forward(theta, obs)[3]

    # ------------------------------------------------------------------ backward pass
    def score(self, theta, obs, actions) -> np.ndarray:
        """``grad_theta log pi(a|x)`` by backpropagation, shape ``obs.shape[:-1] + (n_params,)``.

        With ``delta = onehot(a) - probs`` (the gradient with respect to the logits):
        ``dW2 = h ⊗ delta``, ``db2 = delta``, ``dpre = (delta @ W2.T) * (1 - h**2)``,
        ``dW1 = x ⊗ dpre``, ``db1 = dpre``.
        """
        return self.weighted_score_sum(theta, obs, actions, weights=None)

    def weighted_score_sum(self, theta, obs, actions, weights=None, axes: int = 0) -> np.ndarray:
        """``sum_t weights_t * score_t`` over the last ``axes`` batch dimensions, without storing every score.

        ``obs`` has shape ``batch + (obs_dim,)``, ``actions`` and ``weights`` shape ``batch``.
        With ``axes=0`` (and ``weights=None``) this is :meth:`score`; with ``obs`` of shape
        ``(n, T, obs_dim)`` and ``axes=1`` it returns one summed gradient per trajectory,
        shape ``(n, n_params)``, at the memory cost of a single pass.
        """
        W2, x, hidden, logits = self._forward(theta, obs)
        batch = logits.shape[:-1]
        delta = self._logit_score(softmax(logits), actions)
        if weights is not None:
            weights = check_finite(weights, "weights")
            if weights.shape != batch:
                raise ValueError(f"weights must have shape {batch}, got {weights.shape}")
            delta = delta * weights[..., None]
        dpre = (delta @ W2.T) * (1.0 - hidden**2)
        lead = batch[: len(batch) - axes]
        summed = "".join(chr(ord("t") + i) for i in range(axes))  # letters for the summed axes
        spec_in = "..." + summed
        dW1 = np.einsum(f"{spec_in}i,{spec_in}j->...ij", x, dpre).reshape(lead + (-1,))
        dW2 = np.einsum(f"{spec_in}i,{spec_in}j->...ij", hidden, delta).reshape(lead + (-1,))
        db1 = dpre.sum(axis=tuple(range(len(lead), len(batch)))) if axes else dpre
        db2 = delta.sum(axis=tuple(range(len(lead), len(batch)))) if axes else delta
        return np.concatenate([dW1, db1, dW2, db2], axis=-1)
