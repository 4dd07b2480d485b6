"""The notation table in the introduction names code that exists."""
import re
from pathlib import Path

import pgbook
from pgbook import estimators, mdp, policies

INTRO = Path(__file__).resolve().parent.parent / "chapters" / "intro.md"
# Names that are arguments or local variables by convention, not attributes.
CONVENTIONS = {"theta", "states", "actions", "rewards", "gamma", "baseline", "dist", "f"}


def notation_names():
    rows = [line for line in INTRO.read_text().splitlines() if line.startswith("| $")]
    assert len(rows) >= 10, "the notation table should have a row per symbol"
    for row in rows:
        code_cell = row.strip("|").split("|")[-1]
        yield from re.findall(r"`([^`]+)`", code_cell)


def test_every_name_in_the_notation_table_exists():
    owners = {"policy": policies.TabularSoftmax, "mdp": mdp.TabularMDP}
    modules = [pgbook, mdp, policies, estimators]
    missing = []
    for name in notation_names():
        if name in CONVENTIONS:
            continue
        if "." in name:
            owner, attr = name.split(".", 1)
            obj = owners[owner]
            found = hasattr(obj, attr) or attr in getattr(obj, "__dataclass_fields__", {})
        else:
            found = any(hasattr(m, name) for m in modules)
        if not found:
            missing.append(name)
    assert not missing, f"names in the notation table that pgbook does not define: {missing}"
