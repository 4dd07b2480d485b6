"""The built index (genindex.html) is a way into the book: it lists the glossary's terms and the
functions and classes of `pgbook` (needs the built HTML, not a browser).

The glossary of chapters/estimator_family.md puts its terms in the index; the API page
(chapters/api.md, Sphinx autodoc) puts every object it documents there. An empty index, or one
without either kind of entry, fails here.
"""
from __future__ import annotations

import re

from bs4 import BeautifulSoup

from pagecheck import ROOT

KEY_OBJECTS = ["pgbook.estimators.score_function_samples", "pgbook.estimators.estimand",
               "pgbook.estimators.trajectory_gradient_samples", "pgbook.es.smoothed_gradient_samples",
               "pgbook.vi.score_function_elbo_samples", "pgbook.reinforce.ReinforceConfig",
               "pgbook.reinforce.train", "pgbook.mdp.grad_J_exact"]


def index_links(html_dir) -> list[tuple[str, str]]:
    """(entry text, link target) of every link in the index's tables."""
    page = html_dir / "genindex.html"
    assert page.exists(), f"{page} was not built"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return [(a.get_text(" ", strip=True), a.get("href", "")) for a in soup.select("table.indextable a")]


def glossary_terms() -> list[str]:
    text = (ROOT / "chapters" / "estimator_family.md").read_text(encoding="utf-8")
    block = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S)
    assert block, "chapters/estimator_family.md should hold a {glossary} block"
    return [line.strip() for line in block.group(1).splitlines()
            if line.strip() and not line.startswith((" ", ":"))]


def test_the_index_is_not_empty(html_dir):
    links = index_links(html_dir)
    assert len(links) > 100, f"genindex.html has only {len(links)} entries"


def test_the_index_lists_every_glossary_term(html_dir):
    to_glossary = {text.lower() for text, href in index_links(html_dir)
                   if href.startswith("chapters/estimator_family.html#term-")}
    missing = [t for t in glossary_terms() if t.lower() not in to_glossary]
    assert not missing, f"glossary terms without an entry in genindex.html: {missing}"


def test_the_index_lists_pgbook_functions_and_classes(html_dir):
    targets = {href.split("#", 1)[1] for _, href in index_links(html_dir)
               if href.startswith("chapters/api/") and "#pgbook." in href}
    assert len(targets) > 100, f"only {len(targets)} pgbook objects in the index"
    missing = [name for name in KEY_OBJECTS if name not in targets]
    assert not missing, f"pgbook objects missing from genindex.html: {missing}"
    modules = sorted(p.stem for p in (ROOT / "code").glob("*.py") if not p.stem.startswith("_"))
    empty = [m for m in modules if not any(t.startswith(f"pgbook.{m}.") for t in targets)]
    assert not empty, f"modules with no function or class in the index: {empty}"
