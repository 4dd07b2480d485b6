"""The TrainingPanel driven without a browser: set values, run, read results."""
from __future__ import annotations

import struct
import threading
import time

import ipywidgets as W
import numpy as np
import pytest

import pgbook
import pgbook.widgets as widgets
from pgbook.reinforce import ReinforceConfig, train
from pgbook.widgets import ENV_DEFAULTS, TrainingPanel, estimator_label

PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes):
    assert data.startswith(PNG)
    return struct.unpack(">II", data[16:24])  # width, height from the IHDR chunk


def _small_panel(**kw):
    panel = TrainingPanel(**kw)
    panel.controls["max_env_steps"].value = 10_000
    panel.controls["seed"].value = pgbook.book_seed()
    return panel


def _lines(panel):
    return [line for ax in panel._axes.values() for line in ax.get_lines() if line.get_label()[:1] == "#"]


def test_controls_make_the_config():
    panel = _small_panel()
    panel.controls["learning_rate"].value = 0.01
    panel.controls["baseline"].value = "batch-mean"
    panel.controls["reward_to_go"].value = False
    panel.controls["batch_episodes"].value = 8
    cfg = panel.config()
    assert (cfg.learning_rate, cfg.baseline, cfg.reward_to_go, cfg.batch_episodes) == (0.01, "batch-mean", False, 8)
    assert cfg.max_env_steps == 10_000 and cfg.seed == pgbook.book_seed() and cfg.progress is False


def test_learning_rate_and_gamma_keep_exactly_what_was_typed():
    panel = _small_panel()
    for name in ("learning_rate", "gamma"):
        assert isinstance(panel.controls[name], W.BoundedFloatText)  # no slider that snaps to a grid
    panel.controls["learning_rate"].value = 0.05
    panel.controls["gamma"].value = 0.995
    assert panel.controls["learning_rate"].value == 0.05
    cfg = panel.config()
    assert cfg.learning_rate == 0.05 and cfg.gamma == 0.995
    panel.run()
    assert "α = 0.05," in panel.runs[0]["label"] and "γ = 0.995" in panel.runs[0]["label"]


def test_cartpole_defaults_are_the_trainers_defaults():
    d, c = ENV_DEFAULTS["CartPole-v1"], ReinforceConfig()
    assert all(getattr(c, k) == v for k, v in d.items() if k != "max_env_steps")


def test_every_offered_environment_has_settings_and_choosing_it_loads_them():
    panel = _small_panel()
    offered = list(panel.controls["env_id"].options)
    assert offered == ["CartPole-v1", "Acrobot-v1"] and set(offered) <= set(ENV_DEFAULTS)
    panel.controls["learning_rate"].value = 0.03
    panel.controls["env_id"].value = "Acrobot-v1"
    cfg = panel.config()
    for name, value in ENV_DEFAULTS["Acrobot-v1"].items():
        assert getattr(cfg, name) == value, name
    assert "Acrobot-v1" in panel.status.value
    panel.controls["env_id"].value = "CartPole-v1"
    assert panel.config().learning_rate == ENV_DEFAULTS["CartPole-v1"]["learning_rate"]


def test_run_draws_in_place_and_keeps_runs_until_clear():
    panel = _small_panel()
    image_widget = panel.image
    result = panel.run()
    # the budget ran out (at least 10 000 steps) or the run reached the target return 475
    assert (result.status == "budget" and result.env_steps >= 10_000) or (
        result.status == "callback" and result.history[-1]["return_mean"] >= 475)
    assert len(panel.runs) == 1
    run = panel.runs[0]
    np.testing.assert_allclose(run["returns"], result.curve("return_mean"))
    np.testing.assert_allclose(run["env_steps"], result.curve("env_steps"))
    assert panel.image is image_widget and bytes(panel.image.value).startswith(PNG)  # same widget, new picture
    assert run["first_point_seconds"] is not None and run["first_point_seconds"] < run["seconds_total"]
    assert panel.progress.value == 1.0 and "iterations" in panel.status.value
    panel.controls["learning_rate"].value = 0.05
    panel.run()
    assert len(panel.runs) == 2 and panel.runs[1]["config"].learning_rate == 0.05
    assert len(_lines(panel)) == 2 and len(panel._axes) == 1  # both curves on the one plot
    panel.clear()
    assert panel.runs == [] and len(_lines(panel)) == 0


def _watch(panel):
    """Record, in order, every new picture and every new status text of the panel."""
    events = []
    panel.image.observe(lambda ch: events.append(("image", None)), names="value")
    panel.status.observe(lambda ch: events.append(("status", ch["new"])), names="value")
    return events


def test_a_two_second_run_is_redrawn_several_times_a_second_and_the_picture_comes_before_the_final_status():
    panel = _small_panel(config=ReinforceConfig(max_seconds=2.0))
    panel.controls["max_env_steps"].value = 1_000_000
    panel.controls["stop_at_target"].value = False
    events = _watch(panel)
    panel.run()
    run = panel.runs[0]
    seconds, redraws = run["seconds_total"], run["redraws"]
    iterations = np.diff(np.concatenate([[0.0], run["seconds"]]))
    # the rule: a redraw at the end of the first iteration that ends at least `gap` after the
    # previous one, gap = max(redraw_seconds, 3 x the cost of a redraw); so redraws are at most
    # gap + one iteration apart.  Measured on this run, not against the wall clock:
    cost = run["draw_seconds"] / redraws
    gap = max(panel.redraw_seconds, cost * (1 - panel.max_draw_share) / panel.max_draw_share)
    expected = seconds / (gap + iterations.max())
    print(f"\n{redraws} redraws in {seconds:.2f} s ({redraws / seconds:.1f} per second), {len(iterations)} "
          f"iterations, {1000 * cost:.1f} ms per redraw, drawing {run['draw_seconds'] / seconds:.0%} of the run")
    assert redraws >= 0.5 * expected - 1
    assert run["draw_seconds"] <= 2 * panel.max_draw_share * seconds
    # the last picture first, then the final status; nothing drawn after it
    final = [i for i, (kind, text) in enumerate(events) if kind == "status" and "iterations" in (text or "")]
    pictures = [i for i, (kind, _) in enumerate(events) if kind == "image"]
    assert len(final) == 1 and final[0] == len(events) - 1 and pictures[-1] < final[0]
    assert run["outcome"] == "budget" and "time limit of 2 s reached" in panel.status.value


def test_train_is_a_toggle_that_shows_at_once_and_stop_ends_the_background_run():
    panel = _small_panel()
    panel.controls["max_env_steps"].value = 1_000_000
    panel.controls["stop_at_target"].value = False
    assert isinstance(panel.train_button, W.ToggleButton)  # stays down in the browser until the kernel answers
    assert "Stop" in panel.help.value and "Interrupt" in panel.help.value  # says how to stop
    panel.train_button.value = True                          # what a click does
    assert panel.train_button.disabled and panel.train_button.description == "Training"
    t0 = time.perf_counter()
    while panel.stop_button.disabled and time.perf_counter() - t0 < 5:
        time.sleep(0.01)
    while (not panel._current or not panel._current["returns"]) and time.perf_counter() - t0 < 20:
        time.sleep(0.01)  # wait for a first batch
    assert "<b>Stop</b> ends it" in panel.status.value
    panel.stop_button.click()
    panel.wait(timeout=20)
    assert len(panel.runs) == 1 and panel.runs[0]["outcome"] == "stopped"
    result = panel.runs[0]["result"]
    assert result.status == "callback" and result.env_steps < 1_000_000
    assert "stopped (Stop button)" in panel.status.value
    assert panel.train_button.value is False and panel.train_button.disabled is False
    assert panel.train_button.description == "Train" and panel.stop_button.disabled


def test_releasing_train_by_hand_stops_the_run_it_started():
    panel = _small_panel()
    panel.controls["max_env_steps"].value = 1_000_000
    panel.controls["stop_at_target"].value = False
    panel.train_button.value = True
    panel.train_button.value = False   # e.g. a queued click undone before the kernel got to it
    panel.wait(timeout=20)
    assert panel.runs[0]["outcome"] == "stopped" and panel.runs[0]["result"].env_steps < 1_000_000


def test_kernel_interrupt_stops_a_run_from_code_and_says_so(monkeypatch):
    def interrupted_train(cfg, callback):
        def cb(m):
            if m["iteration"] == 3:
                raise KeyboardInterrupt  # what Kernel > Interrupt raises in the training loop
            return callback(m)
        return train(cfg, cb)

    monkeypatch.setattr(widgets, "train", interrupted_train)
    panel = _small_panel()
    panel.controls["max_env_steps"].value = 1_000_000
    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(KeyboardInterrupt):   # it still stops the cell
        panel.run()
    run = panel.runs[0]
    assert run["outcome"] == "interrupted" and run["result"] is None and len(run["returns"]) == 2
    assert "stopped (interrupted" in panel.status.value
    assert panel.train_button.disabled is False and panel.train_button.value is False
    assert len(_lines(panel)) == 1  # the partial curve stays


def test_a_setting_the_trainer_refuses_releases_train_and_says_why(monkeypatch):
    panel = _small_panel()

    def bad_config():
        raise ValueError("learning_rate must be positive")

    monkeypatch.setattr(panel, "config", bad_config)
    panel.train_button.value = True
    assert "learning_rate must be positive" in panel.status.value
    assert panel.train_button.value is False and not panel.train_button.disabled


def test_legend_uses_the_books_notation_and_names_only_what_differs():
    assert estimator_label(ReinforceConfig()) == "$G_t - b$, value baseline"
    assert estimator_label(ReinforceConfig(baseline="none")) == "$G_t$, no baseline"
    assert estimator_label(ReinforceConfig(reward_to_go=False, baseline="none")) == r"$R(\tau)$, no baseline"
    assert estimator_label(ReinforceConfig(discount_weighting=True)) == r"$\gamma^t (G_t - b)$, value baseline"
    panel = _small_panel()
    panel.run()
    panel.controls["reward_to_go"].value, panel.controls["baseline"].value = False, "none"
    panel.controls["learning_rate"].value = 0.05
    panel.run()
    labels = [t.get_text() for t in panel._fig.legends[0].get_texts()]
    assert labels == [r"#1 $G_t - b$, value baseline, Adam, $\alpha$ = 0.2",
                      r"#2 $R(\tau)$, no baseline, Adam, $\alpha$ = 0.05",
                      "gymnasium's reward threshold, 475"]
    caption = [t.get_text() for t in panel._fig.texts]
    assert any(t.startswith("Same in every run: linear policy") and f"seed {pgbook.book_seed()}" in t
               for t in caption)


def _inside(panel):
    """Everything drawn lies inside the figure, and the legend lies below the plots, covering none."""
    fig = panel._fig
    renderer = panel._canvas.get_renderer()
    drawn = fig.get_tightbbox(renderer)        # inches: tick labels, titles, legend, caption...
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, drawn
    assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, drawn
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        for ax in panel._axes.values():
            assert not box.overlaps(ax.get_tightbbox(renderer)), "the legend covers a plot"


def test_one_plot_per_environment_each_with_its_own_y_axis_and_nothing_clipped():
    panel = _small_panel()
    panel.controls["max_env_steps"].value = 200_000  # the right-most tick label reads 200k
    panel.controls["stop_at_target"].value = True
    panel.run()
    _inside(panel)
    panel.controls["env_id"].value = "Acrobot-v1"
    panel.controls["max_env_steps"].value = 10_000
    panel.run()
    assert list(panel._axes) == ["CartPole-v1", "Acrobot-v1"]
    cart, acro = panel._axes.values()
    assert cart.get_title() == "CartPole-v1" and acro.get_title() == "Acrobot-v1"
    assert cart.get_ylim()[0] >= -50 and acro.get_ylim()[1] <= 50     # returns >= 0, and <= 0
    assert cart.get_ylim() != acro.get_ylim()
    _inside(panel)
    panel.x_axis.value = "seconds"
    _inside(panel)
    for ax in panel._axes.values():  # the reward threshold, as a dotted line
        assert any(line.get_linestyle() == ":" for line in ax.get_lines())


def test_divergence_is_reported_in_the_status_line_and_nothing_non_finite_is_drawn():
    panel = _small_panel()
    cfg = panel.config().replace(learning_rate=1e308)
    with pytest.warns(UserWarning, match="learning_rate"):
        result = panel.run(cfg)
    assert result.diverged and "lower learning_rate" in panel.status.value
    for line in _lines(panel):
        assert np.all(np.isfinite(line.get_ydata()))


def test_collapse_is_reported_in_the_status_line():
    panel = _small_panel()
    cfg = panel.config().replace(learning_rate=1e6, max_iterations=20)
    with pytest.warns(UserWarning, match="learning_rate"):
        result = panel.run(cfg)
    assert result.collapsed and "lower learning_rate" in panel.status.value


def test_bad_settings_raise_a_clear_error():
    panel = _small_panel()
    with pytest.raises(ValueError, match="gamma"):
        panel.run(ReinforceConfig(gamma=2.0))
    assert not panel.train_button.disabled


def test_snapshot_is_the_current_plot_as_a_static_high_resolution_png():
    panel = _small_panel()
    empty = panel.snapshot()
    panel.run()
    after = panel.snapshot()
    assert empty.data.startswith(PNG) and after.data.startswith(PNG) and after.data != empty.data
    width, height = _png_size(after.data)
    live_width, live_height = _png_size(bytes(panel.image.value))
    assert width >= 1.8 * live_width and height >= 1.8 * live_height  # 200 dpi against 100
    from IPython.core.formatters import DisplayFormatter
    data, metadata = DisplayFormatter().format(after)
    assert "image/png" in data                      # a notebook stores it as a plain picture
    assert metadata["image/png"]["width"] == width // 2   # shown at the live size, sharp on fine screens


@pytest.mark.slow
def test_acrobot_learns_with_its_settings_for_every_seed():
    """The panel's Acrobot-v1 settings reach the reward threshold -100 within the step budget."""
    reached = []
    for seed in range(6):
        panel = TrainingPanel(config=ReinforceConfig(max_seconds=3600.0))  # the step budget, not the clock
        panel.controls["env_id"].value = "Acrobot-v1"
        panel.controls["seed"].value = seed
        result = panel.run()
        reached.append((panel.runs[0]["outcome"], result.env_steps))
    assert all(outcome == "threshold" for outcome, _ in reached), reached


def test_replay_control_plays_the_selected_runs_latest_policy():
    panel = _small_panel()
    assert panel.replay_button.disabled and panel.replay_choice.options == ()
    assert panel.replay_image.layout.display == "none"  # no empty image (a broken-image icon) before a replay
    with pytest.raises(ValueError, match="run_number"):
        panel.replay(run_number=1)
    result = panel.run()
    assert panel.replay_choice.value == 1 and not panel.replay_button.disabled
    panel.replay_button.click()  # what a reader does: the button replays the selected run
    assert panel.replay_image.layout.display != "none" and panel.replay_image.layout.width.endswith("px")
    episode = panel.last_replay
    expected = pgbook.replay.record_episode("CartPole-v1", result.policy, result.theta,
                                            seed=panel.controls["seed"].value)
    assert np.array_equal(episode.states, expected.states)  # the run's latest policy, the seed box
    frames = panel.replay_frames
    assert len(frames) == min(panel.REPLAY_FRAMES, episode.length + 1)
    assert all(f.startswith(PNG) for f in frames) and len({_png_size(f) for f in frames}) == 1
    assert panel.replay_slider.max == panel.replay_play.max == len(frames) - 1
    assert panel.replay_image.value == frames[0]
    panel.replay_slider.value = len(frames) - 1  # the slider (and the Play button linked to it) steps frames
    assert panel.replay_image.value == frames[-1] != frames[0]
    assert f"{episode.length} steps" in panel.replay_status.value
    second = panel.run()
    assert panel.replay_choice.value == 2  # a run that just finished is the one offered for replay
    label = panel.replay_choice.options[0][0]  # plain text, without TeX: the run's weight reads Gₜ − b
    assert "Gₜ − b" in label and not any(tex in label for tex in ("$", "G_t", "\\"))
    panel.replay_choice.value = 1
    panel.replay_button.click()
    assert panel.last_replay.length > 0 and "run #1" in panel.replay_status.value
    assert second.theta is not None
    panel.clear()
    assert panel.replay_button.disabled and panel.replay_choice.options == ()


def test_the_trainer_dropdown_runs_ppo_and_the_actor_critic():
    from pgbook.actor_critic import ActorCriticConfig
    from pgbook.ppo import PPOConfig
    panel = _small_panel()
    assert list(panel.controls["trainer"].options) == ["REINFORCE", "actor-critic", "PPO"]
    assert not panel.controls["baseline"].disabled
    panel.controls["trainer"].value = "PPO"
    cfg = panel.config()
    assert type(cfg) is PPOConfig and cfg.max_env_steps == 10_000 and cfg.seed == pgbook.book_seed()
    for name in ("learning_rate", "gamma", "batch_episodes"):   # PPO's own defaults, loaded
        assert getattr(cfg, name) == getattr(PPOConfig(), name), name
    assert panel.controls["baseline"].disabled and "PPO" in panel.status.value
    result = panel.run()
    assert "approx_kl" in result.history[0] and type(panel.runs[0]["config"]) is PPOConfig
    assert panel.runs[0]["label"].startswith("#1 PPO, GAE λ = 0.9, ξ = 0.2")
    panel.controls["trainer"].value = "actor-critic"
    panel.run()
    assert type(panel.runs[1]["config"]) is ActorCriticConfig
    assert "explained_variance" in panel.runs[1]["result"].history[0]
    labels = [t.get_text() for t in panel._fig.legends[0].get_texts()]
    assert labels[0].startswith(r"#1 PPO, GAE $\lambda$ = 0.9") and labels[1].startswith("#2 actor-critic")
    panel.controls["trainer"].value = "REINFORCE"
    assert not panel.controls["baseline"].disabled
    assert type(panel.config()) is ReinforceConfig
    assert panel.config().learning_rate == ENV_DEFAULTS["CartPole-v1"]["learning_rate"]


def test_switching_trainer_keeps_the_starting_configs_hidden_settings():
    from pgbook.ppo import PPOConfig
    panel = TrainingPanel(config=ReinforceConfig(max_episode_steps=200, hidden=32, init_scale=0.1))
    panel.controls["trainer"].value = "PPO"
    config = panel.config()
    assert isinstance(config, PPOConfig)
    assert (config.max_episode_steps, config.hidden, config.init_scale) == (200, 32, 0.1)


def test_a_config_of_another_trainer_is_refused_by_type():
    from pgbook.natural import NaturalConfig
    with pytest.raises(TypeError, match="config must be one of"):
        TrainingPanel(config=NaturalConfig())
    with pytest.raises(TypeError, match="config must be a ReinforceConfig"):
        estimator_label(NaturalConfig())
