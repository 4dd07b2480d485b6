"""Every image in the built book has alt text that describes it (needs the built HTML, not a browser).

Sphinx fills a missing alt with the image's path (`alt="../_images/abc.png"`), which a screen reader
reads out as a file name: that counts as missing here. Chapters give each figure its alt text with the
cell metadata {"mystnb": {"image": {"alt": "..."}}}.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from bs4 import BeautifulSoup

from pagecheck import PAGES

LOOKS_LIKE_A_FILE = re.compile(r"\.(png|jpe?g|svg|gif|webp|pdf)$|^(\.\./|_images/)", re.I)


def test_the_book_is_built(html_dir):
    """Every page of the table of contents was built (html_dir fails if the book is missing)."""
    missing = [doc for doc in PAGES if not (html_dir / f"{doc}.html").exists()]
    assert not missing, f"pages of _toc.yml missing from {html_dir}: {missing}"


@pytest.mark.parametrize("doc", PAGES)
def test_every_image_has_alt_text(html_dir, doc):
    page = html_dir / f"{doc}.html"
    assert page.exists(), f"{doc}.html was not built"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    missing = []
    for img in soup.find_all("img"):
        src = img.get("src", "")
        alt = (img.get("alt") or "").strip()
        if not alt or alt == src or LOOKS_LIKE_A_FILE.search(alt) or alt == PurePosixPath(src).name:
            missing.append(f"{src} (alt={alt!r})")
    assert not missing, (f"{doc}: images without a real alt text (give the plotting cell the metadata "
                         f'{{"mystnb": {{"image": {{"alt": "..."}}}}}}): {missing}')
