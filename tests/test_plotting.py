"""The figure helpers: panels that stack on narrow screens, each with its own alt text."""
from __future__ import annotations

import base64
import re

import matplotlib.pyplot as plt
import pytest

from pgbook import plotting


def _figures(n):
    figs = []
    for i in range(n):
        fig, ax = plotting.new_figure()
        ax.plot([0, 1], [0, i])
        figs.append(fig)
    return figs


def test_panels_html_has_one_decodable_png_per_figure_with_its_alt_text():
    figs = _figures(3)
    alts = ["first <panel>", "second panel", "third panel"]
    markup = plotting.panels_html(figs, alts)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)"', markup)
    assert [alt for _, alt in images] == ["first &lt;panel&gt;", "second panel", "third panel"]
    for data, _ in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # as many equal columns as fit, and no panel wider than the column
    assert "repeat(auto-fit, minmax(min(100%," in markup and markup.count("max-width: 100%") == 3
    for fig in figs:
        plt.close(fig)


def test_show_panels_closes_its_figures(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    figs = _figures(2)
    plotting.show_panels(figs, ["left", "right"])
    assert len(shown) == 1 and set(shown[0]) == {"text/html", "text/plain"}
    assert shown[0]["text/plain"] == "[panel 1] left\n[panel 2] right"
    assert not any(plt.fignum_exists(f.number) for f in figs)


@pytest.mark.parametrize("alts, error", [
    (["only one"], ValueError),
    (["a", ""], ValueError),
    (["a", 3], ValueError),
])
def test_panels_html_refuses_missing_alt_texts(alts, error):
    figs = _figures(2)
    with pytest.raises(error, match="alt"):
        plotting.panels_html(figs, alts)
    for fig in figs:
        plt.close(fig)


def test_panels_html_refuses_what_is_not_a_figure():
    with pytest.raises(TypeError, match="figures"):
        plotting.panels_html(["not a figure"], ["alt"])
    with pytest.raises(ValueError, match="figures"):
        plotting.panels_html([], [])
