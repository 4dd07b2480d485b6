"""pgbook: the shared code of *Policy Gradients from First Principles*.

The notebooks tell the story; every computation they show lives here, once, and is
covered by the tests in ``tests/``.  Importing the package registers the book's
gymnasium environments (``pgbook/...``) and nothing heavier: each submodule is loaded
on first use (``from pgbook import mdp``, ``import pgbook.mdp`` or ``pgbook.mdp``), so
sympy, matplotlib and ipywidgets arrive only with a chapter that needs them.  Importing
:mod:`pgbook.plotting` applies the book's figure style.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .seeding import book_seed, make_rng  # noqa: E402,F401
from . import envs  # noqa: E402,F401  (registers pgbook/ShortCorridor-v0 and pgbook/LinearQuadratic-v0)

#: The submodules, each imported on first attribute access (PEP 562).
_SUBMODULES = (
    "actor_critic",
    "baselines",
    "distributions",
    "envs",
    "episodes",
    "es",
    "estimator_moments",
    "estimators",
    "experiments",
    "mdp",
    "mlp",
    "natural",
    "optim",
    "ppo",
    "pathwise",
    "plotting",
    "policies",
    "quadrature",
    "reinforce",
    "replay",
    "rollout",
    "seeding",
    "signals",
    "symbolic",
    "trajectory_distribution",
    "training",
    "trust_region",
    "vi",
    "widgets",
)

__all__ = [*_SUBMODULES, "book_seed", "make_rng"]


def __getattr__(name: str):
    if name in _SUBMODULES or name == "_validate":
        return importlib.import_module(f".{name}", __name__)  # also binds it on the package
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
