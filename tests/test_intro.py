"""The notation table in the introduction names code that exists.

A name in the table's code column is either an attribute of a `pgbook` module (a function or
class), ``owner.attribute`` (a policy, an MDP, a comparison), or the name of an argument that some
public `pgbook` function takes (``gamma``, ``sigma``, ``learning_rate``, ...)."""
import inspect
import re
from pathlib import Path

import pgbook
from pgbook import (baselines, distributions, envs, es, estimators, mdp, natural, pathwise, policies,
                    reinforce, signals, vi)

INTRO = Path(__file__).resolve().parent.parent / "chapters" / "intro.md"
MODULES = [pgbook, mdp, policies, estimators, baselines, distributions, envs, es, natural, pathwise, reinforce,
           signals, vi]
OWNERS = {"policy": policies.TabularSoftmax, "mdp": mdp.TabularMDP, "Comparison": estimators.Comparison}


def notation_rows():
    rows = [line for line in INTRO.read_text().splitlines() if line.startswith("| $")]
    assert len(rows) >= 25, "the notation table should have a row per symbol used in more than one chapter"
    return rows


def notation_names():
    for row in notation_rows():
        code_cell = row.strip("|").split("|")[-1]
        yield from re.findall(r"`([^`]+)`", code_cell)


def argument_names() -> set:
    names = set()
    for module in MODULES:
        for _, obj in inspect.getmembers(module):
            targets = [obj]
            if inspect.isclass(obj):
                targets += [m for _, m in inspect.getmembers(obj, inspect.isfunction)]
            for target in targets:
                if callable(target) and getattr(target, "__module__", "").startswith("pgbook"):
                    try:
                        names.update(inspect.signature(target).parameters)
                    except (TypeError, ValueError):
                        pass
    return names


def test_every_name_in_the_notation_table_exists():
    arguments = argument_names()
    missing = []
    for name in notation_names():
        if "." in name:
            owner, attr = name.split(".", 1)
            obj = OWNERS[owner]
            found = hasattr(obj, attr) or attr in getattr(obj, "__dataclass_fields__", {})
        else:
            found = any(hasattr(m, name) for m in MODULES) or name in arguments
        if not found:
            missing.append(name)
    assert not missing, f"names in the notation table that pgbook does not define: {missing}"


def test_each_symbol_has_one_row():
    symbols = [row.strip("|").split("|")[0].strip() for row in notation_rows()]
    assert len(symbols) == len(set(symbols)), "a symbol appears in two rows of the notation table"
