"""pgbook: the shared code of *Policy Gradients from First Principles*.

The notebooks tell the story; every computation they show lives here, once, and is
covered by the tests in ``tests/``.  Importing the package applies the book's figure
style and registers the book's gymnasium environments (``pgbook/...``).
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import _validate, plotting, seeding  # noqa: F401
from .seeding import book_seed, make_rng  # noqa: F401
from . import mdp, policies, estimators  # noqa: F401
from . import distributions, symbolic  # noqa: F401
from . import envs  # noqa: F401  (registers pgbook/ShortCorridor-v0 and pgbook/LinearQuadratic-v0)
from . import es, quadrature  # noqa: F401
from . import general, pathwise, vi  # noqa: F401
from . import optim  # noqa: F401
from . import reinforce, mlp, widgets  # noqa: F401

plotting.use_style()
