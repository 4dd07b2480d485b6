"""A control panel for REINFORCE runs, built from core ipywidgets only.

:class:`TrainingPanel` shows sliders and dropdowns for the main fields of
:class:`pgbook.reinforce.ReinforceConfig`, Train / Stop / Clear buttons, a progress bar, the wall
time, and a learning curve that is redrawn *in place* (one matplotlib figure, rendered to PNG
into an ``ipywidgets.Image``; no ipympl, so it works in Jupyter, Colab and Binder).  Earlier runs
stay on the plot for comparison until Clear is pressed.

The panel also works without a browser, which is how the tests drive it::

    panel = TrainingPanel()
    panel.controls["learning_rate"].value = 0.1
    result = panel.run()          # trains in the calling thread and returns the TrainResult
    panel.runs[-1]["returns"]     # the curve that was drawn

Pressing **Train** in a notebook runs the same :meth:`TrainingPanel.run` in a background thread,
so that the kernel stays free to receive the **Stop** click.
"""
from __future__ import annotations

import io
import threading
import time

import gymnasium
import ipywidgets as W
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import plotting
from .reinforce import BASELINES, OPTIMISERS, ReinforceConfig, train

__all__ = ["TrainingPanel"]


class TrainingPanel:
    """Widgets to configure, run, stop and compare REINFORCE runs.

    Parameters
    ----------
    config : ReinforceConfig, optional
        Starting values of the controls (default ``ReinforceConfig()``).
    env_ids : sequence of str
        Environments offered in the dropdown.
    max_env_steps : int
        Starting value of the environment-step budget slider.
    stop_at_target : bool
        Starting value of the "stop when solved" box: stop once the batch mean return reaches the
        environment's ``reward_threshold`` (475 for CartPole-v1).
    redraw_seconds : float
        Minimum time between two redraws of the curve while training (it grows to four times
        the duration of a redraw, so drawing never takes more than about a fifth of the run).

    Attributes
    ----------
    controls : dict of name -> widget
        One widget per config field shown (set ``.value`` to drive the panel from code).
    runs : list of dict
        One entry per finished run: ``label``, ``config``, ``env_steps``, ``seconds``,
        ``returns`` (arrays over iterations), ``result`` (the TrainResult) and
        ``first_point_seconds`` (time from the start of :meth:`run` to the first drawn point).
    widget : ipywidgets.VBox
        The whole panel (displaying the panel object displays this).
    """

    def __init__(self, config: ReinforceConfig | None = None, env_ids=("CartPole-v1", "Acrobot-v1"),
                 max_env_steps: int = 200_000, stop_at_target: bool = True, redraw_seconds: float = 0.25):
        base = (config or ReinforceConfig()).validate()
        self._base = base
        self.redraw_seconds = float(redraw_seconds)
        env_ids = list(env_ids)
        if base.env_id not in env_ids:
            env_ids.insert(0, base.env_id)
        style = {"description_width": "9em"}
        layout = W.Layout(width="22em")
        self.controls = {
            "env_id": W.Dropdown(options=env_ids, value=base.env_id, description="environment", style=style,
                                 layout=layout),
            "policy": W.Dropdown(options=["linear", "mlp"], value=base.policy, description="policy", style=style,
                                 layout=layout),
            "learning_rate": W.FloatLogSlider(value=base.learning_rate, base=10, min=-4, max=0, step=0.1,
                                              description="learning rate", style=style, layout=layout,
                                              readout_format=".3g"),
            "optimiser": W.Dropdown(options=list(OPTIMISERS), value=base.optimiser, description="optimiser",
                                    style=style, layout=layout),
            "gamma": W.FloatSlider(value=base.gamma, min=0.9, max=1.0, step=0.001, description="gamma",
                                   style=style, layout=layout, readout_format=".3f"),
            "batch_episodes": W.IntSlider(value=base.batch_episodes or 16, min=2, max=64, step=1,
                                          description="episodes/batch", style=style, layout=layout),
            "baseline": W.Dropdown(options=list(BASELINES), value=base.baseline, description="baseline",
                                   style=style, layout=layout),
            "reward_to_go": W.Checkbox(value=base.reward_to_go, description="reward-to-go"),
            "discount_weighting": W.Checkbox(value=base.discount_weighting, description="gamma^t weighting"),
            "normalise_returns": W.Checkbox(value=base.normalise_returns, description="normalise returns"),
            "seed": W.BoundedIntText(value=base.seed, min=0, max=2**31 - 1, description="seed", style=style,
                                     layout=layout),
            "max_env_steps": W.IntSlider(value=max_env_steps, min=10_000, max=1_000_000, step=10_000,
                                         description="step budget", style=style, layout=layout),
            "stop_at_target": W.Checkbox(value=stop_at_target, description="stop when solved"),
        }
        self.train_button = W.Button(description="Train", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.clear_button = W.Button(description="Clear", icon="trash")
        self.x_axis = W.ToggleButtons(options=["env steps", "seconds"], value="env steps",
                                      description="x axis")
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        self.status = W.HTML(value="Press <b>Train</b> to start a run.")
        self.image = W.Image(format="png", layout=W.Layout(width="640px"))
        self.train_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.x_axis.observe(lambda _: self.redraw(), names="value")

        self.runs: list = []
        self._current = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self.draw_count = 0
        self._fig = Figure(figsize=(6.4, 3.6), dpi=100)
        self._canvas = FigureCanvasAgg(self._fig)
        self._ax = self._fig.add_subplot(1, 1, 1)
        self._fig.subplots_adjust(left=0.12, right=0.98, bottom=0.14, top=0.9)  # fixed: no layout pass per draw
        self.last_draw_seconds = 0.0

        c = self.controls
        left = W.VBox([c["env_id"], c["policy"], c["learning_rate"], c["optimiser"], c["gamma"],
                       c["batch_episodes"], c["max_env_steps"]])
        right = W.VBox([c["baseline"], c["seed"], c["reward_to_go"], c["discount_weighting"],
                        c["normalise_returns"], c["stop_at_target"]])
        buttons = W.HBox([self.train_button, self.stop_button, self.clear_button, self.progress])
        self.widget = W.VBox([W.HBox([left, right]), buttons, self.status, self.x_axis, self.image])
        self.redraw()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def snapshot(self):
        """The panel's current plot as a static PNG (an ``IPython.display.Image``).

        Displaying it leaves a picture in the saved notebook and the HTML book, where the live
        panel needs a kernel to work (without one it shows inert controls, or nothing at all).
        """
        from IPython.display import Image
        return Image(data=bytes(self.image.value), format="png")

    # ------------------------------------------------------------------ config
    def config(self) -> ReinforceConfig:
        """The :class:`ReinforceConfig` the controls describe (validated)."""
        c = self.controls
        return self._base.replace(
            env_id=c["env_id"].value, policy=c["policy"].value, learning_rate=float(c["learning_rate"].value),
            optimiser=c["optimiser"].value, gamma=float(c["gamma"].value),
            batch_episodes=int(c["batch_episodes"].value), batch_steps=None, baseline=c["baseline"].value,
            reward_to_go=bool(c["reward_to_go"].value), discount_weighting=bool(c["discount_weighting"].value),
            normalise_returns=bool(c["normalise_returns"].value), seed=int(c["seed"].value),
            max_env_steps=int(c["max_env_steps"].value), max_iterations=100_000,
            max_seconds=self._base.max_seconds or 60.0, progress=False,
        ).validate()

    def _label(self, cfg: ReinforceConfig) -> str:
        parts = [cfg.env_id.split("/")[-1], cfg.policy, f"lr={cfg.learning_rate:.3g}",
                 "G_t" if cfg.reward_to_go else "R(tau)"]
        if cfg.baseline != "none":
            parts.append(f"b={cfg.baseline}")
        return f"#{len(self.runs) + 1} " + " ".join(parts) + f" seed={cfg.seed}"

    # ------------------------------------------------------------------ running
    def run(self, config: ReinforceConfig | None = None):
        """Train with the panel's settings (or ``config``) in the calling thread; return the TrainResult.

        Updates the progress bar, the status line and the curve while it runs, and adds the run
        to :attr:`runs` when it ends.  :meth:`stop` (the Stop button) ends it after the current
        iteration.
        """
        cfg = (config or self.config()).validate()
        target = None
        if self.controls["stop_at_target"].value:
            try:
                target = gymnasium.spec(cfg.env_id).reward_threshold
            except Exception:  # unknown id: train() reports it
                target = None
        self._stop.clear()
        t0 = time.perf_counter()
        current = {"label": self._label(cfg), "config": cfg, "env_steps": [], "seconds": [], "returns": [],
                   "result": None, "first_point_seconds": None}
        with self._lock:
            self._current = current
        self._set_running(True)
        self.status.value = f"Training {current['label']} ..."
        last_draw = [0.0]

        def callback(m):
            current["env_steps"].append(m["env_steps"])
            current["seconds"].append(m["wall_time"])
            current["returns"].append(m["return_mean"])
            frac = max(m["iteration"] / cfg.max_iterations, m["env_steps"] / cfg.max_env_steps,
                       m["wall_time"] / cfg.max_seconds)
            self.progress.value = min(1.0, frac)
            now = time.perf_counter()
            # redraw at most every redraw_seconds, and never spend more than ~20% of the time drawing
            gap = max(self.redraw_seconds, 4 * self.last_draw_seconds)
            if current["first_point_seconds"] is None or now - last_draw[0] >= gap:
                self.redraw()
                last_draw[0] = time.perf_counter()
                if current["first_point_seconds"] is None:
                    current["first_point_seconds"] = last_draw[0] - t0
            self.status.value = (f"{current['label']}: iteration {m['iteration']}, {m['env_steps']:,} env steps, "
                                 f"{m['wall_time']:.1f} s, mean return {m['return_mean']:.1f}")
            solved = target is not None and m["return_mean"] >= target
            return self._stop.is_set() or solved

        try:
            result = train(cfg, callback)
        except Exception as err:
            with self._lock:
                self._current = None
            self._set_running(False)
            self.status.value = f"<span style='color:#D55E00'>Error: {err}</span>"
            self.redraw()
            raise
        current["result"] = result
        with self._lock:
            self.runs.append(current)
            self._current = None
        self._set_running(False)
        self.progress.value = 1.0
        total = time.perf_counter() - t0
        last_return = current["returns"][-1] if current["returns"] else float("nan")
        if result.diverged or result.collapsed:
            self.status.value = f"<span style='color:#D55E00'>{result.message}</span>"
        else:
            why = {"budget": "budget used up", "callback": "stopped" if self._stop.is_set() else "solved"}
            self.status.value = (f"{current['label']}: {why[result.status]} after {result.iterations} iterations, "
                                 f"{result.env_steps:,} env steps, {total:.2f} s wall time "
                                 f"(training {result.wall_time:.2f} s); last mean return {last_return:.1f}")
        self.redraw()
        return result

    def start(self):
        """Start :meth:`run` in a background thread (what the Train button does)."""
        if self._thread is not None and self._thread.is_alive():
            return
        cfg = self.config()
        self._thread = threading.Thread(target=self._run_quietly, args=(cfg,), daemon=True)
        self._thread.start()

    def _run_quietly(self, cfg):
        try:
            self.run(cfg)
        except Exception:  # already reported in the status line
            pass

    def wait(self, timeout: float | None = None):
        """Wait for a run started with :meth:`start` (or the Train button) to finish."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self):
        """Ask the current run to stop after its current iteration (the Stop button)."""
        self._stop.set()

    def clear(self):
        """Forget the earlier runs and clear the plot (the Clear button)."""
        with self._lock:
            self.runs = []
        self.status.value = "Cleared. Press <b>Train</b> to start a run."
        self.progress.value = 0.0
        self.redraw()

    def _set_running(self, running: bool):
        self.train_button.disabled = running
        self.stop_button.disabled = not running
        self.clear_button.disabled = running
        if running:
            self.progress.value = 0.0

    # ------------------------------------------------------------------ drawing
    def redraw(self):
        """Redraw the learning curves of every kept run and of the current one into the image."""
        with self._lock:
            runs = list(self.runs) + ([self._current] if self._current is not None else [])
            snapshot = [(r["label"], list(r["env_steps"]), list(r["seconds"]), list(r["returns"]), r is self._current)
                        for r in runs]
        ax = self._ax
        ax.clear()
        use_seconds = self.x_axis.value == "seconds"
        for i, (label, steps, secs, rets, is_current) in enumerate(snapshot):
            x = np.asarray(secs if use_seconds else steps, dtype=float)
            y = np.asarray(rets, dtype=float)
            ok = np.isfinite(x) & np.isfinite(y)  # never plot a non-finite value
            style = plotting.series_style(i)
            ax.plot(x[ok], y[ok], label=label + (" (running)" if is_current else ""), color=style["color"],
                    linestyle=style["linestyle"], marker=style["marker"], markevery=max(1, int(ok.sum()) // 8),
                    linewidth=2.4 if is_current else 1.6)
        ax.set_xlabel("wall time (s)" if use_seconds else "environment steps")
        ax.set_ylabel("mean episode return")
        ax.set_title("REINFORCE learning curves")
        ax.grid(True, alpha=0.3)
        if snapshot:
            ax.legend(loc="best", fontsize=8, frameon=False)
        buf = io.BytesIO()
        t0 = time.perf_counter()
        self._canvas.print_png(buf)
        self.image.value = buf.getvalue()
        self.draw_count += 1
        self.last_draw_seconds = time.perf_counter() - t0
