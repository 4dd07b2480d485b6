"""The book's one figure style.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies);
every series also gets its own line style and marker, so figures still read when
printed in greyscale.  Importing this module applies :func:`use_style` (and so does
:func:`new_figure`); draw with the helpers below or plain matplotlib.
"""
from __future__ import annotations

import base64
import html
import io

from cycler import cycler
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "PALETTE",
    "COLORS",
    "LINESTYLES",
    "MARKERS",
    "use_style",
    "series_style",
    "new_figure",
    "plot_mean_band",
    "loglog_with_slope",
    "fit_loglog_slope",
    "panels_html",
    "show_panels",
]

#: Okabe & Ito (2008) colour-blind-safe palette, by name.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
#: The order in which series take colours (yellow last: it is faint on white).
COLORS = [PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
#: Line styles and markers that pair with COLORS, for greyscale print.
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)), "-", "--"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def use_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.fontsize": 10,
            "legend.frameon": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "lines.linewidth": 2.0,
            "lines.markersize": 5,
            "axes.prop_cycle": cycler(color=COLORS[:6]) + cycler(linestyle=LINESTYLES[:6]),
            "image.cmap": "viridis",
        }
    )


def series_style(i: int) -> dict:
    """Colour, line style and marker of the ``i``-th series, for ``ax.plot(..., **series_style(i))``."""
    k = i % len(COLORS)
    return {"color": COLORS[k], "linestyle": LINESTYLES[k], "marker": MARKERS[k]}


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None, **kwargs):
    """A figure and its axes in the book's style; the size scales with the number of panels."""
    use_style()
    width = width if width is not None else min(4.2 * ncols + 1.0, 13.0)
    height = height if height is not None else 3.6 * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)
    return fig, axes


def plot_mean_band(ax, x, samples, label: str, i: int = 0, z: float = 1.96, axis: int = 0, markevery=None):
    """Plot the mean of ``samples`` along ``axis`` with a ``z`` standard-error band.

    ``samples`` has one row per independent run (seed); the band is the normal
    confidence interval of the mean across runs.  Non-finite values raise.
    """
    samples = np.asarray(samples, dtype=float)
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"samples for '{label}' contain NaN or infinite values; refusing to plot them")
    mean = samples.mean(axis=axis)
    n = samples.shape[axis]
    se = samples.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    style = series_style(i)
    if markevery is None:
        markevery = max(1, len(mean) // 10)
    (line,) = ax.plot(x, mean, label=label, markevery=markevery, **style)
    ax.fill_between(x, mean - z * se, mean + z * se, color=style["color"], alpha=0.2, linewidth=0)
    return line


def fit_loglog_slope(x, y) -> float:
    """Least-squares slope of log(y) against log(x)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)


def loglog_with_slope(ax, x, y, label: str, i: int = 0, reference_slope: float | None = -0.5):
    """Plot ``y`` against ``x`` on log-log axes, annotate the fitted slope and,
    optionally, draw a reference line of slope ``reference_slope`` through the first point.
    Returns the fitted slope."""
    slope = fit_loglog_slope(x, y)
    ax.loglog(x, y, label=f"{label} (fitted slope ${slope:.2f}$)", **series_style(i))
    if reference_slope is not None:
        x = np.asarray(x, dtype=float)
        ref = y[0] * (x / x[0]) ** reference_slope
        ax.loglog(x, ref, color="grey", linestyle=":", linewidth=1.5, marker=None,
                  label=f"reference slope ${reference_slope:g}$")
    return slope


#: Narrowest width (CSS px) a panel keeps before the row wraps: three panels stand side by side
#: in the book's desktop column (about 650 px), one under the other on a phone (390 px).
PANEL_MIN_WIDTH = 200


def panels_html(figures, alts) -> str:
    """The HTML of :func:`show_panels`: one ``<img>`` per figure, each with its alt text.

    The images sit in a grid of equal columns, as many as fit at ``PANEL_MIN_WIDTH`` px
    or more each: side by side where the column is wide, one under the other on a phone;
    a panel that wraps keeps its column's width.  Where a renderer drops the inline
    style (an untrusted notebook), the images are inline elements and wrap the same way.
    """
    figures = list(figures)
    alts = [alts] if isinstance(alts, str) else list(alts)
    if not figures:
        raise ValueError("figures must hold at least one matplotlib figure")
    if len(alts) != len(figures):
        raise ValueError(f"alts must give one alt text per figure: got {len(alts)} for "
                         f"{len(figures)} figures")
    for alt in alts:
        if not isinstance(alt, str) or not alt.strip():
            raise ValueError("every alt text must be a non-empty string describing its panel")
    images = []
    for fig, alt in zip(figures, alts):
        if not isinstance(fig, mpl.figure.Figure):
            raise TypeError(f"figures must be matplotlib figures, got {type(fig).__name__}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        images.append(
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
            'style="width: 100%; max-width: 100%; height: auto;">')
    grid = (f"display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, "
            f"{PANEL_MIN_WIDTH}px), 1fr)); align-items: start; gap: 0.5em;")
    return f'<div class="pgbook-panels" style="{grid}">' + "".join(images) + "</div>"


def show_panels(figures, alts) -> None:
    """Show several one-panel figures as one figure that stacks on narrow screens.

    A multi-panel figure drawn as one image shrinks on a phone until its labels cannot be
    read.  Drawn instead as separate figures (one per panel, each from
    :func:`new_figure`) and shown with this function, the panels stand side by side in
    a wide column and one under the other on a phone.  ``alts`` gives each panel its
    alt text.  The figures are closed, so the inline backend does not show them twice.
    """
    from IPython.display import display

    figures = list(figures)
    markup = panels_html(figures, alts)
    for fig in figures:
        plt.close(fig)
    alts = [alts] if isinstance(alts, str) else list(alts)
    text = "\n".join(f"[panel {i + 1}] {alt}" for i, alt in enumerate(alts))
    display({"text/html": markup, "text/plain": text}, raw=True)


use_style()  # importing the module (``from pgbook import plotting``) applies the book's style
