"""scripts/execute_book.py executes exactly the book's notebooks, in the order of _toc.yml."""
import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("execute_book", ROOT / "scripts" / "execute_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_executes_every_chapter_of_the_toc_and_nothing_else():
    listed = load_script().toc_notebooks()
    on_disk = sorted((ROOT / "chapters").glob("*.ipynb"))
    assert sorted(listed) == on_disk
    numbered = [p.name for p in listed if p.name[:2].isdigit()]
    assert numbered == sorted(numbered), "the chapters should come in the book's order"


def test_it_reads_the_execution_settings_the_build_uses():
    execute = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["execute"]
    # the script fills the cache only in cache mode, and with the build's own timeout
    assert execute["execute_notebooks"] == "cache"
    assert execute["allow_errors"] is False and int(execute["timeout"]) >= 60
