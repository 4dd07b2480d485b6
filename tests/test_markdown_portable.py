"""The chapters' Markdown reads right in Jupyter as well as in the book.

Jupyter (JupyterLab, Notebook 7, Colab) renders a Markdown cell as plain CommonMark with GitHub's
tables: MyST syntax such as {cite}`key`, {doc}`chapter 2 <02_...>` or a ```{note} block shows there
as raw text. So every Markdown cell of every chapter (and the introduction, which GitHub shows the
same way) is rendered here with a plain CommonMark renderer, and the test fails on any MyST role,
directive, target or substitution left visible. Instead the chapters use what both renderers
show properly:

- cross-references are ordinary links to the files, `[chapter 2](02_log_derivative_trick.ipynb)`
  (the book turns them into page links);
- citations read "(Williams, 1992)" or "Williams (1992)" and link to the references page,
  `[Williams, 1992](references.md)`, whose bibliography lists every entry of references.bib
  (`:all:`), so each cited work is there;
- notes are block quotes that start with **Note.**
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
PAGES = CHAPTERS + [ROOT / "chapters" / "intro.md"]
IDS = [p.name for p in PAGES]

# Jupyter's renderer: CommonMark plus GitHub's tables and strikethrough.
RENDERER = MarkdownIt("commonmark").enable(["table", "strikethrough"])

MYST_NAMES = (r"cite(?::\w+)?|doc|ref|numref|eq|term|download|abbr|sub|sup|math|index|glue(?::\w+)?"
              r"|note|warning|tip|important|caution|attention|danger|error|hint|seealso|admonition"
              r"|figure|image|table|list-table|code-cell|bibliography|toctree|dropdown|margin"
              r"|sidebar|tab-set|card|grid|raw|include|only|prf:\w+")
# Looked for in the rendered prose (code blocks dropped, braces in inline code made round) ...
VISIBLE_MYST = [
    # a role: `{name}` in the text right before a code span
    ("role", re.compile(r"\{[A-Za-z][\w:.+-]*\}<code")),
    # a known role or directive name in braces anywhere else in the rendered text
    ("role or directive", re.compile(rf"\{{(?:{MYST_NAMES})\}}(?!<code)")),
    # a colon fence, shown as a paragraph of text
    ("directive (:::)", re.compile(r"(?:^|>)\s*:{3,}")),
    # a MyST target line `(label)=`
    ("target (label)=", re.compile(r"<p>\([\w.:-]+\)=")),
    # a MyST substitution {{ name }}
    ("substitution", re.compile(r"\{\{\s*[\w.-]+\s*\}\}")),
]
# ... and in the whole page: a backtick fence whose info string is {name} is a directive, which
# Jupyter shows as a code block.
FENCED_DIRECTIVE = ("directive (```{...})", re.compile(r'<code class="language-\{'))


def markdown_cells(path: Path) -> list[tuple[str, str]]:
    """(where, text) for each Markdown cell of a notebook, or the whole file for a .md page."""
    if path.suffix == ".md":
        return [(path.name, path.read_text(encoding="utf-8"))]
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            src = cell["source"]
            out.append((f"{path.name} cell {i}", "".join(src) if isinstance(src, list) else src))
    return out


def visible_myst(markdown: str) -> list[str]:
    """The MyST syntax a plain CommonMark renderer leaves visible in `markdown`, as short snippets."""
    html = RENDERER.render(markdown)
    prose = re.sub(r"<pre>.*?</pre>", "", html, flags=re.S)
    prose = re.sub(r"<code>.*?</code>", lambda m: m[0].replace("{", "(").replace("}", ")"), prose,
                   flags=re.S)   # braces inside inline code are code, not MyST
    found = []
    for (kind, pattern), where in [(p, prose) for p in VISIBLE_MYST] + [(FENCED_DIRECTIVE, html)]:
        for m in pattern.finditer(where):
            snippet = where[max(0, m.start() - 30): m.end() + 40].replace("\n", " ")
            found.append(f"{kind}: ...{snippet}...")
    return found


def links(markdown: str) -> list[tuple[str, str]]:
    """(text, target) of every link in `markdown`, as CommonMark parses them."""
    out = []
    for block in RENDERER.parse(markdown):
        children = block.children or []
        for i, tok in enumerate(children):
            if tok.type == "link_open":
                j = i + 1
                text = []
                while children[j].type != "link_close":
                    text.append(children[j].content)
                    j += 1
                out.append(("".join(text), tok.attrs.get("href", "")))
    return out


def bibliography() -> set[tuple[str, str]]:
    """(first author's surname, year) of every entry in references.bib."""
    text = (ROOT / "references.bib").read_text(encoding="utf-8")
    entries = set()
    for entry in re.split(r"\n(?=@)", text):
        author = re.search(r"author\s*=\s*\{([^,}]+)", entry)
        year = re.search(r"year\s*=\s*\{?(\d{4})", entry)
        if author and year:
            entries.add((author.group(1).strip(), year.group(1)))
    return entries


# "(Williams, 1992)", "Williams, 1992", "Williams (1992)", "Mohamed et al., 2020",
# "Sutton and Barto (2018)", "Greensmith, Bartlett and Baxter (2004)"
NAME = r"[A-Z][\w'-]+"
CITATION = re.compile(rf"^\(?(?P<surname>{NAME})(?: et al\.|(?:, {NAME})* and {NAME})?"
                      r"(?:, | \()(?P<year>\d{4})\)?$")


def test_the_renderer_sees_what_jupyter_sees():
    """The check itself: it catches MyST as Jupyter shows it and passes plain Markdown."""
    myst = ["see {cite:p}`williams1992`", "{doc}`chapter 2 <02_log_derivative_trick>`",
            "```{note}\nA note.\n```", ":::{note}\nA note.\n:::", "(sec-label)=\n# Title",
            "{cite:t}`sutton2000`", "{ref}`sec-label`", "{numref}`fig-1`", "{eq}`eq-1`",
            "{term}`score`", "{{ version }}"]
    for text in myst:
        assert visible_myst(text), f"not caught: {text!r}"
    plain = ["see [(Williams, 1992)](references.md)", "[chapter 2](02_log_derivative_trick.ipynb)",
             "> **Note.** A note.", "$\\mathbb{E}_{x}[f(x)]$ and $\\{0, 1\\}$",
             "| $w_t$ | $\\Psi_t$ |\n|---|---|\n| 1 | $G_t$ |", "```python\nd = {'a': 1}\n```"]
    for text in plain:
        assert not visible_myst(text), f"false alarm on {text!r}: {visible_myst(text)}"


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_no_myst_syntax_visible_in_plain_commonmark(path):
    found = [f"{where}: {hit}" for where, text in markdown_cells(path) for hit in visible_myst(text)]
    assert not found, (f"{len(found)} MyST role(s)/directive(s) would show as raw text in Jupyter "
                       "(use a link to the .ipynb file, a citation linked to references.md, or a "
                       "'> **Note.**' block quote):\n" + "\n".join(found))


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_links_to_the_book_resolve(path):
    """Links to other pages of the book point to files that exist, next to this page."""
    broken = []
    for where, text in markdown_cells(path):
        for label, href in links(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", href) or href.startswith("#"):
                continue                                   # a web address, or a place on this page
            target = href.split("#", 1)[0]
            if not (path.parent / target).is_file():
                broken.append(f"{where}: [{label}]({href})")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_citations_read_author_year_and_are_in_the_bibliography(path):
    known = bibliography()
    bad = []
    for where, text in markdown_cells(path):
        for label, href in links(text):
            if href.split("#", 1)[0] != "references.md":
                continue
            m = CITATION.match(label)
            if not m:
                bad.append(f"{where}: [{label}]({href}) should read '(Author, year)' or 'Author (year)'")
            elif (m["surname"], m["year"]) not in known:
                bad.append(f"{where}: [{label}] is not in references.bib (entries: {sorted(known)})")
    assert not bad, "\n".join(bad)


def test_references_page_lists_every_entry():
    """Citations link to the references page, so its bibliography must show every entry."""
    text = (ROOT / "chapters" / "references.md").read_text(encoding="utf-8")
    directive = re.search(r"```\{bibliography\}(.*?)```", text, re.S)
    assert directive and re.search(r"^:all:\s*$", directive.group(1), re.M), (
        "chapters/references.md should hold a {bibliography} directive with the :all: option")
