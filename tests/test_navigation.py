"""The ways into the book: reading paths, table of contents, the estimator summary and its glossary,
and the API reference.

- The reading paths of the introduction link to chapter files that exist, and each course holds
  the chapters it names.
- Every page in chapters/ is in _toc.yml (so it is built and reachable) and every toc entry has a
  source file; the appendices come after Part IV and the references last.
- The estimator-family page links to chapters that exist, and its glossary defines every term the
  page refers to, plus the book's core vocabulary.
- The API pages (chapters/api.md, and one page per module in chapters/api/) document every public
  module of `pgbook`. Sphinx builds them from the docstrings with `-n -W`, so a docstring that is
  not valid reStructuredText fails the book build; such a docstring is left off its page
  (`:exclude-members:`, or not listed) until it is fixed. The last two tests mirror that here, in
  seconds: every docstring the pages show parses cleanly, and every one they leave out still does
  not (so a fixed docstring goes back in). `WIDE` lists what is left out for another reason.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import io
import re
from pathlib import Path

import yaml
from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import roles
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
INTRO = CHAPTERS / "intro.md"
FAMILY = CHAPTERS / "estimator_family.md"
API = CHAPTERS / "api.md"
API_PAGES = CHAPTERS / "api"
MD = MarkdownIt("commonmark")


def chapter_file(number: int) -> str:
    (path,) = CHAPTERS.glob(f"{number:02d}_*.ipynb")
    return path.name


def links(markdown: str) -> list[str]:
    """Link targets in `markdown`, in order, as CommonMark parses them."""
    out = []
    for block in MD.parse(markdown):
        for tok in block.children or []:
            if tok.type == "link_open":
                out.append(tok.attrs.get("href", ""))
    return out


def section(markdown: str, heading: str) -> str:
    """The text of the `## heading` section of a Markdown page."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


# --------------------------------------------------------------------------- reading paths
def reading_paths() -> dict[str, list[str]]:
    """'full' (the numbered list), 'rl' and 'estimators' (the two courses): chapter files linked."""
    text = section(INTRO.read_text(encoding="utf-8"), "Reading paths")
    numbered = re.findall(r"^\d+\. \[[^\]]*\]\(([^)]+)\)", text, re.M)
    courses = re.split(r"^- ", text, flags=re.M)[1:]
    by_title = {}
    for course in courses:
        title = course.split("**")[1].lower()
        key = "rl" if "reinforcement learning" in title else "estimators" if "estimator" in title else title
        by_title[key] = [t for t in links(course) if t.endswith(".ipynb")]
    return {"full": numbered, **by_title}


def test_reading_paths_link_to_chapters_that_exist():
    paths = reading_paths()
    for name, targets in paths.items():
        missing = [t for t in targets if not (CHAPTERS / t).is_file()]
        assert not missing, f"reading path {name!r} links to missing files: {missing}"


def test_reading_paths_hold_the_chapters_they_promise():
    paths = reading_paths()
    chapters = sorted(p.name for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
    assert paths["full"] == chapters, "the full path should list every chapter, in order"
    assert paths["rl"] == [chapter_file(n) for n in (1, 2, 3, 4, 5, 10, 11, 12, 13, 14)]
    assert paths["estimators"] == [chapter_file(n) for n in (2, 6, 7, 8, 9)]


def test_intro_links_the_new_pages():
    targets = links(section(INTRO.read_text(encoding="utf-8"), "Reading paths"))
    assert FAMILY.name in targets and API.name in targets


# --------------------------------------------------------------------------- table of contents
def toc_entries() -> list[tuple[str | None, str]]:
    """(part caption, file) for every entry of _toc.yml in reading order, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    entries = [(None, toc["root"])]

    def walk(caption, items):
        for item in items or []:
            if "file" in item:
                entries.append((caption, re.sub(r"\.(md|ipynb)$", "", item["file"])))
            walk(caption, item.get("sections"))

    for part in toc.get("parts") or []:
        walk(part.get("caption"), part.get("chapters"))
    return entries


def test_every_page_in_chapters_is_in_the_toc():
    listed = {f for _, f in toc_entries()}
    pages = {p.relative_to(ROOT).with_suffix("").as_posix()
             for folder in (CHAPTERS, API_PAGES) for p in folder.iterdir() if p.suffix in (".md", ".ipynb")}
    assert not pages - listed, f"pages in chapters/ missing from _toc.yml: {sorted(pages - listed)}"


def test_every_toc_entry_has_a_source_file():
    missing = [f for _, f in toc_entries()
               if not any((ROOT / f"{f}{suffix}").is_file() for suffix in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml entries without a .md or .ipynb file: {missing}"


def test_appendices_follow_the_chapters_and_references_come_last():
    files = [f for _, f in toc_entries()]
    assert files[-1] == "chapters/references"
    chapters = [i for i, f in enumerate(files) if re.match(r"chapters/\d\d_", f)]
    for page in ("estimator_family", "appendix_checks", "api"):
        i = files.index(f"chapters/{page}")
        assert max(chapters) < i < len(files) - 1, f"{page} should sit between Part IV and the references"


# --------------------------------------------------------------------------- estimator family, glossary
def glossary_terms() -> set[str]:
    text = FAMILY.read_text(encoding="utf-8")
    block = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S)
    assert block, "estimator_family.md should hold one {glossary} block"
    body = [line for line in block.group(1).splitlines() if not line.startswith(":")]
    return {line.strip().lower() for line in body if line.strip() and not line.startswith(" ")}


def test_glossary_defines_every_term_the_page_uses():
    text = FAMILY.read_text(encoding="utf-8")
    used = {m.group(2) or m.group(1) for m in re.finditer(r"\{term\}`([^`<]+?)(?:\s*<([^>]+)>)?`", text)}
    assert used, "the estimator tables should link their terms to the glossary"
    missing = {t.strip().lower() for t in used} - glossary_terms()   # Sphinx matches terms ignoring case
    assert not missing, f"terms used but not defined in the glossary: {sorted(missing)}"


CORE_TERMS = ["score function", "log-derivative trick", "reward-to-go", "baseline", "advantage",
              "trajectory", "return", "discount factor", "common random numbers", "pathwise estimator",
              "control variate", "evolution strategies", "ELBO", "REINFORCE", "policy", "MDP",
              "Bonferroni correction", "variance-optimal constant baseline", "score-function estimator"]


def test_glossary_covers_the_core_vocabulary():
    missing = [t for t in CORE_TERMS if t.lower() not in glossary_terms()]
    assert not missing, f"core terms missing from the glossary: {missing}"


def test_estimator_family_links_resolve():
    text = FAMILY.read_text(encoding="utf-8")
    bad = [t for t in links(text) if not re.match(r"^[a-z]+:|#", t)
           and not (CHAPTERS / t.split("#")[0]).is_file()]
    assert not bad, f"links to files that do not exist: {bad}"


def test_estimator_family_covers_every_chapter_it_summarises():
    targets = set(links(FAMILY.read_text(encoding="utf-8")))
    for n in (2, 4, 5, 6, 7, 8, 9, 10, 12):
        assert chapter_file(n) in targets, f"chapter {n} is not linked from the estimator family"


# --------------------------------------------------------------------------- API page
PUBLIC_MODULES = sorted(p.stem for p in (ROOT / "code").glob("*.py") if not p.stem.startswith("_"))


def api_blocks() -> list[str]:
    return [block for page in sorted(API_PAGES.glob("*.md"))
            for block in re.findall(r"```\{eval-rst\}\n(.*?)\n```", page.read_text(encoding="utf-8"), re.S)]


def directives(block: str) -> list[tuple[str, str, dict]]:
    """(directive, argument, options) of each directive in an eval-rst block."""
    out = []
    for m in re.finditer(r"^\.\. ([\w:]+):: (\S+)\n((?:   :[\w-]+:.*\n?)*)", block + "\n", re.M):
        options = dict(re.findall(r"^   :([\w-]+):\s*(.*)$", m.group(3), re.M))
        out.append((m.group(1), m.group(2), options))
    return out


def split_names(option: str | None) -> set[str]:
    return {n.strip() for n in (option or "").split(",") if n.strip()}


def attribute_docs(module) -> dict[tuple[str, str], str]:
    """Docstrings of module- and class-level attributes (`x = 1` followed by a string), as autodoc reads them."""
    from sphinx.pycode import ModuleAnalyzer

    found = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
    return {key: "\n".join(lines) for key, lines in found.items()}


def member_docs(module, cls) -> dict[str, str]:
    """The members autodoc documents for a class of `module`, with their docstrings."""
    attrs = attribute_docs(module)
    out = {}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        target = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if (cls.__name__, name) in attrs:
            out[name] = attrs[(cls.__name__, name)]
        elif inspect.isfunction(target) or isinstance(value, property):
            out[name] = target.__doc__ or ""
    for (owner, name), doc in attrs.items():                 # dataclass fields documented below them
        if owner == cls.__name__ and not name.startswith("_"):
            out.setdefault(name, doc)
    return out


@functools.lru_cache(maxsize=1)
def api_docstrings() -> tuple[dict[str, str], dict[str, str]]:
    """(shown, left out): qualified name -> docstring, for everything the API page covers."""
    shown, left_out = {}, {}
    for block in api_blocks():
        items = directives(block)
        for kind, arg, options in items:
            if kind not in ("automodule", "py:module"):
                continue
            module = importlib.import_module(arg)
            excluded = split_names(options.get("exclude-members"))
            (shown if kind == "automodule" else left_out)[arg] = module.__doc__ or ""
            attrs = attribute_docs(module)
            listed = {a.rsplit(".", 1)[-1]: opts for k, a, opts in items
                      if k.startswith("auto") and k != "automodule" and a.startswith(arg + ".")}
            for name in getattr(module, "__all__", []):
                obj = getattr(module, name)
                qual = f"{arg}.{name}"
                if kind == "automodule":
                    show, class_excluded = name not in excluded, excluded
                else:
                    show = name in listed
                    class_excluded = split_names(listed.get(name, {}).get("exclude-members"))
                doc = attrs.get(("", name), "") if not (inspect.isclass(obj) or callable(obj)) else obj.__doc__ or ""
                (shown if show else left_out)[qual] = doc
                if inspect.isclass(obj) and show:
                    for member, mdoc in member_docs(module, obj).items():
                        (left_out if member in class_excluded else shown)[f"{qual}.{member}"] = mdoc
    return shown, left_out


class _Literal:
    """A stand-in for Sphinx's cross-reference roles, so docutils alone can parse a docstring."""

    def __call__(self, name, rawtext, text, lineno, inliner, options=None, content=None):
        return [nodes.literal(rawtext, text)], []


for _role in ("func", "class", "meth", "attr", "mod", "data", "exc", "obj"):
    roles.register_local_role(_role, _Literal())

INLINE_LITERALS = re.compile(r"``.*?``|:math:`[^`]*`|`[^`]*`", re.S)


def docstring_problems(doc: str) -> list[str]:
    """Why Sphinx would reject (or garble) this docstring: docutils messages, and `$` maths, which
    reStructuredText does not know (it shows the dollars and eats the backslashes)."""
    text = inspect.cleandoc(doc)
    problems = []
    if "$" in INLINE_LITERALS.sub("", text):
        problems.append("$...$ maths (reStructuredText needs :math:`...` or .. math::)")
    stream = io.StringIO()
    publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": stream,
                                              "file_insertion_enabled": False, "raw_enabled": False})
    problems += [line for line in stream.getvalue().splitlines() if "(WARNING" in line or "(ERROR" in line
                 or "(SEVERE" in line]
    return problems


def test_api_page_documents_every_public_module():
    named = {arg for block in api_blocks() for kind, arg, _ in directives(block)
             if kind in ("automodule", "py:module")}
    missing = [m for m in PUBLIC_MODULES if f"pgbook.{m}" not in named]
    assert not missing, f"public modules without a page in chapters/api/: {missing}"


def test_api_overview_links_every_module_page():
    targets = set(links(API.read_text(encoding="utf-8")))
    missing = [p.name for p in API_PAGES.glob("*.md") if f"api/{p.name}" not in targets]
    assert not missing, f"module pages not linked from chapters/api.md: {missing}"


def test_every_docstring_the_api_page_shows_is_valid():
    shown, _ = api_docstrings()
    bad = {name: p for name, doc in shown.items() if (p := docstring_problems(doc))}
    assert not bad, ("docstrings that would break the strict book build (or show raw $ maths) on the "
                     "API page; fix them, or leave them out in chapters/api/*.md:\n"
                     + "\n".join(f"  {n}: {p[0]}" for n, p in sorted(bad.items())))


# Left off the API pages although their docstrings parse (e.g. a display equation wider than the
# column at 1280 px, which the book's browser test fails): name -> why. None at present.
WIDE: dict[str, str] = {}


def test_every_docstring_the_api_page_leaves_out_is_still_broken():
    _, left_out = api_docstrings()
    fixed = sorted(name for name, doc in left_out.items() if name not in WIDE and not docstring_problems(doc))
    assert not fixed, ("these docstrings are valid now: put them back on the API page "
                       f"(chapters/api/*.md: :exclude-members: or the explicit lists): {fixed}")
