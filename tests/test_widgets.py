"""The TrainingPanel driven without a browser: set values, run, read results."""
from __future__ import annotations

import time

import numpy as np
import pytest

import pgbook
from pgbook.reinforce import ReinforceConfig
from pgbook.widgets import TrainingPanel

PNG = b"\x89PNG\r\n\x1a\n"


def _small_panel(**kw):
    panel = TrainingPanel(**kw)
    panel.controls["max_env_steps"].value = 10_000
    panel.controls["seed"].value = pgbook.book_seed()
    return panel


def test_controls_make_the_config():
    panel = _small_panel()
    panel.controls["learning_rate"].value = 0.01
    panel.controls["baseline"].value = "batch-mean"
    panel.controls["reward_to_go"].value = False
    panel.controls["batch_episodes"].value = 8
    cfg = panel.config()
    assert (cfg.learning_rate, cfg.baseline, cfg.reward_to_go, cfg.batch_episodes) == (0.01, "batch-mean", False, 8)
    assert cfg.max_env_steps == 10_000 and cfg.seed == pgbook.book_seed() and cfg.progress is False


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
    assert run["first_point_seconds"] is not None and run["first_point_seconds"] < 5.0
    assert panel.progress.value == 1.0 and "iterations" in panel.status.value
    panel.controls["learning_rate"].value = 0.05
    panel.run()
    assert len(panel.runs) == 2 and panel.runs[1]["config"].learning_rate == 0.05
    assert len(panel._ax.get_lines()) == 2  # both curves on the one figure
    panel.clear()
    assert panel.runs == [] and len(panel._ax.get_lines()) == 0


def test_stop_ends_a_background_run():
    panel = _small_panel()
    panel.controls["max_env_steps"].value = 1_000_000
    panel.controls["stop_at_target"].value = False
    panel.start()
    t0 = time.perf_counter()
    while panel.stop_button.disabled and time.perf_counter() - t0 < 5:  # wait until it runs
        time.sleep(0.01)
    time.sleep(0.2)
    panel.stop()
    panel.wait(timeout=10)
    assert len(panel.runs) == 1
    result = panel.runs[0]["result"]
    assert result.status == "callback" and result.env_steps < 1_000_000
    assert "stopped" in panel.status.value and panel.train_button.disabled is False


def test_divergence_is_reported_in_the_status_line_and_nothing_non_finite_is_drawn():
    panel = _small_panel()
    cfg = panel.config().replace(learning_rate=1e308)
    with pytest.warns(UserWarning, match="learning_rate"):
        result = panel.run(cfg)
    assert result.diverged and "lower learning_rate" in panel.status.value
    for line in panel._ax.get_lines():
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


def test_snapshot_is_the_current_plot_as_a_static_png():
    panel = _small_panel()
    empty = panel.snapshot()
    panel.run()
    after = panel.snapshot()
    assert empty.data.startswith(PNG) and after.data.startswith(PNG)
    assert after.data == panel.image.value and after.data != empty.data   # it shows the run just drawn
    from IPython.core.formatters import DisplayFormatter
    data, _ = DisplayFormatter().format(after)
    assert "image/png" in data                     # a notebook stores it as a plain picture
