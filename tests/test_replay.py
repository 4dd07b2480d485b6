"""pgbook.replay: recording is reproducible, frames show the state they are given, the two forms."""
from __future__ import annotations

import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

matplotlib.use("Agg")

from pgbook import envs, replay as rp  # noqa: E402
from pgbook.policies import LinearGaussian, LinearSoftmax, TabularSoftmax  # noqa: E402

UNIFORM_CARTPOLE = (LinearSoftmax(4, 2), np.zeros((5, 2)))


def _cartpole(seed=3):
    return rp.record_episode("CartPole-v1", *UNIFORM_CARTPOLE, seed=seed)


def test_same_seed_same_replay_and_another_seed_another():
    a, b, c = _cartpole(3), _cartpole(3), _cartpole(4)
    for name in ("states", "actions", "rewards"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.states[0], c.states[0])


def test_cartpole_replay_is_the_environments_own_episode():
    r = _cartpole()
    assert r.states.shape == (r.length + 1, 4)
    assert r.total == r.length  # +1 per step
    assert r.terminated and not r.truncated
    x, theta = r.states[-1, 0], r.states[-1, 2]
    assert abs(theta) > 12 * 2 * np.pi / 360 or abs(x) > 2.4  # why CartPole ended it
    assert np.array_equal(r.returns_so_far, np.arange(r.length + 1))


@pytest.mark.parametrize("theta", [-0.4, -0.1, 0.0, 0.2, 0.7])
def test_drawn_pole_angle_and_cart_position_equal_the_state(theta):
    fig, ax = plt.subplots()
    scene = rp.draw_frame(ax, "CartPole-v1", [0.8, 0.0, theta, 0.0])
    (x0, x1), (y0, y1) = scene.artists["pole"].get_data()
    assert np.isclose(np.arctan2(x1 - x0, y1 - y0), theta)  # angle from upright, right positive
    assert np.isclose(x0, 0.8)
    cart = scene.artists["cart"]
    assert np.isclose(cart.get_x() + cart.get_width() / 2, 0.8)
    plt.close(fig)


def test_drawn_acrobot_links_follow_the_joint_angles():
    fig, ax = plt.subplots()
    t1, t2 = 0.3, -1.1
    scene = rp.draw_frame(ax, "Acrobot-v1", [t1, t2, 0.0, 0.0])
    xs, ys = scene.artists["links"].get_data()
    assert np.allclose([xs[1], ys[1]], [np.sin(t1), -np.cos(t1)])
    tip_height = -np.cos(t1) - np.cos(t1 + t2)  # what Acrobot compares with 1
    assert np.isclose(ys[2], tip_height)
    plt.close(fig)


def test_drawn_lake_and_corridor_put_the_agent_in_its_cell():
    fig, (a1, a2) = plt.subplots(1, 2)
    lake = rp.draw_frame(a1, "FrozenLake-v1", [6], history=[[0], [4], [5]])
    assert [float(v[0]) for v in lake.artists["agent"].get_data()] == [2.0, 1.0]  # cell 6: row 1, column 2
    assert list(lake.artists["path"].get_data()[0]) == [0, 0, 1, 2]
    corridor = rp.draw_frame(a2, envs.SHORT_CORRIDOR_ID, [2], history=[[0], [1], [0], [1]])
    assert float(corridor.artists["agent"].get_data()[0][0]) == 2.0
    assert "2, 2, 1, 0" in corridor.artists["visits"].get_text()
    plt.close(fig)


def test_tabular_and_gaussian_replays():
    lake = rp.record_episode("FrozenLake-v1", TabularSoftmax(16, 4), np.zeros((16, 4)), seed=0)
    assert lake.context["desc"][0] == "SFFF" and lake.states[0, 0] == 0
    assert set(np.unique(lake.states)) <= set(range(16))
    lq = rp.record_episode(envs.LINEAR_QUADRATIC_ID, LinearGaussian(1, 1), np.array([[-0.6], [0.0], [-3.0]]),
                           seed=1, greedy=True)
    assert lq.length == envs.LINEAR_QUADRATIC_MAX_STEPS and lq.truncated
    assert np.allclose(lq.actions, -0.6 * lq.states[:-1, 0])  # greedy: the mean action -k s
    corridor = rp.record_episode(envs.SHORT_CORRIDOR_ID, TabularSoftmax(1, 2), np.array([[0.0, 30.0]]), seed=0)
    assert corridor.truncated and corridor.length == envs.SHORT_CORRIDOR_MAX_STEPS  # always right: stuck
    assert set(corridor.states[:, 0]) == {0.0, 1.0}


def test_filmstrip_layout_and_titles():
    r = _cartpole()
    fig = rp.filmstrip(r, n_frames=6)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6
    steps = [int(re.match(r"step (\d+), return", ax.get_title()).group(1)) for ax in axes]
    assert steps[0] == 0 and steps[-1] == r.length and steps == sorted(steps)
    for ax, t in zip(axes, steps):
        assert ax.get_title() == f"step {t}, return {t}"
    plt.close(fig)
    short = rp.filmstrip(rp.record_episode("CartPole-v1", *UNIFORM_CARTPOLE, seed=3, max_steps=2), n_frames=6)
    assert len([ax for ax in short.axes if ax.get_visible()]) == 3  # never more frames than states
    plt.close(short)


def test_animation_html_is_offline_light_and_labelled():
    r = _cartpole()
    markup, size = rp.animation_html(r, alt="A uniform policy lets the pole fall.", max_frames=8)
    assert size == len(markup.encode()) and size < 150_000
    assert markup.count("data:image/png;base64") == min(8, r.length + 1)
    assert 'aria-label="A uniform policy lets the pole fall."' in markup
    assert re.search(r'<img id="_anim_img\w+" alt="A uniform', markup)
    assert "font-awesome" not in markup and "https://" not in markup  # no outside request


def test_bad_input_names_the_argument():
    policy, theta = UNIFORM_CARTPOLE
    with pytest.raises(ValueError, match="env_id"):
        rp.record_episode("MountainCar-v0", policy, theta, seed=0)
    with pytest.raises(TypeError, match="env_id"):
        rp.record_episode(3, policy, theta, seed=0)
    with pytest.raises(ValueError, match="seed"):
        rp.record_episode("CartPole-v1", policy, theta, seed=-1)
    with pytest.raises(TypeError, match="policy"):
        rp.record_episode("CartPole-v1", "uniform", theta, seed=0)
    with pytest.raises(ValueError, match="theta"):
        rp.record_episode("CartPole-v1", policy, np.zeros((4, 2)), seed=0)
    with pytest.raises(ValueError, match="max_steps"):
        rp.record_episode("CartPole-v1", policy, theta, seed=0, max_steps=0)
    with pytest.raises(TypeError, match="replay"):
        rp.filmstrip("not a replay")
    with pytest.raises(ValueError, match="alt"):
        rp.animation_html(_cartpole(), alt=" ")
    with pytest.raises(ValueError, match="n_frames"):
        rp.filmstrip(_cartpole(), n_frames=0)
