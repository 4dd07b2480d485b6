r"""Replays: one episode of a policy, played and drawn from the environment's own state.

:func:`record_episode` plays one episode with a single gymnasium environment (``reset(seed=...)``,
five-value ``step``) and keeps the environment's *state* at every step (not only what the agent
observes): the cart and pole of CartPole-v1, the two joint angles of Acrobot-v1, the cell of
FrozenLake and of the short corridor, the scalar state of the linear-quadratic problem.

Each replay is shown in two forms.  :func:`filmstrip` draws a few frames side by side, each
titled with its step and the return so far: a plain figure that works on paper and on a phone.
:func:`animation_html` plays every frame (or an evenly spaced subset of at most ``max_frames``)
with matplotlib's JavaScript-HTML writer: the frames are PNG images embedded in the page, with
play, step and speed buttons that need no kernel.  :func:`show_replay` displays it.

The drawing uses matplotlib only (gymnasium's own ``rgb_array`` rendering needs pygame).  A frame
is drawn by a :class:`Scene`, which creates its artists once and moves them for each frame.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import gymnasium
import numpy as np
from gymnasium import spaces

from ._validate import (ArgumentTypeError, check_bool, check_env_id, check_positive_int, check_seed)
from .envs import LINEAR_QUADRATIC_ID, SHORT_CORRIDOR_ID
from .policies import LinearGaussian, TabularSoftmax

__all__ = [
    "Replay",
    "record_episode",
    "env_state",
    "Scene",
    "draw_frame",
    "filmstrip",
    "frame_indices",
    "visit_frequencies",
    "animation_html",
    "show_replay",
    "ENV_IDS",
]

FROZEN_LAKE_ID = "FrozenLake-v1"
#: The environments a replay can draw.
ENV_IDS = ("CartPole-v1", "Acrobot-v1", FROZEN_LAKE_ID, SHORT_CORRIDOR_ID, LINEAR_QUADRATIC_ID)
_NAMES = {"CartPole-v1": "CartPole-v1", "Acrobot-v1": "Acrobot-v1", FROZEN_LAKE_ID: "FrozenLake",
          SHORT_CORRIDOR_ID: "short corridor", LINEAR_QUADRATIC_ID: "linear-quadratic"}


@dataclass(frozen=True)
class Replay:
    """One recorded episode.

    ``states`` has one row per time step *including* the state after the last step, shape
    ``(T + 1, d)``: the environment's own state (see :func:`env_state`); ``actions`` and
    ``rewards`` have length ``T``.  ``context`` holds what the drawing needs besides the state
    (FrozenLake's map).
    """

    env_id: str
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    seed: int
    context: dict = field(default_factory=dict)

    @property
    def length(self) -> int:
        """The number of steps ``T``."""
        return int(len(self.rewards))

    @property
    def total(self) -> float:
        """The undiscounted return of the episode."""
        return float(np.sum(self.rewards))

    @property
    def returns_so_far(self) -> np.ndarray:
        """The return collected before frame ``t``, for ``t = 0 .. T`` (length ``T + 1``)."""
        return np.concatenate([[0.0], np.cumsum(self.rewards)])


def env_state(env_id: str, env, obs) -> np.ndarray:
    """The environment's own state, as a float vector: CartPole ``(x, x_dot, theta, theta_dot)``,
    Acrobot ``(theta_1, theta_2, dtheta_1, dtheta_2)``, FrozenLake and the short corridor the cell
    index, the linear-quadratic problem its state ``s``."""
    inner = env.unwrapped
    if env_id in ("CartPole-v1", "Acrobot-v1"):
        return np.array(inner.state, dtype=float)
    if env_id == SHORT_CORRIDOR_ID:
        return np.array([inner._cell], dtype=float)
    if env_id == FROZEN_LAKE_ID:
        return np.array([inner.s], dtype=float)
    return np.asarray(obs, dtype=float).reshape(-1)


def _check_supported(env_id) -> str:
    check_env_id(env_id)
    if env_id not in ENV_IDS:
        raise ValueError(f"env_id must be one of {ENV_IDS} (the environments a replay can draw), "
                         f"got {env_id!r}")
    return env_id


def _actor(policy, theta, obs_space, rng, greedy):
    """A function observation -> action for one environment."""
    if not callable(getattr(policy, "check_theta", None)):
        raise ArgumentTypeError(f"policy must be a policy object such as pgbook.policies.LinearSoftmax "
                                f"(e.g. a TrainResult's policy), got {type(policy).__name__}")
    theta = policy.check_theta(theta)
    tabular = isinstance(policy, TabularSoftmax)

    def x_of(obs):
        if tabular:
            return np.array([int(obs)])
        if isinstance(obs_space, spaces.Discrete):
            return np.eye(int(obs_space.n))[[int(obs) - int(obs_space.start)]]
        return np.asarray(obs, dtype=float).reshape(1, -1)

    def act(obs):
        x = x_of(obs)
        if greedy:
            if isinstance(policy, LinearGaussian):
                return policy.mean_std(theta, x)[0][0]
            return np.argmax(policy.probs(theta, x), axis=-1)[0]
        return policy.sample(theta, x, rng)[0]
    return act


def record_episode(env_id: str, policy, theta, seed: int, max_steps: int | None = None,
                   greedy: bool = False, env_kwargs: dict | None = None) -> Replay:
    """Play one episode of ``policy(theta)`` on ``gymnasium.make(env_id, **env_kwargs)``.

    The environment is reset with ``seed``; the actions are drawn from
    ``numpy.random.default_rng([seed, 2])`` (``greedy=True`` takes the most probable action, the
    mean for a Gaussian), so a policy and a seed give the same replay every time.  The episode
    ends when the environment says so (its time limit included) or after ``max_steps`` steps.
    A ``TabularSoftmax`` policy reads the cell index, any other policy the observation features
    of :func:`pgbook.rollout.features`.
    """
    _check_supported(env_id)
    seed = check_seed(seed, "seed")
    greedy = check_bool(greedy, "greedy")
    if max_steps is not None:
        max_steps = check_positive_int(max_steps, "max_steps")
    if env_kwargs is not None and not isinstance(env_kwargs, dict):
        raise ArgumentTypeError(f"env_kwargs must be a dict or None, got {type(env_kwargs).__name__}")
    env = gymnasium.make(env_id, **dict(env_kwargs or {}))
    try:
        rng = np.random.default_rng([seed, 2])
        act = _actor(policy, theta, env.observation_space, rng, greedy)
        obs, _ = env.reset(seed=seed)
        states, actions, rewards = [env_state(env_id, env, obs)], [], []
        terminated = truncated = False
        space = env.action_space
        while not (terminated or truncated) and (max_steps is None or len(rewards) < max_steps):
            a = act(obs)
            if isinstance(space, spaces.Discrete):
                env_a = int(a) + int(space.start)
            else:
                env_a = np.clip(np.atleast_1d(a), space.low, space.high).astype(space.dtype)
            obs, r, terminated, truncated, _ = env.step(env_a)
            states.append(env_state(env_id, env, obs))
            actions.append(np.asarray(a, dtype=float).reshape(-1)[0])
            rewards.append(float(r))
        context = {}
        if env_id == FROZEN_LAKE_ID:
            context["desc"] = tuple(row.tobytes().decode() for row in env.unwrapped.desc)
    finally:
        env.close()
    return Replay(env_id=env_id, states=np.array(states), actions=np.array(actions, dtype=float),
                  rewards=np.array(rewards, dtype=float), terminated=bool(terminated),
                  truncated=bool(truncated), seed=seed, context=context)


# ------------------------------------------------------------------------------- drawing
def _palette():
    from .plotting import PALETTE
    return PALETTE


class Scene:
    """The artists of one axes that show a replay's frames: built once, moved by :meth:`show`.

    ``states`` (``(T + 1, d)``), ``actions`` and ``rewards`` (length ``T``) are those of a
    :class:`Replay`; ``context`` its context.  ``show(t)`` draws frame ``t`` (the state before
    step ``t``; ``t = T`` is the final state) and returns the artists it changed.
    """

    def __init__(self, ax, env_id, states, actions=None, rewards=None, context=None, title=True):
        self.ax, self.env_id = ax, _check_supported(env_id)
        self.states = np.atleast_2d(np.asarray(states, dtype=float))
        T = len(self.states) - 1
        self.actions = np.zeros(T) if actions is None else np.asarray(actions, dtype=float)
        self.rewards = np.zeros(T) if rewards is None else np.asarray(rewards, dtype=float)
        self.so_far = np.concatenate([[0.0], np.cumsum(self.rewards)])
        self.context = dict(context or {})
        self.title = title
        self.artists = {}
        {"CartPole-v1": self._cartpole, "Acrobot-v1": self._acrobot, FROZEN_LAKE_ID: self._lake,
         SHORT_CORRIDOR_ID: self._corridor, LINEAR_QUADRATIC_ID: self._lq}[env_id]()

    # ---- CartPole: the cart at x, the pole at angle theta from upright (positive leans right)
    POLE_LENGTH = 1.0  # gymnasium's ``length`` (0.5) is half the pole

    def _cartpole(self):
        ax, c = self.ax, _palette()
        ax.plot([-2.4, 2.4], [0, 0], color="grey", linestyle="-", linewidth=1.5)
        for edge in (-2.4, 2.4):
            ax.axvline(edge, color=c["vermillion"], linestyle=":", linewidth=1.2)
        from matplotlib.patches import Rectangle
        cart = Rectangle((0, -0.12), 0.5, 0.24, color=c["blue"], zorder=3)
        ax.add_patch(cart)
        (pole,) = ax.plot([], [], color=c["orange"], linestyle="-", linewidth=5,
                         solid_capstyle="round", zorder=4)
        ax.set_xlim(-2.6, 2.6)
        ax.set_ylim(-0.4, 1.3)
        ax.set_aspect("equal")
        ax.set_xlabel("cart position $x$")
        ax.set_yticks([])
        ax.grid(False)
        self.artists.update(cart=cart, pole=pole)

        def update(s):
            x, theta = s[0], s[2]
            cart.set_x(x - 0.25)
            pole.set_data([x, x + self.POLE_LENGTH * np.sin(theta)], [0, self.POLE_LENGTH * np.cos(theta)])
            return [cart, pole]
        self._update = update

    # ---- Acrobot: two links hanging from the origin; the tip must rise above y = 1
    def _acrobot(self):
        ax, c = self.ax, _palette()
        ax.axhline(1.0, color=c["green"], linestyle="--", linewidth=1.5)
        (links,) = ax.plot([], [], color=c["blue"], linestyle="-", linewidth=4, marker="o", markersize=6, zorder=3)
        ax.set_xlim(-2.2, 2.2)
        ax.set_ylim(-2.2, 2.2)
        ax.set_aspect("equal")
        ax.set_xlabel("horizontal position")
        ax.set_ylabel("height")
        self.artists.update(links=links)

        def update(s):
            t1, t2 = s[0], s[1]
            p1 = np.array([np.sin(t1), -np.cos(t1)])
            p2 = p1 + np.array([np.sin(t1 + t2), -np.cos(t1 + t2)])
            links.set_data([0, p1[0], p2[0]], [0, p1[1], p2[1]])
            return [links]
        self._update = update

    # ---- FrozenLake: the map, the agent's path so far, the agent
    def _lake(self):
        ax, c = self.ax, _palette()
        desc = self.context.get("desc", ("SFFF", "FHFH", "FFFH", "HFFG"))
        nrow, ncol = len(desc), len(desc[0])
        colour = {"S": c["sky"], "F": "#f4f4f4", "H": "#555555", "G": c["green"]}
        from matplotlib.patches import Rectangle
        for i, row in enumerate(desc):
            for j, ch in enumerate(row):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=colour[ch],
                                       edgecolor="white", linewidth=2))
                if ch in "SHG":
                    ax.text(j + 0.32, i - 0.3, ch, ha="center", va="center", fontsize=8,
                            color="white" if ch == "H" else "black")
        visits = self.context.get("visits")
        if visits is not None:  # the share of episodes that visit each cell, shaded and printed
            visits = np.asarray(visits, dtype=float).reshape(nrow, ncol)
            for i in range(nrow):
                for j in range(ncol):
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=c["blue"],
                                           alpha=0.55 * visits[i, j], edgecolor="none"))
                    ax.text(j, i + 0.3, f"{100 * visits[i, j]:.0f}%", ha="center", va="center",
                            fontsize=8, color="white" if desc[i][j] == "H" else "black")
        (path,) = ax.plot([], [], color=c["orange"], linestyle="-", linewidth=2.5, alpha=0.8, zorder=3)
        (agent,) = ax.plot([], [], "o", color=c["vermillion"], markersize=12, zorder=4,
                           markeredgecolor="black")
        ax.set_xlim(-0.5, ncol - 0.5)
        ax.set_ylim(nrow - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        self.ncol = ncol
        self.artists.update(path=path, agent=agent)

        def update(s, history):
            cells = history[:, 0].astype(int)
            rows, cols = np.divmod(cells, self.ncol)
            path.set_data(cols, rows)
            agent.set_data([cols[-1]], [rows[-1]])
            return [path, agent]
        self._update = update

    # ---- short corridor: four cells, the switched one marked, the agent
    def _corridor(self):
        ax, c = self.ax, _palette()
        from matplotlib.patches import Rectangle
        labels = ["start", "switched", "", "goal"]
        for j in range(4):
            face = c["green"] if j == 3 else ("#fde9c8" if j == 1 else "#f4f4f4")
            ax.add_patch(Rectangle((j - 0.5, -0.5), 1, 1, facecolor=face, edgecolor="grey"))
            ax.text(j, -0.32, labels[j], ha="center", va="center", fontsize=9)
        (agent,) = ax.plot([], [], "o", color=c["blue"], markersize=16, markeredgecolor="black", zorder=4)
        visits = ax.text(1.5, 0.75, "", ha="center", va="center", fontsize=9)
        ax.set_xlim(-0.6, 3.6)
        ax.set_ylim(-0.6, 1.0)
        ax.set_aspect("equal")
        ax.set_xticks(range(4))
        ax.set_xticklabels([f"cell {j}" for j in range(4)])
        ax.set_yticks([])
        ax.grid(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        self.artists.update(agent=agent, visits=visits)

        def update(s, history):
            cell = int(s[0])
            agent.set_data([cell], [0.1])
            n = np.bincount(history[:, 0].astype(int), minlength=4)[:4]
            visits.set_text("visits per cell: " + ", ".join(str(k) for k in n))
            return [agent, visits]
        self._update = update

    # ---- linear-quadratic: x_t and u_t against t, up to the current step
    def _lq(self):
        ax, c = self.ax, _palette()
        T = len(self.states) - 1
        (xs,) = ax.plot([], [], color=c["blue"], linestyle="-", marker="o", markersize=3,
                        label="state $s_t$")
        (us,) = ax.plot([], [], color=c["orange"], linestyle="--", marker="s", markersize=3,
                        label="action $a_t$")
        ax.axhline(0.0, color="grey", linewidth=1)
        bound = max(1.0, float(np.max(np.abs(self.states[:, 0]))),
                    float(np.max(np.abs(self.actions), initial=0.0)))
        ax.set_xlim(-0.5, max(T, 1) + 0.5)
        ax.set_ylim(-1.15 * bound, 1.9 * bound)  # the legend sits above the data
        ax.set_xlabel("time step $t$")
        ax.set_ylabel("$s_t$ and $a_t$")
        ax.legend(loc="upper center", ncol=2, fontsize=8)
        self.artists.update(states=xs, actions=us)

        def update(s, history):
            t = len(history) - 1
            xs.set_data(np.arange(t + 1), history[:, 0])
            us.set_data(np.arange(t), self.actions[:t])
            return [xs, us]
        self._update = update

    def show(self, t: int):
        """Draw frame ``t`` (0 .. T) and return the artists it changed."""
        t = int(t)
        state = self.states[t]
        if self.env_id in ("CartPole-v1", "Acrobot-v1"):
            changed = self._update(state)
        else:
            changed = self._update(state, self.states[:t + 1])
        if self.title:
            self.ax.set_title(f"step {t}, return {self.so_far[t]:.4g}", fontsize=11)
        return changed


def draw_frame(ax, env_id: str, state, history=None, actions=None, context=None) -> Scene:
    """Draw one state of ``env_id`` on ``ax`` and return the :class:`Scene` (its ``artists``).

    ``history`` (the earlier states, oldest first) adds the path so far where the drawing shows
    one (FrozenLake, the short corridor's visit counts, the linear-quadratic curves)."""
    _check_supported(env_id)
    state = np.atleast_1d(np.asarray(state, dtype=float))
    states = state[None] if history is None else np.vstack([np.asarray(history, dtype=float).reshape(
        -1, state.size), state[None]])
    scene = Scene(ax, env_id, states, actions, None, context, title=False)
    scene.show(len(states) - 1)
    return scene


def visit_frequencies(episodes, n_states: int) -> np.ndarray:
    """The share of ``episodes`` (a :class:`pgbook.episodes.Episodes` with ``next_states``, e.g.
    from :func:`pgbook.mdp.sample_trajectories`) that visit each state at least once, start and
    final state included; shape ``(n_states,)``."""
    from ._validate import check_episodes

    episodes = check_episodes(episodes)
    if episodes.next_states is None:
        raise ValueError("episodes must have next_states (sample them with pgbook.mdp.sample_trajectories)")
    n_states = check_positive_int(n_states, "n_states")
    mask = np.asarray(episodes.mask, dtype=bool)
    rows = np.broadcast_to(np.arange(episodes.n)[:, None], mask.shape)[mask]
    visited = np.zeros((episodes.n, n_states), dtype=bool)
    visited[rows, np.asarray(episodes.states)[mask].astype(int)] = True
    visited[rows, np.asarray(episodes.next_states)[mask].astype(int)] = True
    return visited.mean(axis=0)


def _check_replay(replay) -> Replay:
    if not isinstance(replay, Replay):
        raise ArgumentTypeError(f"replay must be a pgbook.replay.Replay (from record_episode), "
                                f"got {type(replay).__name__}")
    return replay


def frame_indices(length: int, n_frames: int) -> np.ndarray:
    """At most ``n_frames`` evenly spaced frames of an episode of ``length`` steps, first (0) and
    last (``length``) included."""
    n = min(check_positive_int(n_frames, "n_frames"), length + 1)
    return np.unique(np.round(np.linspace(0, length, n)).astype(int))


def filmstrip(replay: Replay, n_frames: int = 6, ncols: int = 2, title: str | None = None):
    """A figure of ``n_frames`` evenly spaced frames of ``replay``, ``ncols`` to a row, each titled
    with its step and the return so far; returns the figure.  Two frames to a row keep the titles
    readable when the figure shrinks to a phone's width."""
    from .plotting import new_figure

    replay = _check_replay(replay)
    idx = frame_indices(replay.length, n_frames)
    ncols = min(check_positive_int(ncols, "ncols"), len(idx))
    nrows = -(-len(idx) // ncols)
    height = 1.6 if replay.env_id in ("CartPole-v1", SHORT_CORRIDOR_ID) else 2.6
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=2.7 * ncols, height=height * nrows + 0.3,
                           squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.ravel()):
        if k >= len(idx):
            ax.set_visible(False)
            continue
        Scene(ax, replay.env_id, replay.states, replay.actions, replay.rewards, replay.context).show(idx[k])
    if title:
        fig.suptitle(title)
    return fig


def animation_html(replay: Replay, fps: int = 10, max_frames: int = 40, alt: str = "", dpi: int = 80,
                   width: float = 5.0, title: str | None = None) -> tuple[str, int]:
    """The replay as an animation that plays in the browser without a kernel.

    At most ``max_frames`` evenly spaced frames (first and last kept) are drawn by one
    :class:`Scene` and written by matplotlib's ``FuncAnimation.to_jshtml``, PNG frames at ``dpi``
    embedded in the HTML.  The animation sits in a ``<div class="pgbook-replay">`` whose
    ``aria-label`` and frame ``<img>`` carry ``alt``; it shrinks to the column on a phone.
    Returns ``(html, size in bytes)``.
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    from .plotting import new_figure

    replay = _check_replay(replay)
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must be a non-empty string describing the animation")
    fps = check_positive_int(fps, "fps")
    idx = frame_indices(replay.length, max_frames)
    height = {"CartPole-v1": 2.4, SHORT_CORRIDOR_ID: 2.2}.get(replay.env_id, 3.6)
    fig, ax = new_figure(width=width, height=height, layout="constrained")
    scene = Scene(ax, replay.env_id, replay.states, replay.actions, replay.rewards, replay.context)
    if title:
        fig.suptitle(title, fontsize=11)
    scene.show(idx[-1])  # lay the figure out once, on its last frame (the longest title)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    anim = FuncAnimation(fig, lambda k: scene.show(idx[k]), frames=len(idx), interval=1000 / fps,
                         blit=False)
    try:
        with mpl.rc_context({"savefig.dpi": dpi}):
            markup = anim.to_jshtml(fps=fps, default_mode="once")
    finally:
        plt.close(fig)
    markup = _offline_controls(markup)
    label = html.escape(alt, quote=True)
    # the frame image: alt text, and it shrinks with the column
    markup = re.sub(r'<img id="(_anim_img[0-9a-f]+)"',
                    rf'<img id="\1" alt="{label}" style="max-width: 100%; height: auto;"', markup, count=1)
    markup = (f'<div class="pgbook-replay" role="group" aria-label="{label}" '
              f'data-frames="{len(idx)}" style="max-width: 100%; overflow-x: auto;">{_FIT_STYLE}{markup}</div>')
    return markup, len(markup.encode("utf-8"))


#: The buttons' Font Awesome icons (loaded from a CDN by matplotlib) as plain characters, so the
#: controls show offline and the page makes no outside request.
_ICONS = {"fa-minus": "\u2212", "fa-fast-backward": "\u21e4", "fa-step-backward": "\u2039",
          "fa-play fa-flip-horizontal": "\u25c0", "fa-pause": "\u275a\u275a", "fa-play": "\u25b6",
          "fa-step-forward": "\u203a", "fa-fast-forward": "\u21e5", "fa-plus": "+"}


#: Controls that fit a phone: narrower buttons, a slider no wider than the column.
_FIT_STYLE = ("<style>.pgbook-replay .anim-buttons button { width: 30px; }"
              ".pgbook-replay input[type=range].anim-slider { max-width: 100%; }</style>")


def _offline_controls(markup: str) -> str:
    markup = re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", markup)
    for icon, char in _ICONS.items():
        markup = markup.replace(f'<i class="fa {icon}"></i>', char)
    if "font-awesome" in markup or '<i class="fa' in markup:
        raise RuntimeError("matplotlib's animation controls changed: update pgbook.replay._ICONS")
    return markup


def show_replay(replay: Replay, alt: str, **kwargs) -> int:
    """Display :func:`animation_html` of ``replay`` (an IPython HTML output, which the static book
    keeps as it is); returns its size in bytes.  ``kwargs`` go to :func:`animation_html`."""
    from IPython.display import display

    markup, size = animation_html(replay, alt=alt, **kwargs)
    display({"text/html": markup, "text/plain": f"[animation] {alt}"}, raw=True)
    return size
