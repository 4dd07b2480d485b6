"""A control panel for REINFORCE, actor-critic and PPO runs, built from core ipywidgets only.

:class:`TrainingPanel` shows a choice of trainer (:data:`TRAINERS`), controls for the main fields of
its config (:class:`pgbook.reinforce.ReinforceConfig`; the actor-critic's and PPO's configs share
the general ones), Train / Stop / Clear buttons, a progress bar and the
learning curves, redrawn *in place* several times a second (one matplotlib figure rendered to PNG
into an ``ipywidgets.Image``; no ipympl and nothing fetched from the internet, so it works in
Jupyter, Colab and Binder, also offline).  Each environment gets its own plot, with its own y-axis
and gymnasium's reward threshold as a dotted line; earlier runs stay on the plot for comparison
until Clear is pressed.  Choosing an environment in the dropdown loads the settings with which it
learns within the panel's step budget (:data:`ENV_DEFAULTS`).

The panel also works without a browser, which is how the tests drive it::

    panel = TrainingPanel()
    panel.controls["learning_rate"].value = 0.1
    result = panel.run()       # trains in this thread, returns the TrainResult
    panel.runs[-1]["returns"]  # the curve that was drawn

How a run stops.  **Train** runs :meth:`TrainingPanel.run` in a background thread, so the kernel
stays free to receive the **Stop** click; Kernel ▸ Interrupt does not reach that thread, and the
panel's text says so.  A run started from code (``panel.run()``) runs in the kernel itself, where
clicks wait until the cell has finished: there Kernel ▸ Interrupt stops it, the panel says
"stopped (interrupted)" and keeps the partial curve, and the KeyboardInterrupt goes on to stop the
cell.  Train is a toggle button, so a click while the kernel is busy with another cell shows at
once (the button stays down), and the run starts when that cell has finished.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import threading
import time
from contextlib import contextmanager

import gymnasium
import ipywidgets as W
import numpy as np
import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from . import plotting
from ._validate import ArgumentTypeError
from .actor_critic import ActorCriticConfig
from .ppo import PPOConfig
from .reinforce import BASELINES, OPTIMISERS, ReinforceConfig, RunConfig, train

__all__ = ["TrainingPanel", "ENV_DEFAULTS", "TRAINERS", "estimator_label"]

#: The trainers the panel offers, by the name its dropdown shows, with their config classes.
#: Choosing one loads its config's defaults into the general controls (for REINFORCE: the
#: environment's :data:`ENV_DEFAULTS`); the REINFORCE-only controls (baseline, reward-to-go,
#: discount weighting, normalisation) are disabled for the other two.
TRAINERS = {"REINFORCE": ReinforceConfig, "actor-critic": ActorCriticConfig, "PPO": PPOConfig}
#: The controls every trainer's config reads (the others are REINFORCE's own).
GENERAL_FIELDS = ("policy", "learning_rate", "optimiser", "gamma", "batch_episodes")
REINFORCE_FIELDS = ("baseline", "reward_to_go", "discount_weighting", "normalise_returns")

#: Settings the panel loads into its controls when an environment is chosen for REINFORCE (ReinforceConfig
#: fields, plus ``max_env_steps``, the step budget).  With them each environment reaches its reward
#: threshold (a batch mean return of 475, or -100) within the step budget; ``tests/test_widgets.py``
#: checks it over several seeds (a slow test).
#:
#: * CartPole-v1: the trainer's defaults (reward-to-go with a learned value baseline, Adam with
#:   learning rate 0.2, 16 episodes per batch), about 100 000 steps.
#: * Acrobot-v1: every episode scores -500 until one reaches the goal, which the uniform starting
#:   policy does by chance, about once in 60 to 70 episodes.  Until then the full return minus
#:   the leave-one-out batch mean is exactly zero, so the policy stays uniform and keeps trying;
#:   reward-to-go weights are not zero there (they depend on the step t) but carry no information,
#:   and Adam follows them in a random direction, which can end in a policy that never reaches the
#:   goal (in our trials a third of the seeds stayed at -500).  Small batches (4 episodes) start
#:   learning soon after the first lucky episode; a learning rate of 0.05 rather than 0.1, because
#:   at 0.1 Adam's momentum after a single lucky episode carried one seed of 20 into a policy that
#:   never reached the goal again.  Over seeds 0-19 every run reached the threshold, after 25 000
#:   to 150 000 steps (median about 40 000; 2 to 11 s of CPU time).
ENV_DEFAULTS = {
    "CartPole-v1": dict(policy="linear", learning_rate=0.2, optimiser="adam", gamma=0.99, batch_episodes=16,
                        baseline="value", reward_to_go=True, discount_weighting=False, normalise_returns=False,
                        max_env_steps=200_000),
    "Acrobot-v1": dict(policy="linear", learning_rate=0.05, optimiser="adam", gamma=0.99, batch_episodes=4,
                       baseline="batch-mean", reward_to_go=False, discount_weighting=False,
                       normalise_returns=False, max_env_steps=200_000),
}

#: How the legend names each baseline.
BASELINE_NAMES = {"none": "no baseline", "batch-mean": "batch-mean baseline", "value": "value baseline"}


def estimator_label(config: RunConfig) -> str:
    """The estimator of a run in the book's notation, as matplotlib mathtext.

    ``"$G_t - b$, value baseline"`` (the default), ``"$G_t$, no baseline"``,
    ``"$R(\\tau)$, no baseline"``, ``"$\\gamma^t (G_t - b)$, value baseline"`` (with
    ``discount_weighting``); ``", normalised"`` is added when ``normalise_returns`` is on.
    An actor-critic run is ``"actor-critic, GAE $\\lambda$ = 0.95"``, a PPO run
    ``"PPO, GAE $\\lambda$ = 0.9, $\\xi$ = 0.2"``.
    """
    if isinstance(config, PPOConfig):
        return f"PPO, GAE $\\lambda$ = {config.lam:g}, $\\xi$ = {config.clip_range:g}"
    if isinstance(config, ActorCriticConfig):
        return f"actor-critic, GAE $\\lambda$ = {config.lam:g}"
    if not isinstance(config, ReinforceConfig):
        raise ArgumentTypeError(f"config must be a ReinforceConfig, ActorCriticConfig or PPOConfig, "
                                f"got {type(config).__name__}")
    psi = "G_t" if config.reward_to_go else r"R(\tau)"
    weight = psi if config.baseline == "none" else f"{psi} - b"
    if config.reward_to_go and config.discount_weighting:
        weight = rf"\gamma^t {weight}" if config.baseline == "none" else rf"\gamma^t ({weight})"
    text = f"${weight}$, {BASELINE_NAMES[config.baseline]}"
    return text + ", normalised" if config.normalise_returns else text


def _settings(config: RunConfig) -> dict:
    """The other settings of a run, by group, as short mathtext phrases (legend and caption)."""
    policy = "linear policy" if config.policy == "linear" else f"MLP policy ({config.hidden} hidden)"
    rule = "Adam" if config.optimiser == "adam" else "SGD"
    batch = (f"{config.batch_episodes} episodes per batch" if config.batch_episodes is not None
             else f"batches of {config.batch_steps}+ steps")
    return {"policy": policy, "step": f"{rule}, $\\alpha$ = {config.learning_rate:.6g}",
            "gamma": f"$\\gamma$ = {config.gamma:.6g}", "batch": batch, "seed": f"seed {config.seed}"}


def _plain(text: str) -> str:
    """Mathtext to plain Unicode, for the HTML status line."""
    for old, new in (("$", ""), (r"\alpha", "α"), (r"\gamma^t", "γᵗ"), (r"\gamma", "γ"), (r"\tau", "τ"),
                     (r"\lambda", "λ"), (r"\xi", "ξ"), ("G_t", "Gₜ"), (" - b", " − b")):
        text = text.replace(old, new)
    return text


@functools.lru_cache(maxsize=None)
def _reward_threshold(env_id: str):
    """gymnasium's ``reward_threshold`` of ``env_id`` (None if it has none)."""
    try:
        return gymnasium.spec(env_id).reward_threshold
    except Exception:  # unknown id: train() reports it
        return None


def _round_up(x: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50, ... times a power of ten that is at least ``x`` > 0."""
    k = 10.0 ** np.floor(np.log10(x))
    return float(next(m * k for m in (1, 2, 5, 10) if m * k >= x * (1 - 1e-12)))


def _steps_tick(x, _pos) -> str:
    if x == 0:
        return "0"
    return f"{x / 1e6:g}M" if abs(x) >= 1e6 else f"{x / 1e3:g}k"


class TrainingPanel:
    """Widgets to configure, run, stop and compare REINFORCE, actor-critic and PPO runs.

    Parameters
    ----------
    config : ReinforceConfig, ActorCriticConfig or PPOConfig, optional
        Starting trainer and values of the controls (default ``ReinforceConfig()``).
    env_ids : sequence of str
        Environments offered in the dropdown; choosing one loads its :data:`ENV_DEFAULTS`.
    max_env_steps : int, optional
        Starting value of the environment-step budget slider (default: the budget of
        :data:`ENV_DEFAULTS` for the starting environment, else 200 000).
    stop_at_target : bool
        Starting value of the "stop at threshold" box: stop once the batch mean return reaches the
        environment's ``reward_threshold`` (475 for CartPole-v1, -100 for Acrobot-v1).
    redraw_seconds : float
        Shortest time between two redraws of the curve while training.
    max_draw_share : float
        Largest share of a run's time spent drawing: the time between redraws is at least
        ``(1 - max_draw_share) / max_draw_share`` times the smoothed duration of a redraw (a new
        layout, drawn when a run starts or ends, is not counted).  A redraw comes at the end of an
        iteration, so a run is redrawn after every iteration that ends at least that long (and at
        least ``redraw_seconds``) after the previous redraw.

    Attributes
    ----------
    controls : dict of name -> widget
        One widget per config field shown (set ``.value`` to drive the panel from code).
    runs : list of dict
        One entry per finished run: ``number``, ``label`` (plain text), ``config``, ``env_steps``,
        ``seconds``, ``returns`` (arrays over iterations), ``result`` (the TrainResult; None for a
        run stopped by Kernel ▸ Interrupt), ``outcome`` (``"budget"``, ``"threshold"``,
        ``"stopped"``, ``"interrupted"``, ``"diverged"`` or ``"collapsed"``),
        ``first_point_seconds`` (from the start of :meth:`run` to the first drawn point),
        ``seconds_total`` (the whole :meth:`run`), and ``redraws`` and ``draw_seconds`` (number
        and total duration of the redraws while it trained; the final redraw not included).
    draw_count : int
        Redraws since the panel was made.
    widget : ipywidgets.VBox
        The whole panel (displaying the panel object displays this).
    """

    #: Text under the buttons: how a run starts and stops.
    HELP = ("<b>Train</b> runs beside the kernel, and <b>Stop</b> ends the run after its current batch "
            "(Kernel ▸ Interrupt does not reach it). Pressed while another cell is running, <b>Train</b> "
            "stays down and the run starts when that cell has finished.")
    #: Time limit of a run (seconds) unless the starting config sets ``max_seconds``: a safety net,
    #: far above what the step budgets of :data:`ENV_DEFAULTS` take.
    MAX_SECONDS = 120.0
    #: Width of the live figure (inches; it is drawn at 100 dpi) and height of its plots.
    FIG_WIDTH, AXES_HEIGHT, DPI = 7.2, 2.5, 100

    def __init__(self, config: RunConfig | None = None, env_ids=("CartPole-v1", "Acrobot-v1"),
                 max_env_steps: int | None = None, stop_at_target: bool = True, redraw_seconds: float = 0.1,
                 max_draw_share: float = 0.25):
        base = (config or ReinforceConfig()).validate()
        trainer = next((name for name, cls in TRAINERS.items() if type(base) is cls), None)
        if trainer is None:
            raise ArgumentTypeError(f"config must be one of {', '.join(c.__name__ for c in TRAINERS.values())}, "
                             f"got {type(base).__name__}")
        self._base = base
        reinforce = base if isinstance(base, ReinforceConfig) else ReinforceConfig()
        self.redraw_seconds = float(redraw_seconds)
        if not self.redraw_seconds > 0:
            raise ValueError(f"redraw_seconds must be positive, got {redraw_seconds!r}")
        self.max_draw_share = float(max_draw_share)
        if not 0 < self.max_draw_share < 1:
            raise ValueError(f"max_draw_share must lie strictly between 0 and 1, got {max_draw_share!r}")
        env_ids = list(env_ids)
        if base.env_id not in env_ids:
            env_ids.insert(0, base.env_id)
        if max_env_steps is None:
            max_env_steps = ENV_DEFAULTS.get(base.env_id, {}).get("max_env_steps", 200_000)
        style = {"description_width": "9em"}
        layout = W.Layout(width="22em", max_width="calc(100% - 4px)")  # narrower on a phone (4px: its margins)
        baselines = [(BASELINE_NAMES[b].replace(" baseline", ""), b) for b in BASELINES]
        self.controls = {
            "trainer": W.Dropdown(options=list(TRAINERS), value=trainer, description="trainer", style=style,
                                  layout=layout),
            "env_id": W.Dropdown(options=env_ids, value=base.env_id, description="environment", style=style,
                                 layout=layout),
            "policy": W.Dropdown(options=["linear", "mlp"], value=base.policy, description="policy", style=style,
                                 layout=layout),
            # a text box keeps exactly the number typed (a log slider would snap 0.05 to 0.0501)
            "learning_rate": W.BoundedFloatText(value=base.learning_rate, min=1e-6, max=100.0,
                                                description="learning rate α", style=style, layout=layout),
            "optimiser": W.Dropdown(options=list(OPTIMISERS), value=base.optimiser, description="optimiser",
                                    style=style, layout=layout),
            "gamma": W.BoundedFloatText(value=base.gamma, min=0.0, max=1.0, description="discount γ",
                                        style=style, layout=layout),
            "batch_episodes": W.IntSlider(value=base.batch_episodes or 16, min=2, max=64, step=1,
                                          description="episodes/batch", style=style, layout=layout),
            "baseline": W.Dropdown(options=baselines, value=reinforce.baseline, description="baseline",
                                   style=style, layout=layout),
            "reward_to_go": W.Checkbox(value=reinforce.reward_to_go, description="reward-to-go"),
            "discount_weighting": W.Checkbox(value=reinforce.discount_weighting, description="γᵗ weighting"),
            "normalise_returns": W.Checkbox(value=reinforce.normalise_returns, description="normalise returns"),
            "seed": W.BoundedIntText(value=base.seed, min=0, max=2**31 - 1, description="seed", style=style,
                                     layout=layout),
            "max_env_steps": W.IntSlider(value=max_env_steps, min=10_000, max=1_000_000, step=10_000,
                                         description="step budget", style=style, layout=layout),
            "stop_at_target": W.Checkbox(value=stop_at_target, description="stop at threshold"),
        }
        self.train_button = W.ToggleButton(value=False, description="Train", button_style="success", icon="play",
                                           tooltip="Start a run (if another cell is running: when it has finished)")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="End the run after its current batch")
        self.clear_button = W.Button(description="Clear", icon="trash", tooltip="Remove the earlier runs")
        self.x_axis = W.ToggleButtons(options=["env steps", "seconds"], value="env steps",
                                      description="x axis")
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        self.help = W.HTML(value=self.HELP)
        self.status = W.HTML(value="Press <b>Train</b> to start a run.")
        self.image = W.Image(format="png", layout=W.Layout(width=f"{int(self.FIG_WIDTH * self.DPI)}px",
                                                           max_width="100%"))
        # replay: the latest policy of a finished run plays one episode (pgbook.replay's drawing)
        self.replay_choice = W.Dropdown(options=[], description="replay run", style=style, layout=layout)
        self.replay_button = W.Button(description="Replay", icon="film", disabled=True,
                                      tooltip="Play one episode of the selected run's latest policy "
                                              "(seed: the seed box)")
        self.replay_play = W.Play(value=0, min=0, max=0, step=1, interval=100, description="play replay")
        self.replay_slider = W.IntSlider(value=0, min=0, max=0, description="frame", style=style,
                                         layout=layout)
        self._replay_link = W.jslink((self.replay_play, "value"), (self.replay_slider, "value"))
        # hidden until a replay gives it a picture (an empty Image shows a broken-image icon)
        self.replay_image = W.Image(format="png", layout=W.Layout(max_width="100%", display="none"))
        self.replay_status = W.HTML(value="")
        self.replay_frames: list = []        # PNG bytes of the frames of the last replay
        self.last_replay = None              # the pgbook.replay.Replay shown

        self.runs: list = []
        self._current = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()        # guards runs and _current
        self._draw_lock = threading.RLock()  # guards the figure (Train draws from its thread)
        self._quiet = threading.local()      # set while the panel itself moves the Train toggle
        self._version = 0                    # changes whenever the plot's layout must be rebuilt
        self._drawn = None                   # (version, x axis) of the figure as drawn
        self._current_line = None
        self._run_number = 0
        self.draw_count = 0
        self.last_draw_seconds = 0.0
        self._draw_cost = None               # smoothed duration of one redraw (s)
        self._fig = Figure(figsize=(self.FIG_WIDTH, 4.0), dpi=self.DPI)
        self._canvas = FigureCanvasAgg(self._fig)
        self._axes = {}
        self._background = None              # the canvas without the running curve

        self.train_button.observe(self._train_toggled, names="value")
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.x_axis.observe(lambda _: self.redraw(), names="value")
        self.controls["env_id"].observe(self._env_changed, names="value")
        self.controls["trainer"].observe(self._trainer_changed, names="value")
        self._enable_reinforce_controls(trainer == "REINFORCE")
        self.replay_button.on_click(lambda _: self.replay())
        self.replay_slider.observe(self._replay_frame, names="value")

        c = self.controls
        left = W.VBox([c["trainer"], c["env_id"], c["policy"], c["learning_rate"], c["optimiser"], c["gamma"],
                       c["batch_episodes"], c["max_env_steps"]], layout=W.Layout(max_width="100%"))
        right = W.VBox([c["baseline"], c["seed"], c["reward_to_go"], c["discount_weighting"],
                        c["normalise_returns"], c["stop_at_target"]], layout=W.Layout(max_width="100%"))
        def row(*children):  # on a narrow screen a row wraps: the second column goes under the first
            return W.HBox(list(children), layout=W.Layout(flex_flow="row wrap"))

        replay = W.VBox([row(self.replay_choice, self.replay_button), row(self.replay_play, self.replay_slider),
                         self.replay_image, self.replay_status])
        self.widget = W.VBox([row(left, right), row(self.train_button, self.stop_button, self.clear_button,
                                                    self.progress),
                              self.help, self.status, self.x_axis, self.image, replay])
        self.redraw()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def snapshot(self, dpi: int = 200):
        """The panel's current plot as a static high-resolution PNG (an ``IPython.display.Image``).

        Displaying it leaves a picture in the saved notebook and the HTML book, where the live
        panel needs a kernel to work (without one it shows inert controls, or nothing at all).  The
        picture is drawn at ``dpi`` dots per inch and shown at the live plot's size (``retina``).
        """
        from IPython.display import Image
        with self._draw_lock:
            self._draw()
            line = self._current_line
            if line is not None:
                line.set_animated(False)  # savefig leaves animated artists out
            try:
                buf = io.BytesIO()
                self._fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05,
                                  facecolor="white")
            finally:
                if line is not None:
                    line.set_animated(True)
                self._background = None  # savefig changed the canvas: draw it whole next time
        return Image(data=buf.getvalue(), format="png", retina=True)

    # ------------------------------------------------------------------ config
    def config(self) -> RunConfig:
        """The config the controls describe (validated): a :class:`ReinforceConfig`, or the
        :class:`pgbook.actor_critic.ActorCriticConfig` or :class:`pgbook.ppo.PPOConfig` of the
        chosen trainer, whose own fields keep the starting config's values or their defaults."""
        c = self.controls
        cls = TRAINERS[c["trainer"].value]
        if type(self._base) is cls:
            base = self._base
        else:  # another trainer: the shared settings the controls do not show come from the starting config
            shared = {f.name: getattr(self._base, f.name) for f in dataclasses.fields(RunConfig)
                      if f.name != "batch_episodes"}
            base = cls(**shared)
        general = dict(
            env_id=c["env_id"].value, policy=c["policy"].value, learning_rate=float(c["learning_rate"].value),
            optimiser=c["optimiser"].value, gamma=float(c["gamma"].value),
            batch_episodes=int(c["batch_episodes"].value), seed=int(c["seed"].value),
            max_env_steps=int(c["max_env_steps"].value), max_iterations=100_000,
            max_seconds=self._base.max_seconds or self.MAX_SECONDS, progress=False)
        if cls is ReinforceConfig:
            general.update(batch_steps=None, baseline=c["baseline"].value, reward_to_go=bool(c["reward_to_go"].value),
                           discount_weighting=bool(c["discount_weighting"].value),
                           normalise_returns=bool(c["normalise_returns"].value))
        return base.replace(**general).validate()

    def _enable_reinforce_controls(self, enabled: bool):
        for name in REINFORCE_FIELDS:
            self.controls[name].disabled = not enabled

    def _load_defaults(self):
        """Load the chosen trainer's settings into the general controls: for REINFORCE the
        environment's :data:`ENV_DEFAULTS`, for the others their config's defaults."""
        name, env_id = self.controls["trainer"].value, self.controls["env_id"].value
        if name == "REINFORCE":
            defaults = ENV_DEFAULTS.get(env_id)
            if not defaults:
                return
            where = f"with which {env_id} learns"
        else:
            config = TRAINERS[name]()
            defaults = {field: getattr(config, field) for field in GENERAL_FIELDS}
            where = f"of the {name} trainer (its defaults)"
        for field, value in defaults.items():
            self.controls[field].value = value
        self.status.value = f"Loaded the settings {where}. Press <b>Train</b>."

    def _trainer_changed(self, change):
        self._enable_reinforce_controls(change["new"] == "REINFORCE")
        self._load_defaults()

    def _env_changed(self, change):
        self._load_defaults()
        with self._lock:
            self._version += 1
        self.redraw()

    # ------------------------------------------------------------------ running
    def run(self, config: RunConfig | None = None):
        """Train with the panel's settings (or ``config``) in the calling thread; return the TrainResult.

        Updates the curve several times a second while it runs (then the progress bar and the status
        line, so the words never run ahead of the picture), and adds the run to :attr:`runs` when it
        ends, after a last redraw and before the final status.  :meth:`stop` (the Stop button) ends
        it after the current iteration.  Run in the kernel's own thread (from a cell), Kernel ▸
        Interrupt stops it: the status says "stopped (interrupted)", the partial curve is kept
        (``result`` None) and the KeyboardInterrupt is raised again to stop the cell.
        """
        cfg = (config or self.config()).validate()
        self._stop.clear()
        return self._train(cfg)

    def _train(self, cfg):
        target = _reward_threshold(cfg.env_id) if self.controls["stop_at_target"].value else None
        in_thread = threading.current_thread() is not threading.main_thread()
        t0 = time.perf_counter()
        with self._lock:
            self._run_number += 1
            current = {"number": self._run_number, "config": cfg, "env_steps": [], "seconds": [], "returns": [],
                       "result": None, "outcome": None, "first_point_seconds": None, "seconds_total": None,
                       "redraws": 0, "draw_seconds": 0.0}
            current["label"] = _plain(f"#{current['number']} {estimator_label(cfg)}, "
                                      + ", ".join(_settings(cfg).values()))
            self._current = current
            self._version += 1
        self._set_running(True, in_thread)
        self.redraw()  # the new layout (legend with this run) at once, before the first batch
        how = "<b>Stop</b> ends it." if in_thread else "Kernel ▸ Interrupt stops it."
        self.status.value = f"Training {current['label']} ... {how}"
        last_draw = [-np.inf]
        share = self.max_draw_share

        def callback(m):
            with self._lock:
                current["env_steps"].append(m["env_steps"])
                current["seconds"].append(m["wall_time"])
                current["returns"].append(m["return_mean"])
            now = time.perf_counter()
            gap = max(self.redraw_seconds, (self._draw_cost or 0.0) * (1 - share) / share)
            if current["first_point_seconds"] is None or now - last_draw[0] >= gap:
                current["draw_seconds"] += self.redraw()
                current["redraws"] += 1
                last_draw[0] = time.perf_counter()
                if current["first_point_seconds"] is None:
                    current["first_point_seconds"] = last_draw[0] - t0
                frac = max(m["iteration"] / cfg.max_iterations,
                           m["env_steps"] / cfg.max_env_steps if cfg.max_env_steps else 0.0,
                           m["wall_time"] / cfg.max_seconds if cfg.max_seconds else 0.0)
                self.progress.value = min(1.0, frac)
                self.status.value = (f"#{current['number']}: iteration {m['iteration']}, "
                                     f"{m['env_steps']:,} env steps, {m['wall_time']:.1f} s, "
                                     f"mean return {m['return_mean']:.1f}. {how}")
            reached = target is not None and m["return_mean"] >= target
            return self._stop.is_set() or reached

        try:
            trainer = train if type(cfg) is ReinforceConfig else cfg.trainer()
            result = trainer(cfg, callback)
        except KeyboardInterrupt:
            self._finish(current, None, t0, "interrupted")
            raise
        except Exception as err:
            self._finish(current, None, t0, "error", err)
            raise
        if result.status == "callback":
            outcome = "stopped" if self._stop.is_set() else "threshold"
        else:
            outcome = result.status
        self._finish(current, result, t0, outcome, target=target)
        return result

    def _finish(self, current, result, t0, outcome, err=None, target=None):
        """End a run: keep it, draw the final picture, *then* release the buttons and write the status."""
        current["result"], current["outcome"] = result, outcome
        current["seconds_total"] = time.perf_counter() - t0
        with self._lock:
            if result is not None or (outcome == "interrupted" and current["returns"]):
                self.runs.append(current)
            self._current = None
            self._version += 1
        self.redraw()
        self._update_replay_choices()
        if result is not None:
            self.progress.value = 1.0
        self._set_running(False)
        self.status.value = self._final_status(current, result, outcome, err, target)

    def _final_status(self, current, result, outcome, err, target) -> str:
        red = "<span style='color:#D55E00'>{}</span>"
        if outcome == "error":
            return red.format(f"Error: {err}")
        if outcome in ("diverged", "collapsed"):
            return red.format(f"{current['label']}: {result.message}")
        returns, steps, cfg = current["returns"], current["env_steps"], current["config"]
        if outcome == "budget":  # which budget: steps, the time limit or iterations
            if cfg.max_env_steps is not None and steps and steps[-1] >= cfg.max_env_steps:
                why = "step budget used up"
            elif cfg.max_seconds is not None and current["seconds"] and current["seconds"][-1] >= cfg.max_seconds:
                why = f"time limit of {cfg.max_seconds:g} s reached"
            else:
                why = "iteration budget used up"
        else:
            why = {"stopped": "stopped (Stop button)", "interrupted": "stopped (interrupted: Kernel ▸ Interrupt)",
                   "threshold": f"reached the reward threshold {target:g}" if target is not None else ""}[outcome]
        last = f"{returns[-1]:.1f}" if returns else "none"
        return (f"{current['label']}: {why} after {len(returns)} iterations, {steps[-1] if steps else 0:,} env "
                f"steps, {current['seconds_total']:.2f} s; last mean return {last}.")

    def start(self):
        """Start :meth:`run` in a background thread (what the Train button does)."""
        if self._thread is not None and self._thread.is_alive():
            return
        try:
            cfg = self.config()
        except (TypeError, ValueError) as err:  # a setting out of range: say so, release the button
            self.status.value = f"<span style='color:#D55E00'>Error: {err}</span>"
            self._set_running(False)
            return
        self._stop.clear()
        self._set_running(True, True)  # at once, before the thread gets going
        self._thread = threading.Thread(target=self._run_quietly, args=(cfg,), daemon=True)
        self._thread.start()

    def _run_quietly(self, cfg):
        try:
            self._train(cfg)
        except Exception:  # already reported in the status line
            pass

    def _train_toggled(self, change):
        if getattr(self._quiet, "on", False):
            return  # the panel moved the toggle itself
        if change["new"]:
            self.start()
        else:
            self.stop()  # released by hand (a queued click undone): stop whatever it started

    @contextmanager
    def _quietly(self):
        self._quiet.on = True
        try:
            yield
        finally:
            self._quiet.on = False

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
            self._run_number = 0 if self._current is None else self._run_number
            self._version += 1
        self.status.value = "Cleared. Press <b>Train</b> to start a run."
        self.progress.value = 0.0
        self._update_replay_choices()
        self.redraw()

    def _set_running(self, running: bool, in_thread: bool = False):
        with self._quietly():
            self.train_button.value = running
        self.train_button.disabled = running
        self.train_button.description = "Training" if running else "Train"
        self.stop_button.disabled = not (running and in_thread)  # a click reaches a thread only
        self.clear_button.disabled = running
        if running:
            self.progress.value = 0.0

    # ------------------------------------------------------------------ replay
    #: Most frames a replay draws (evenly spaced over the episode, first and last kept).
    REPLAY_FRAMES = 40

    def _update_replay_choices(self):
        with self._lock:
            options = [(r["label"], r["number"]) for r in self.runs if r["result"] is not None]
        keep, before = self.replay_choice.value, len(self.replay_choice.options)
        self.replay_choice.options = options
        if options:
            numbers = [n for _, n in options]
            # a run just finished: offer it; otherwise (a run cleared) keep the reader's choice if it is still there
            self.replay_choice.value = numbers[-1] if len(options) > before or keep not in numbers else keep
        self.replay_button.disabled = not options

    def replay(self, run_number: int | None = None, seed: int | None = None):
        """Play one episode of a finished run's latest policy (the run chosen in the "replay run"
        dropdown, or ``run_number``) with :func:`pgbook.replay.record_episode`, seeded by the seed box
        (or ``seed``), and show its frames under the plot: ▶ plays them, the slider steps through them.
        Returns the :class:`pgbook.replay.Replay`."""
        from . import replay as rp

        number = self.replay_choice.value if run_number is None else run_number
        with self._lock:
            run = next((r for r in self.runs if r["number"] == number and r["result"] is not None), None)
        if run is None:
            raise ValueError(f"run_number must be the number of a finished run in the panel, got {number!r}")
        seed = int(self.controls["seed"].value) if seed is None else seed
        result = run["result"]
        episode = rp.record_episode(run["config"].env_id, result.policy, result.theta, seed=seed)
        idx = rp.frame_indices(episode.length, self.REPLAY_FRAMES)
        height = 2.4 if episode.env_id == "CartPole-v1" else 3.6
        fig = Figure(figsize=(5.0, height), dpi=self.DPI, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        scene = rp.Scene(fig.add_subplot(), episode.env_id, episode.states, episode.actions, episode.rewards,
                         episode.context)
        scene.show(idx[-1])
        canvas.draw()
        fig.set_layout_engine("none")  # laid out once: frames keep one size
        frames = []
        for t in idx:
            scene.show(t)
            canvas.draw()
            buf = io.BytesIO()  # fast PNG, as in redraw
            matplotlib.image.imsave(buf, np.asarray(canvas.buffer_rgba())[..., :3], format="png",
                                    pil_kwargs={"compress_level": 1})
            frames.append(buf.getvalue())
        self.replay_frames, self.last_replay = frames, episode
        self.replay_play.value = 0
        self.replay_slider.value = 0
        self.replay_play.max = self.replay_slider.max = len(frames) - 1
        self.replay_image.value = frames[0]
        # shown at the frames' own size (a wider output area would stretch and blur them)
        self.replay_image.layout.width = f"{int(fig.get_figwidth() * self.DPI)}px"
        self.replay_image.layout.display = None
        self.replay_status.value = (f"Replay of run #{number} (seed {seed}): {episode.length} steps, return "
                                    f"{episode.total:g}; {len(frames)} frames. Press ▶ to play.")
        return episode

    def _replay_frame(self, change):
        k = change["new"]
        if 0 <= k < len(self.replay_frames):
            self.replay_image.value = self.replay_frames[k]

    # ------------------------------------------------------------------ drawing
    def redraw(self) -> float:
        """Redraw the learning curves of the kept runs and of the current one into the image.

        Returns the seconds it took.  The layout (one plot per environment, legend, caption) is
        rebuilt only when a run starts or ends, the x axis changes or the plot is cleared, and the
        whole figure is drawn only then or when an axis range changes (the ranges move in round
        steps); in between the running curve is drawn over a saved picture of the rest, which
        takes a few milliseconds.
        """
        t0 = time.perf_counter()
        with self._draw_lock:
            rebuilt = self._draw()
            rgba = np.asarray(self._canvas.buffer_rgba())
            buf = io.BytesIO()
            # the lowest compression: fast to encode (matplotlib saves through pillow)
            matplotlib.image.imsave(buf, rgba[..., :3], format="png",
                                    pil_kwargs={"compress_level": 1})
        self.image.value = buf.getvalue()
        seconds = time.perf_counter() - t0
        self.draw_count += 1
        self.last_draw_seconds = seconds
        if not rebuilt:  # a new layout (a run starts or ends) is a one-off cost, not the drawing rate
            self._draw_cost = seconds if self._draw_cost is None else 0.7 * self._draw_cost + 0.3 * seconds
        return seconds

    def _draw(self) -> bool:
        """Bring the figure and the canvas up to date (the caller holds the draw lock).

        Returns True if the layout was rebuilt.
        """
        with self._lock:
            current = self._current
            runs = list(self.runs) + ([current] if current is not None else [])
            data = [(r, np.asarray(r["env_steps"], dtype=float), np.asarray(r["seconds"], dtype=float),
                     np.asarray(r["returns"], dtype=float)) for r in runs]
            version = self._version
        use_seconds = self.x_axis.value == "seconds"
        full = rebuilt = self._drawn != (version, use_seconds)
        if rebuilt:
            self._build(data, current, use_seconds)
            self._drawn = (version, use_seconds)
        elif current is not None and self._current_line is not None:
            _, steps, secs, rets = data[-1]
            self._set_line(self._current_line, secs if use_seconds else steps, rets)
        for env_id, ax in self._axes.items():
            full |= self._set_limits(ax, env_id, data, use_seconds)
        line = self._current_line
        if full or self._background is None:
            self._canvas.draw()  # everything but the running curve (it is "animated")
            self._background = self._canvas.copy_from_bbox(self._fig.bbox)
        else:
            self._canvas.restore_region(self._background)
        if line is not None:
            line.axes.draw_artist(line)
        return rebuilt

    @staticmethod
    def _set_line(line, x, y):
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        ok = np.isfinite(x) & np.isfinite(y)  # never plot a non-finite value
        line.set_data(x[ok], y[ok])
        line.set_markevery(max(1, int(ok.sum()) // 8))

    def _set_limits(self, ax, env_id, data, use_seconds) -> bool:
        """Set the axis ranges of one environment's plot in round steps; True if they changed."""
        xs, ys, budgets = [], [], []
        for r, steps, secs, rets in data:
            if r["config"].env_id != env_id:
                continue
            x = secs if use_seconds else steps
            n = min(len(x), len(rets))
            ok = np.isfinite(x[:n]) & np.isfinite(rets[:n])
            xs.append(x[:n][ok])
            ys.append(rets[:n][ok])
            if r["config"].max_env_steps:
                budgets.append(r["config"].max_env_steps)
        x = np.concatenate(xs) if xs else np.zeros(0)
        y = np.concatenate(ys) if ys else np.zeros(0)
        if use_seconds:  # grows in steps of 1, 2, 5 x 10^k, so the picture is rarely redrawn whole
            xlim = (0.0, 1.02 * _round_up(max(float(x.max()) if x.size else 0.0, 1.0)))
        else:  # the step budget: the curve grows towards it
            budget = max(budgets) if budgets else float(self.controls["max_env_steps"].value)
            xlim = (0.0, 1.02 * max([budget] + ([float(x.max())] if x.size else [])))
        threshold = _reward_threshold(env_id)
        # 0 too: the returns of these environments start on one side of it
        values = list(y) + ([threshold] if threshold is not None else []) + [0.0]
        lo, hi = min(values), max(values)
        step = _round_up((hi - lo) / 5) if hi > lo else 1.0
        lo, hi = step * np.floor(lo / step), step * np.ceil(hi / step)
        if hi <= lo:
            hi = lo + step
        ylim = (lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo))
        changed = (ax.get_xlim(), ax.get_ylim()) != (xlim, ylim)
        if changed:
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
        return changed

    def _build(self, data, current, use_seconds):
        """Lay the figure out anew: one plot per environment, a legend and a caption below them."""
        fig = self._fig
        fig.clear()
        self._current_line = None
        self._background = None
        envs = list(dict.fromkeys(r["config"].env_id for r, *_ in data)) or [self.controls["env_id"].value]
        items = [_settings(r["config"]) for r, *_ in data]
        differ = [k for k in ("policy", "step", "gamma", "batch", "seed") if len({it[k] for it in items}) > 1]
        common = [v for k, v in items[0].items() if k not in differ] if items else []
        labels = []
        for (r, *_), it in zip(data, items):
            label = f"#{r['number']} {estimator_label(r['config'])}"
            label += "".join(f", {it[k]}" for k in differ)
            labels.append(label + (" (running)" if r is current else ""))

        # geometry in inches: title, plots, tick labels and x label, legend rows, caption
        width, ax_h, top, below = self.FIG_WIDTH, self.AXES_HEIGHT, 0.35, 0.6
        left, right, gap = 0.85, 0.35, 0.85
        thresholds = {env_id: _reward_threshold(env_id) for env_id in envs}
        marked = any(t is not None for t in thresholds.values())
        rows = len(labels) + marked
        legend_h = 0.21 * rows + (0.05 if rows else 0.0)
        caption_h = 0.25 if common else 0.0
        height = top + ax_h + below + legend_h + caption_h + 0.05
        fig.set_size_inches(width, height)
        n = len(envs)
        ax_w = (width - left - right - gap * (n - 1)) / n
        self._axes = {}
        for k, env_id in enumerate(envs):
            ax = fig.add_axes([(left + k * (ax_w + gap)) / width, (height - top - ax_h) / height,
                               ax_w / width, ax_h / height])
            self._axes[env_id] = ax
            ax.set_title(env_id, fontsize=11, y=1.0, pad=6)  # a fixed y skips a layout pass per draw
            ax.set_xlabel("wall time (s)" if use_seconds else "environment steps", fontsize=10)
            if k == 0:
                ax.set_ylabel("mean return of the batch", fontsize=10)
            ax.tick_params(labelsize=9)
            ax.grid(True, alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5 if n == 1 else 3, steps=[1, 2, 5, 10]))
            if not use_seconds:
                ax.xaxis.set_major_formatter(FuncFormatter(_steps_tick))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
            if thresholds[env_id] is not None:
                threshold_line = ax.axhline(thresholds[env_id], color="0.35", linestyle=":", linewidth=1.4,
                                            marker=None)
        handles = []
        for (r, steps, secs, rets), label in zip(data, labels):
            style = plotting.series_style(r["number"] - 1)
            (line,) = self._axes[r["config"].env_id].plot([], [], label=label, color=style["color"],
                                                          linestyle=style["linestyle"], marker=style["marker"],
                                                          linewidth=2.4 if r is current else 1.6,
                                                          animated=r is current)  # drawn on its own
            self._set_line(line, secs if use_seconds else steps, rets)
            handles.append(line)
            if r is current:
                self._current_line = line
        renderer = self._canvas.get_renderer()
        avail = (width - left + 0.6) * fig.dpi
        if marked:  # named in the legend, not on the plot, where a curve may run through the words
            handles.append(threshold_line)
            labels.append("gymnasium's reward threshold" if n > 1 else
                          f"gymnasium's reward threshold, {thresholds[envs[0]]:g}")
        if handles:
            legend = fig.legend(handles, labels, loc="upper left", frameon=False, fontsize=9, borderaxespad=0,
                                borderpad=0, handlelength=3.0,
                                bbox_to_anchor=((left - 0.6) / width, (height - top - ax_h - below) / height))
            _shrink_to_fit(legend.get_texts(), lambda: legend.get_window_extent(renderer).width, avail)
        if common:
            caption = fig.text((left - 0.6) / width, (height - top - ax_h - below - legend_h) / height,
                               "Same in every run: " + ", ".join(common), fontsize=9, va="top", color="0.25")
            _shrink_to_fit([caption], lambda: caption.get_window_extent(renderer).width, avail)


def _shrink_to_fit(texts, measure, available, smallest=6.0):
    """Lower the font size of ``texts`` until ``measure()`` (a width in pixels) fits ``available``."""
    texts = list(texts)
    size = texts[0].get_fontsize() if texts else 0
    while texts and measure() > available and size > smallest:
        size -= 0.5
        for t in texts:
            t.set_fontsize(size)
