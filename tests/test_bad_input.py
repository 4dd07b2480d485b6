"""Bad input to the public API is refused with a clear error; nothing fails silently.

The project rule: a bad argument raises a ``ValueError`` or a ``TypeError`` whose message names
the argument and what was expected (a wrong *type* raises ``pgbook._validate.ArgumentTypeError``,
which is both; a NaN where a finite number is needed raises ``NonFiniteError``, a ValueError);
a run that diverges or collapses stops, warns and says what to change.  ``BAD_CALLS`` is the
table of bad calls: each row gives the call, the exception type it must raise and a fragment of
the message (the argument's name) that must appear in it.  The last tests check the collapse
detection of the two REINFORCE trainers.
"""
from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest

import pgbook
from pgbook import (baselines, envs, es, estimator_moments, estimators, mdp, optim, pathwise, policies, quadrature,
                    signals, vi)
from pgbook._validate import ArgumentTypeError, NonFiniteError
from pgbook.mlp import MLPSoftmax
from pgbook.training import CollapseWatch, TrainingCollapsedWarning
from pgbook.experiments import time_to_solve, train_many
from pgbook.reinforce import ReinforceConfig, train, train_tabular
from pgbook.rollout import collect_episodes, evaluate, make_envs

NAN, INF = float("nan"), float("inf")
TINY = dict(max_iterations=2, batch_episodes=4, progress=False)

TAB = policies.TabularSoftmax(2, 2)
LIN = policies.LinearSoftmax(4, 2)
GAUSS = policies.LinearGaussian(1, 1)
NET = MLPSoftmax(4, 2, hidden=3)
TINY_MDP = mdp.tiny_mdp()
UNIFORM = np.full((2, 2), 0.5)
Z2 = np.zeros((2, 2))
TINY_ENUM = mdp.enumerate_trajectories(TINY_MDP, UNIFORM)


def _rng():
    return np.random.default_rng(0)


def _with_envs(fn):
    """Call ``fn(envs)`` on two CartPoles and close them whatever happens."""
    vec = make_envs("CartPole-v1", 2)
    try:
        return fn(vec)
    finally:
        vec.close()


def _mdp(**changes):
    fields = dict(P=TINY_MDP.P, R=TINY_MDP.R, mu0=TINY_MDP.mu0, gamma=0.9, horizon=3)
    fields.update(changes)
    return mdp.TabularMDP(**fields)


def _tiny_result():
    return train(ReinforceConfig(max_iterations=1, batch_episodes=2, progress=False))


# (id, call, expected exception type, fragment of the message that names the argument)
BAD_CALLS = [
    # ---------------------------------------------------------------- seeding
    ("make_rng float stream", lambda: pgbook.make_rng(1.5), TypeError, "stream"),
    ("make_rng integral float stream", lambda: pgbook.make_rng(1.0), TypeError, "stream"),
    ("make_rng negative stream", lambda: pgbook.make_rng(-1), ValueError, "stream"),
    ("make_rng text stream", lambda: pgbook.make_rng("0"), TypeError, "stream"),
    ("make_rng bool stream", lambda: pgbook.make_rng(True), TypeError, "stream"),
    ("make_rng None stream", lambda: pgbook.make_rng(None), TypeError, "stream"),
    # ---------------------------------------------------------------- softmax
    ("softmax NaN", lambda: policies.softmax([NAN, 1.0]), ValueError, "logits"),
    ("softmax +inf", lambda: policies.softmax([INF, 1.0]), ValueError, "logits"),
    ("softmax row of -inf", lambda: policies.softmax([-INF, -INF]), ValueError, "logits"),
    ("softmax empty", lambda: policies.softmax([]), ValueError, "logits"),
    ("softmax no actions", lambda: policies.softmax(np.zeros((3, 0))), ValueError, "logits"),
    ("softmax scalar", lambda: policies.softmax(1.0), ValueError, "logits"),
    ("softmax text", lambda: policies.softmax(["a", "b"]), TypeError, "logits"),
    ("softmax complex", lambda: policies.softmax([1 + 1j, 0.0]), TypeError, "logits"),
    ("log_softmax NaN", lambda: policies.log_softmax([NAN]), ValueError, "logits"),
    ("log_softmax None", lambda: policies.log_softmax([None, 1.0]), TypeError, "logits"),
    # ---------------------------------------------------------------- policies
    ("TabularSoftmax zero states", lambda: policies.TabularSoftmax(0, 2), ValueError, "n_states"),
    ("TabularSoftmax float states", lambda: policies.TabularSoftmax(2.5, 2), TypeError, "n_states"),
    ("TabularSoftmax text actions", lambda: policies.TabularSoftmax(2, "2"), TypeError, "n_actions"),
    ("tabular theta shape", lambda: TAB.probs(np.zeros((3, 2)), [0]), ValueError, "theta"),
    ("tabular theta complex", lambda: TAB.probs(Z2 + 1j, [0]), TypeError, "theta"),
    ("tabular theta text", lambda: TAB.probs([["0", "1"], ["0", "0"]], [0]), TypeError, "theta"),
    ("tabular theta NaN", lambda: TAB.probs([[NAN, 0], [0, 0]], [0]), ValueError, "theta"),
    ("tabular theta None", lambda: TAB.probs(None, [0]), TypeError, "theta"),
    ("tabular theta ragged", lambda: TAB.probs([[0.0, 1.0], [0.0]], [0]), ValueError, "theta"),
    ("tabular state out of range", lambda: TAB.probs(Z2, [2]), ValueError, "states"),
    ("tabular float state", lambda: TAB.probs(Z2, [0.5]), ValueError, "states"),
    ("tabular action out of range", lambda: TAB.log_prob(Z2, [0], [5]), ValueError, "actions"),
    ("tabular action shape", lambda: TAB.log_prob(Z2, [0, 1], [0]), ValueError, "actions"),
    ("tabular sample int rng", lambda: TAB.sample(Z2, [0], 0), TypeError, "rng"),
    ("tabular sample legacy rng", lambda: TAB.sample(Z2, [0], np.random.RandomState(0)), TypeError, "rng"),
    ("init_theta negative scale", lambda: TAB.init_theta(_rng(), scale=-1.0), ValueError, "scale"),
    ("init_theta text scale", lambda: TAB.init_theta(_rng(), scale="big"), TypeError, "scale"),
    ("init_theta NaN scale", lambda: TAB.init_theta(_rng(), scale=NAN), ValueError, "scale"),
    ("init_theta int rng", lambda: TAB.init_theta(1, scale=1.0), TypeError, "rng"),
    ("init_theta random without rng", lambda: TAB.init_theta(scale=1.0), TypeError, "rng"),
    ("LinearSoftmax text bias", lambda: policies.LinearSoftmax(4, 2, bias="yes"), TypeError, "bias"),
    ("LinearSoftmax obs shape", lambda: LIN.probs(np.zeros((5, 2)), np.zeros((3, 3))), ValueError, "obs"),
    ("LinearSoftmax obs NaN", lambda: LIN.probs(np.zeros((5, 2)), [[NAN, 0, 0, 0]]), ValueError, "obs"),
    ("LinearSoftmax obs text", lambda: LIN.probs(np.zeros((5, 2)), [["a"] * 4]), TypeError, "obs"),
    ("LinearSoftmax theta shape", lambda: LIN.probs(np.zeros((4, 2)), np.zeros((1, 4))), ValueError, "theta"),
    ("LinearGaussian zero obs_dim", lambda: policies.LinearGaussian(0, 1), ValueError, "obs_dim"),
    ("LinearGaussian actions shape", lambda: GAUSS.log_prob(np.zeros((3, 1)), np.zeros((2, 1)), np.zeros(2)),
     ValueError, "actions"),
    ("LinearGaussian actions NaN", lambda: GAUSS.log_prob(np.zeros((3, 1)), np.zeros((1, 1)), [[NAN]]),
     ValueError, "actions"),
    ("LinearGaussian sample no rng", lambda: GAUSS.sample(np.zeros((3, 1)), np.zeros((1, 1)), None),
     TypeError, "rng"),
    # ---------------------------------------------------------------- MLP policy
    ("MLP zero hidden", lambda: MLPSoftmax(4, 2, hidden=0), ValueError, "hidden"),
    ("MLP float hidden", lambda: MLPSoftmax(4, 2, hidden=2.0), TypeError, "hidden"),
    ("MLP theta shape", lambda: NET.probs(np.zeros(3), np.zeros((1, 4))), ValueError, "theta"),
    ("MLP theta complex", lambda: NET.probs(np.zeros(NET.n_params) + 1j, np.zeros((1, 4))), TypeError, "theta"),
    ("MLP theta NaN", lambda: NET.probs(np.full(NET.n_params, NAN), np.zeros((1, 4))), ValueError, "theta"),
    ("MLP obs shape", lambda: NET.probs(np.zeros(NET.n_params), np.zeros((1, 3))), ValueError, "obs"),
    ("MLP obs NaN", lambda: NET.probs(np.zeros(NET.n_params), [[NAN, 0, 0, 0]]), ValueError, "obs"),
    ("MLP init text rng", lambda: NET.init_theta("seed"), TypeError, "rng"),
    ("MLP init without rng", lambda: NET.init_theta(None), TypeError, "rng"),
    ("MLP init negative scale", lambda: NET.init_theta(_rng(), scale=-1.0), ValueError, "scale"),
    ("MLP pack wrong size", lambda: NET.pack(np.zeros(3), np.zeros(3), np.zeros(6), np.zeros(2)), ValueError, "W1"),
    ("MLP weights shape", lambda: NET.weighted_score_sum(np.zeros(NET.n_params), np.zeros((2, 4)), [0, 1],
                                                         weights=np.ones(3)), ValueError, "weights"),
    # ---------------------------------------------------------------- optimisers
    ("Adam NaN grad", lambda: optim.Adam(2, 0.1).step([NAN, 1.0]), ValueError, "grad"),
    ("SGD NaN grad", lambda: optim.SGD(2, 0.1).step([NAN, 1.0]), ValueError, "grad"),
    ("SGD inf grad", lambda: optim.SGD(2, 0.1, momentum=0.5).step([INF, 1.0]), ValueError, "grad"),
    ("SGD grad shape", lambda: optim.SGD(2, 0.1).step(np.ones(3)), ValueError, "grad"),
    ("SGD grad that would broadcast", lambda: optim.SGD((2, 2), 0.1).step(np.ones(2)), ValueError, "grad"),
    ("Adam grad shape", lambda: optim.Adam((2, 2), 0.1).step(np.ones(4)), ValueError, "grad"),
    ("Adam complex grad", lambda: optim.Adam(2, 0.1).step([1j, 0.0]), TypeError, "grad"),
    ("Adam text grad", lambda: optim.Adam(2, 0.1).step(["1", "2"]), TypeError, "grad"),
    ("SGD zero learning rate", lambda: optim.SGD(2, 0.0), ValueError, "learning_rate"),
    ("SGD negative learning rate", lambda: optim.SGD(2, -0.1), ValueError, "learning_rate"),
    ("SGD NaN learning rate", lambda: optim.SGD(2, NAN), ValueError, "learning_rate"),
    ("SGD text learning rate", lambda: optim.SGD(2, "0.1"), TypeError, "learning_rate"),
    ("SGD bool learning rate", lambda: optim.SGD(2, True), TypeError, "learning_rate"),
    ("SGD momentum 1", lambda: optim.SGD(2, 0.1, momentum=1.0), ValueError, "momentum"),
    ("SGD text momentum", lambda: optim.SGD(2, 0.1, momentum="x"), TypeError, "momentum"),
    ("Adam beta1 1", lambda: optim.Adam(2, 0.1, beta1=1.0), ValueError, "beta1"),
    ("Adam negative beta2", lambda: optim.Adam(2, 0.1, beta2=-0.1), ValueError, "beta2"),
    ("Adam zero eps", lambda: optim.Adam(2, 0.1, eps=0.0), ValueError, "eps"),
    ("Adam text shape", lambda: optim.Adam("2", 0.1), ValueError, "shape"),
    ("Adam negative shape", lambda: optim.Adam(-1, 0.1), ValueError, "shape"),
    ("Adam None shape", lambda: optim.Adam(None, 0.1), TypeError, "shape"),
    ("make_optimiser unknown", lambda: optim.make_optimiser("rmsprop", 2, 0.1), ValueError, "optimiser"),
    # ---------------------------------------------------------------- Part II: ES, VI, quadrature, pathwise
    ("ESConfig text sigma", lambda: es.ESConfig(sigma="0.1"), TypeError, "sigma"),
    ("ESConfig odd antithetic population", lambda: es.ESConfig(population=7), ValueError, "population"),
    ("ESConfig bool max_iterations", lambda: es.ESConfig(max_iterations=True), TypeError, "max_iterations"),
    ("ESConfig unknown optimiser", lambda: es.ESConfig(optimiser="rmsprop"), ValueError, "optimiser"),
    ("ESConfig None maximise", lambda: es.ESConfig(maximise=None), TypeError, "maximise"),
    ("ESConfig NaN target", lambda: es.ESConfig(target=NAN), ValueError, "target"),
    ("ESConfig sigma_decay above 1", lambda: es.ESConfig(sigma_decay=1.5), ValueError, "sigma_decay"),
    ("optimise NaN theta0", lambda: es.optimise(es.rosenbrock, [NAN, 0.0], _rng()), ValueError, "theta0"),
    ("optimise int rng", lambda: es.optimise(es.rosenbrock, np.zeros(2), 0), TypeError, "rng"),
    ("optimise dict config", lambda: es.optimise(es.rosenbrock, np.zeros(2), _rng(), {}), TypeError, "config"),
    ("optimise text objective", lambda: es.optimise("rosenbrock", np.zeros(2), _rng()), TypeError, "f must"),
    ("VIConfig unknown estimator", lambda: vi.VIConfig(estimator="magic"), ValueError, "estimator"),
    ("VIConfig float n_samples", lambda: vi.VIConfig(n_samples=3.0), TypeError, "n_samples"),
    ("VIConfig momentum 1", lambda: vi.VIConfig(momentum=1.0), ValueError, "momentum"),
    ("VIConfig text learning rate", lambda: vi.VIConfig(learning_rate="fast"), TypeError, "learning_rate"),
    ("vi.fit no rng", lambda: vi.fit(vi.DiscreteSourceModel([0.0], [0.0, 1.0]), None), TypeError, "rng"),
    ("gaussian_expectation zero sigma", lambda: quadrature.gaussian_expectation(np.cos, 0.0, 0.0), ValueError,
     "sigma"),
    ("gaussian_expectation text mu", lambda: quadrature.gaussian_expectation(np.cos, "0"), TypeError, "mu"),
    ("gauss_hermite float order", lambda: quadrature.gauss_hermite(3.0), TypeError, "order"),
    ("estimator_moments unknown cost", lambda: estimator_moments.estimator_moments("cubic", 1.0), ValueError, "cost"),
    ("estimator_moments text k", lambda: estimator_moments.estimator_moments("quadratic", "1"), TypeError, "k"),
    ("pathwise text grad_f", lambda: pathwise.pathwise_samples(pgbook.distributions.Gaussian(0.0), "f", 3, _rng()),
     TypeError, "grad_f"),
    ("sample_categorical no rng", lambda: policies.sample_categorical(UNIFORM, None), TypeError, "rng"),
    # ---------------------------------------------------------------- tabular MDPs
    ("MDP P not normalised", lambda: _mdp(P=TINY_MDP.P * 0.5), ValueError, "P"),
    ("MDP P wrong ndim", lambda: _mdp(P=np.ones((2, 2))), ValueError, "P"),
    ("MDP P complex", lambda: _mdp(P=TINY_MDP.P + 0j), TypeError, "P"),
    ("MDP R shape", lambda: _mdp(R=np.zeros((2, 2))), ValueError, "R"),
    ("MDP R NaN", lambda: _mdp(R=np.full((2, 2, 2), NAN)), ValueError, "R"),
    ("MDP mu0 negative", lambda: _mdp(mu0=[1.5, -0.5]), ValueError, "mu0"),
    ("MDP gamma above 1", lambda: _mdp(gamma=1.5), ValueError, "gamma"),
    ("MDP gamma NaN", lambda: _mdp(gamma=NAN), ValueError, "gamma"),
    ("MDP gamma text", lambda: _mdp(gamma="0.9"), TypeError, "gamma"),
    ("MDP gamma bool", lambda: _mdp(gamma=True), TypeError, "gamma"),
    ("MDP zero horizon", lambda: _mdp(horizon=0), ValueError, "horizon"),
    ("MDP float horizon", lambda: _mdp(horizon=2.5), TypeError, "horizon"),
    ("MDP terminal not boolean", lambda: _mdp(terminal=[0, 2]), ValueError, "terminal"),
    ("MDP name not text", lambda: _mdp(name=3), TypeError, "name"),
    ("MDP replace unknown field", lambda: TINY_MDP.replace(gama=0.5), ValueError, "gama"),
    ("tiny_mdp negative gamma", lambda: mdp.tiny_mdp(gamma=-0.1), ValueError, "gamma"),
    ("J_exact pi not normalised", lambda: mdp.J_exact(TINY_MDP, np.ones((2, 2))), ValueError, "pi"),
    ("J_exact pi shape", lambda: mdp.J_exact(TINY_MDP, np.full((3, 2), 0.5)), ValueError, "pi"),
    ("J_exact pi complex", lambda: mdp.J_exact(TINY_MDP, UNIFORM + 0j), TypeError, "pi"),
    ("J_exact pi NaN", lambda: mdp.J_exact(TINY_MDP, [[NAN, 0.5], [0.5, 0.5]]), ValueError, "pi"),
    ("J_exact not an MDP", lambda: mdp.J_exact("tiny", UNIFORM), TypeError, "mdp"),
    ("grad_J_exact complex theta", lambda: mdp.grad_J_exact(TINY_MDP, TAB, Z2 + 1j), TypeError, "theta"),
    ("grad_J_exact text theta", lambda: mdp.grad_J_exact(TINY_MDP, TAB, [["0", "1"], ["0", "0"]]),
     TypeError, "theta"),
    ("grad_J_exact NaN theta", lambda: mdp.grad_J_exact(TINY_MDP, TAB, [[NAN, 0], [0, 0]]), ValueError, "theta"),
    ("grad_J_exact theta shape", lambda: mdp.grad_J_exact(TINY_MDP, TAB, np.zeros(4)), ValueError, "theta"),
    ("grad_J_exact not a policy", lambda: mdp.grad_J_exact(TINY_MDP, "softmax", Z2), TypeError, "policy"),
    ("grad_J_exact text flag", lambda: mdp.grad_J_exact(TINY_MDP, TAB, Z2, discount_weighting="yes"),
     TypeError, "discount_weighting"),
    ("policy_table complex theta", lambda: mdp.policy_table(TINY_MDP, TAB, Z2 + 1j), TypeError, "theta"),
    ("sample_trajectories n 0", lambda: mdp.sample_trajectories(TINY_MDP, TAB, Z2, 0, _rng()), ValueError, "n"),
    ("sample_trajectories int rng", lambda: mdp.sample_trajectories(TINY_MDP, TAB, Z2, 5, 42), TypeError, "rng"),
    ("sample_trajectories complex theta", lambda: mdp.sample_trajectories(TINY_MDP, TAB, Z2 + 1j, 5, _rng()),
     TypeError, "theta"),
    ("enumerate max_trajectories 0", lambda: mdp.enumerate_trajectories(TINY_MDP, UNIFORM, max_trajectories=0),
     ValueError, "max_trajectories"),
    ("enumerate horizon too long", lambda: mdp.enumerate_trajectories(mdp.tiny_mdp(horizon=12), UNIFORM),
     ValueError, "horizon"),
    ("expectation values shape", lambda: mdp.enumerate_trajectories(TINY_MDP, UNIFORM).expectation(np.ones(3)),
     ValueError, "values"),
    ("log_prob_trajectory not a batch", lambda: mdp.log_prob_trajectory(TINY_MDP, TAB, Z2, "traj"),
     TypeError, "traj"),
    ("frozen_lake unknown map", lambda: mdp.frozen_lake_mdp("5x5"), ValueError, "map_name"),
    ("frozen_lake text flag", lambda: mdp.frozen_lake_mdp(is_slippery="no"), TypeError, "is_slippery"),
    ("optimal_values not an MDP", lambda: mdp.optimal_values({"P": 1}), TypeError, "mdp"),
    ("gymnasium_returns no rng", lambda: mdp.gymnasium_returns(None, TAB, Z2, 2, 0.9, None), TypeError, "rng"),
    ("gymnasium_returns not an env", lambda: mdp.gymnasium_returns("FrozenLake-v1", TAB, Z2, 2, 0.9, _rng()),
     TypeError, "env"),
    # ---------------------------------------------------------------- the book's environments
    ("short_corridor_optimum tiny tol", lambda: envs.short_corridor_optimum(tol=1e-17), ValueError, "tol"),
    ("short_corridor_optimum zero tol", lambda: envs.short_corridor_optimum(tol=0.0), ValueError, "tol"),
    ("short_corridor_optimum text tol", lambda: envs.short_corridor_optimum(tol="small"), TypeError, "tol"),
    ("short_corridor_optimum gamma", lambda: envs.short_corridor_optimum(gamma=2.0), ValueError, "gamma"),
    ("short_corridor_optimum horizon", lambda: envs.short_corridor_optimum(horizon=0), ValueError, "horizon"),
    ("short_corridor_value p above 1", lambda: envs.short_corridor_value(1.5), ValueError, "p_right"),
    ("short_corridor_value p NaN", lambda: envs.short_corridor_value(NAN), ValueError, "p_right"),
    ("short_corridor_value p complex", lambda: envs.short_corridor_value(0.5 + 0.1j), TypeError, "p_right"),
    ("short_corridor_value float horizon", lambda: envs.short_corridor_value(0.5, horizon=2.5),
     TypeError, "horizon"),
    ("closed form p negative", lambda: envs.short_corridor_value_closed_form(-0.1), ValueError, "p_right"),
    ("transitions p text", lambda: envs.short_corridor_transitions("0.5"), TypeError, "p_right"),
    ("riccati f_a zero", lambda: envs.riccati_gain(f_a=0.0), ValueError, "f_a"),
    ("riccati c_s negative", lambda: envs.riccati_gain(c_s=-1.0), ValueError, "c_s"),
    ("riccati c_a zero", lambda: envs.riccati_gain(c_a=0.0), ValueError, "c_a"),
    ("riccati f_s NaN", lambda: envs.riccati_gain(f_s=NAN), ValueError, "f_s"),
    ("riccati f_s array", lambda: envs.riccati_gain(f_s=[1.0, 2.0]), ValueError, "f_s"),
    ("riccati negative tol", lambda: envs.riccati_gain(tol=-1.0), ValueError, "tol"),
    ("riccati max_iter 0", lambda: envs.riccati_gain(max_iter=0), ValueError, "max_iter"),
    ("riccati horizon 0", lambda: envs.riccati_gain(horizon=0), ValueError, "horizon"),
    ("riccati_value gamma", lambda: envs.riccati_value(gamma=1.5), ValueError, "gamma"),
    ("lq return k NaN", lambda: envs.lq_expected_return(NAN), ValueError, "k"),
    ("lq return negative sigma", lambda: envs.lq_expected_return(1.0, sigma=-1.0), ValueError, "sigma"),
    ("lq return text noise", lambda: envs.lq_expected_return(1.0, sigma_xi="x"), TypeError, "sigma_xi"),
    ("LQ env f_a zero", lambda: envs.LinearQuadraticEnv(f_a=0.0), ValueError, "f_a"),
    ("LQ env negative noise", lambda: envs.LinearQuadraticEnv(sigma_xi=-1.0), ValueError, "sigma_xi"),
    ("LQ env zero max_action", lambda: envs.LinearQuadraticEnv(max_action=0.0), ValueError, "max_action"),
    ("LQ env render mode", lambda: envs.LinearQuadraticEnv(render_mode="human"), ValueError, "render_mode"),
    ("LQ env via gymnasium.make", lambda: gymnasium.make(envs.LINEAR_QUADRATIC_ID, c_s=0.0), ValueError, "c_s"),
    ("corridor render mode", lambda: envs.ShortCorridorEnv(render_mode="rgb_array"), ValueError, "render_mode"),
    ("corridor vector 0 envs", lambda: envs.ShortCorridorVectorEnv(num_envs=0), ValueError, "num_envs"),
    # ---------------------------------------------------------------- REINFORCE configuration
    ("config env_id int", lambda: ReinforceConfig(env_id=3), TypeError, "env_id"),
    ("config env_id empty", lambda: ReinforceConfig(env_id=""), ValueError, "env_id"),
    ("config env_kwargs list", lambda: ReinforceConfig(env_kwargs=[1]), TypeError, "env_kwargs"),
    ("config policy unknown", lambda: ReinforceConfig(policy="cnn"), ValueError, "policy"),
    ("config policy None", lambda: ReinforceConfig(policy=None), TypeError, "policy"),
    ("config hidden 0", lambda: ReinforceConfig(hidden=0), ValueError, "hidden"),
    ("config hidden float", lambda: ReinforceConfig(hidden=1.5), TypeError, "hidden"),
    ("config init_scale text", lambda: ReinforceConfig(init_scale="abc"), TypeError, "init_scale"),
    ("config init_scale None", lambda: ReinforceConfig(init_scale=None), TypeError, "init_scale"),
    ("config init_scale negative", lambda: ReinforceConfig(init_scale=-1.0), ValueError, "init_scale"),
    ("config init_scale NaN", lambda: ReinforceConfig(init_scale=NAN), ValueError, "init_scale"),
    ("config learning_rate 0", lambda: ReinforceConfig(learning_rate=0.0), ValueError, "learning_rate"),
    ("config learning_rate inf", lambda: ReinforceConfig(learning_rate=INF), ValueError, "learning_rate"),
    ("config learning_rate text", lambda: ReinforceConfig(learning_rate="0.1"), TypeError, "learning_rate"),
    ("config optimiser unknown", lambda: ReinforceConfig(optimiser="rmsprop"), ValueError, "optimiser"),
    ("config gamma above 1", lambda: ReinforceConfig(gamma=1.5), ValueError, "gamma"),
    ("config gamma NaN", lambda: ReinforceConfig(gamma=NAN), ValueError, "gamma"),
    ("config gamma None", lambda: ReinforceConfig(gamma=None), TypeError, "gamma"),
    ("config batch_episodes 1", lambda: ReinforceConfig(batch_episodes=1), ValueError, "batch_episodes"),
    ("config batch_episodes float", lambda: ReinforceConfig(batch_episodes=2.0), TypeError, "batch_episodes"),
    ("config no batch size", lambda: ReinforceConfig(batch_episodes=None), ValueError, "batch_steps"),
    ("config batch_steps 0", lambda: ReinforceConfig(batch_episodes=None, batch_steps=0), ValueError, "batch_steps"),
    ("config num_envs 0", lambda: ReinforceConfig(num_envs=0), ValueError, "num_envs"),
    ("config reward_to_go None", lambda: ReinforceConfig(reward_to_go=None), TypeError, "reward_to_go"),
    ("config reward_to_go text", lambda: ReinforceConfig(reward_to_go="yes"), TypeError, "reward_to_go"),
    ("config discount_weighting int", lambda: ReinforceConfig(discount_weighting=1), TypeError,
     "discount_weighting"),
    ("config normalise_returns text", lambda: ReinforceConfig(normalise_returns="False"), TypeError,
     "normalise_returns"),
    ("config measure_variants None", lambda: ReinforceConfig(measure_variants=None), TypeError, "measure_variants"),
    ("config baseline unknown", lambda: ReinforceConfig(baseline="median"), ValueError, "baseline"),
    ("config seed negative", lambda: ReinforceConfig(seed=-1), ValueError, "seed"),
    ("config seed float", lambda: ReinforceConfig(seed=1.5), TypeError, "seed"),
    ("config seed text", lambda: ReinforceConfig(seed="0"), TypeError, "seed"),
    ("config seed bool", lambda: ReinforceConfig(seed=True), TypeError, "seed"),
    ("config max_iterations 0", lambda: ReinforceConfig(max_iterations=0), ValueError, "max_iterations"),
    ("config max_iterations float", lambda: ReinforceConfig(max_iterations=10.0), TypeError, "max_iterations"),
    ("config max_env_steps 0", lambda: ReinforceConfig(max_env_steps=0), ValueError, "max_env_steps"),
    ("config max_seconds negative", lambda: ReinforceConfig(max_seconds=-2.0), ValueError, "max_seconds"),
    ("config max_seconds NaN", lambda: ReinforceConfig(max_seconds=NAN), ValueError, "max_seconds"),
    ("config max_episode_steps 0", lambda: ReinforceConfig(max_episode_steps=0), ValueError, "max_episode_steps"),
    ("config vectorization_mode", lambda: ReinforceConfig(vectorization_mode="async?"), ValueError,
     "vectorization_mode"),
    ("config progress text", lambda: ReinforceConfig(progress="no"), TypeError, "progress"),
    ("config progress int", lambda: ReinforceConfig(progress=0), TypeError, "progress"),
    ("config replace unknown field", lambda: ReinforceConfig().replace(learning_rat=0.1), ValueError,
     "learning_rat"),
    ("config replace bad value", lambda: ReinforceConfig().replace(gamma=-1.0), ValueError, "gamma"),
    # ---------------------------------------------------------------- REINFORCE functions
    ("train unknown env", lambda: train(ReinforceConfig(env_id="NoSuchEnv-v9", **TINY)), ValueError, "env_id"),
    ("train unsupported space", lambda: train(ReinforceConfig(env_id="Blackjack-v1", **TINY)), ValueError,
     "observation space"),
    ("train config dict", lambda: train({"learning_rate": 0.1}), TypeError, "config"),
    ("train callback text", lambda: train(ReinforceConfig(**TINY), "print"), TypeError, "callback"),
    ("train bad override", lambda: train(ReinforceConfig(**TINY), gamma=2.0), ValueError, "gamma"),
    ("train_many float seed", lambda: train_many(ReinforceConfig(**TINY), seeds=[1.5]), TypeError, "seed"),
    ("train_many repeated seeds", lambda: train_many(ReinforceConfig(**TINY), seeds=[1, 1]), ValueError, "seeds"),
    ("train_many negative seed", lambda: train_many(ReinforceConfig(**TINY), seeds=[-1]), ValueError, "seed"),
    ("train_many seeds int", lambda: train_many(ReinforceConfig(**TINY), seeds=5), TypeError, "seeds"),
    ("train_many config dicts", lambda: train_many(configs=[{"seed": 1}]), TypeError, "configs"),
    ("evaluate float seed", lambda: evaluate(LIN, np.zeros((5, 2)), n_episodes=2, seed=1.5), TypeError, "seed"),
    ("evaluate negative seed", lambda: evaluate(LIN, np.zeros((5, 2)), n_episodes=2, seed=-1), ValueError, "seed"),
    ("evaluate text greedy", lambda: evaluate(LIN, np.zeros((5, 2)), n_episodes=2, greedy="yes"), TypeError,
     "greedy"),
    ("evaluate 0 episodes", lambda: evaluate(LIN, np.zeros((5, 2)), n_episodes=0), ValueError, "n_episodes"),
    ("evaluate theta shape", lambda: evaluate(LIN, np.zeros((4, 2)), n_episodes=2), ValueError, "theta"),
    ("evaluate complex theta", lambda: evaluate(LIN, np.zeros((5, 2)) + 1j, n_episodes=2), TypeError, "theta"),
    ("evaluate unknown env", lambda: evaluate(LIN, np.zeros((5, 2)), "NoSuchEnv-v9", 2), ValueError, "env_id"),
    ("evaluate policy name", lambda: evaluate("linear", np.zeros((5, 2)), n_episodes=2), TypeError, "policy"),
    ("make_envs 0 envs", lambda: make_envs("CartPole-v1", 0), ValueError, "num_envs"),
    ("make_envs int id", lambda: make_envs(42, 2), TypeError, "env_id"),
    ("make_envs mode", lambda: make_envs("CartPole-v1", 2, "async?"), ValueError, "vectorization_mode"),
    ("make_envs kwargs list", lambda: make_envs("CartPole-v1", 2, env_kwargs=[1]), TypeError, "env_kwargs"),
    ("collect_episodes int rng", lambda: _with_envs(lambda e: collect_episodes(e, LIN, np.zeros((5, 2)), 0, 2)),
     TypeError, "rng"),
    ("collect_episodes 0 episodes", lambda: _with_envs(lambda e: collect_episodes(e, LIN, np.zeros((5, 2)), _rng(), 0)),
     ValueError, "min_episodes"),
    ("collect_episodes NaN theta", lambda: _with_envs(lambda e: collect_episodes(e, LIN, np.full((5, 2), NAN), _rng(), 2)),
     ValueError, "theta"),
    ("time_to_solve NaN target", lambda: time_to_solve(ReinforceConfig(**TINY), target=NAN), ValueError, "target"),
    ("time_to_solve eval_seed", lambda: time_to_solve(ReinforceConfig(**TINY), eval_seed=-1), ValueError,
     "eval_seed"),
    ("time_to_solve n_eval 0", lambda: time_to_solve(ReinforceConfig(**TINY), n_eval=0), ValueError, "n_eval"),
    ("curve unknown metric", lambda: _tiny_result().curve("nope"), ValueError, "nope"),
    # ---------------------------------------------------------------- baselines and the tabular learner
    ("train_tabular no rng", lambda: train_tabular(TINY_MDP, None), TypeError, "rng"),
    ("train_tabular lr 0", lambda: train_tabular(TINY_MDP, _rng(), learning_rate=0.0),
     ValueError, "learning_rate"),
    ("train_tabular text lr", lambda: train_tabular(TINY_MDP, _rng(), learning_rate="fast"),
     TypeError, "learning_rate"),
    ("train_tabular bool baseline", lambda: train_tabular(TINY_MDP, _rng(), baseline=True),
     TypeError, "baseline"),
    ("train_tabular unknown baseline", lambda: train_tabular(TINY_MDP, _rng(), baseline="value"),
     ValueError, "baseline"),
    ("train_tabular not an MDP", lambda: train_tabular("lake", _rng()), TypeError, "mdp"),
    ("train_tabular 0 episodes", lambda: train_tabular(TINY_MDP, _rng(), batch_episodes=0),
     ValueError, "batch_episodes"),
    ("train_tabular 0 iterations", lambda: train_tabular(TINY_MDP, _rng(), max_iterations=0),
     ValueError, "max_iterations"),
    ("total_variance NaN", lambda: baselines.total_variance([[NAN], [1.0]]), ValueError, "samples"),
    ("total_variance one draw", lambda: baselines.total_variance(np.zeros((1, 3))), ValueError, "samples"),
    ("total_variance complex", lambda: baselines.total_variance(np.zeros((3, 2)) + 1j), TypeError, "samples"),
    ("total_variance prob sum", lambda: baselines.total_variance(np.zeros((2, 1)), prob=[0.5, 0.6]), ValueError,
     "prob"),
    ("one_hot state out of range", lambda: baselines.one_hot_features([0, 5], 3), ValueError, "states"),
    ("cartpole_features shape", lambda: baselines.cartpole_features(np.zeros((2, 3, 5))), ValueError, "obs"),
    ("fit_linear_value negative ridge", lambda: baselines.fit_linear_value(np.ones((2, 3, 1)), np.ones((2, 3)),
                                                                        np.ones((2, 3), bool), ridge=-1.0),
     ValueError, "ridge"),
    ("fit_linear_value text ridge", lambda: baselines.fit_linear_value(np.ones((2, 3, 1)), np.ones((2, 3)),
                                                                    np.ones((2, 3), bool), ridge="x"),
     TypeError, "ridge"),
    ("fit_linear_value empty mask", lambda: baselines.fit_linear_value(np.ones((2, 3, 1)), np.ones((2, 3)),
                                                                    np.zeros((2, 3), bool)), ValueError, "mask"),
    ("variance_table empty", lambda: baselines.variance_table({}), ValueError, "variants"),
    ("variance_table list", lambda: baselines.variance_table([np.zeros((2, 1))]), TypeError, "variants"),
    ("estimator_variants text b", lambda: baselines.estimator_variants(np.zeros((2, 3, 1)), np.ones((2, 3)), None,
                                                                     0.9, constant_baseline="b"),
     TypeError, "constant_baseline"),
    ("baseline_direction None flag", lambda: baselines.baseline_direction(np.zeros((2, 3, 1)), None, 0.9,
                                                                        reward_to_go=None),
     TypeError, "reward_to_go"),
    ("action_baseline shape", lambda: baselines.action_baseline_bias(TINY_MDP, TAB, Z2, np.zeros(3)), ValueError,
     "action_baseline"),
    # ---------------------------------------------------------------- estimators (through the shared checks)
    ("returns_to_go complex rewards", lambda: estimators.returns_to_go(np.ones((2, 3)) + 1j, 0.9), TypeError,
     "rewards"),
    ("discounted_return NaN reward", lambda: estimators.discounted_return([[1.0, NAN]], 0.9), ValueError, "rewards"),
    ("discounted_return text gamma", lambda: estimators.discounted_return([[1.0]], "0.9"), TypeError, "gamma"),
    # ---------------------------------------------------------------- chapter 13: the theorem and the weights
    ("discounted_values singular", lambda: mdp.discounted_values(_mdp(gamma=1.0), UNIFORM), ValueError, "singular"),
    ("discounted_values pi shape", lambda: mdp.discounted_values(TINY_MDP, np.full((3, 2), 0.5)), ValueError, "pi"),
    ("discounted_visitation not an MDP", lambda: mdp.discounted_visitation("tiny", UNIFORM), TypeError, "mdp"),
    ("discounted_visitation singular", lambda: mdp.discounted_visitation(_mdp(gamma=1.0), UNIFORM), ValueError,
     "singular"),
    ("grad_J_theorem NaN theta", lambda: mdp.grad_J_theorem(TINY_MDP, TAB, [[NAN, 0], [0, 0]]), ValueError, "theta"),
    ("grad_J_theorem observe shape", lambda: mdp.grad_J_theorem(TINY_MDP, TAB, Z2, observe=[0]), ValueError,
     "observe"),
    ("grad_J_theorem observe fraction", lambda: mdp.grad_J_theorem(TINY_MDP, TAB, Z2, observe=[0, 0.5]),
     ValueError, "observe"),
    ("short_corridor_mdp zero horizon", lambda: envs.short_corridor_mdp(horizon=0), ValueError, "horizon"),
    ("q_signal not episodes", lambda: signals.q_signal(TINY_MDP, UNIFORM, np.zeros((2, 3))), TypeError, "episodes"),
    ("q_signal pi not normalised", lambda: signals.q_signal(TINY_MDP, np.ones((2, 2)), TINY_ENUM), ValueError, "pi"),
    ("advantage_signal not an MDP", lambda: signals.advantage_signal(None, UNIFORM, TINY_ENUM), TypeError, "mdp"),
    ("td_residuals V shape", lambda: signals.td_residuals(TINY_ENUM, np.zeros((2, 2, 2)), 0.9), ValueError, "V"),
    ("td_residuals NaN V", lambda: signals.td_residuals(TINY_ENUM, [NAN, 0.0], 0.9), ValueError, "V"),
    ("td_residuals gamma", lambda: signals.td_residuals(TINY_ENUM, np.zeros(2), 1.5), ValueError, "gamma"),
    ("td_residuals terminal shape", lambda: signals.td_residuals(TINY_ENUM, np.zeros(2), 0.9, terminal=[True]),
     ValueError, "terminal"),
    ("td_residuals no next states", lambda: signals.td_residuals(TINY_ENUM.__class__(
        TINY_ENUM.states, TINY_ENUM.actions, TINY_ENUM.rewards, TINY_ENUM.mask), np.zeros(2), 0.9),
     ValueError, "next_states"),
    ("state_baseline too few states", lambda: signals.state_baseline(np.zeros(1), TINY_ENUM), ValueError, "V"),
    ("lookahead_q V rows", lambda: signals.lookahead_q(TINY_MDP, np.zeros((2, 2))), ValueError, "V"),
    ("weight_family stationary V", lambda: signals.weight_family(TINY_MDP, UNIFORM, TINY_ENUM, np.zeros(2)),
     ValueError, "V"),
    ("family_samples empty family", lambda: signals.family_samples(TAB, Z2, TINY_ENUM, {}), ValueError, "family"),
    ("critic_bias text theta", lambda: signals.critic_bias(TINY_MDP, TAB, "x", np.zeros((4, 2))), TypeError,
     "theta"),
    ("surrogate_loss psi shape", lambda: signals.surrogate_loss(TAB, Z2, TINY_ENUM, np.zeros((2, 2))), ValueError,
     "psi"),
    ("surrogate_loss not a policy", lambda: signals.surrogate_loss(None, Z2, TINY_ENUM, np.zeros((2, 2))),
     TypeError, "policy"),
]


@pytest.mark.parametrize("call, error, fragment", [case[1:] for case in BAD_CALLS],
                         ids=[case[0] for case in BAD_CALLS])
def test_bad_call_is_refused_with_a_named_argument(call, error, fragment):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bad call must raise, not warn and carry on
        with pytest.raises(error) as info:
            call()
    message = str(info.value)
    assert fragment in message, message
    assert len(message) > len(fragment) + 10, f"the message says too little: {message!r}"


def test_the_table_is_broad_and_its_ids_are_unique():
    assert len(BAD_CALLS) >= 150
    assert len({case[0] for case in BAD_CALLS}) == len(BAD_CALLS)


def test_type_errors_are_also_value_errors_and_non_finite_is_its_own_type():
    """Code written when every bad input raised ValueError still catches the TypeErrors."""
    with pytest.raises(ValueError):
        pgbook.make_rng(1.5)
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
    with pytest.raises(NonFiniteError):
        optim.Adam(2, 0.1).step([NAN, 0.0])


def test_bad_book_seed_in_the_environment(monkeypatch):
    monkeypatch.setenv("PGBOOK_SEED", "1.5")
    with pytest.raises(ValueError, match="PGBOOK_SEED"):
        pgbook.make_rng()
    monkeypatch.setenv("PGBOOK_SEED", "-3")
    with pytest.raises(ValueError, match="PGBOOK_SEED"):
        pgbook.book_seed()


def test_short_corridor_optimum_terminates_at_the_smallest_tolerance():
    p_star, v_star = envs.short_corridor_optimum(tol=envs.SHORT_CORRIDOR_MIN_TOL)
    assert abs(p_star - (2 - np.sqrt(2))) < 1e-7 and abs(v_star + 6 + 4 * np.sqrt(2)) < 1e-9


def test_good_input_still_works():
    """The stricter checks accept what they always did: ints, numpy scalars, -inf logits, lists."""
    np.testing.assert_allclose(policies.softmax([-INF, 0.0]), [0.0, 1.0])
    np.testing.assert_allclose(policies.softmax([[1, 1]]), [[0.5, 0.5]])
    assert isinstance(pgbook.make_rng(np.int64(3)), np.random.Generator)
    assert optim.SGD((2,), np.float32(0.5)).step([1, 2]).tolist() == [0.5, 1.0]
    assert mdp.J_exact(mdp.tiny_mdp(gamma=np.float64(0.9), horizon=np.int64(2)), UNIFORM.tolist()) > 0
    assert ReinforceConfig(seed=np.int64(2), reward_to_go=np.bool_(False)).seed == 2


# --------------------------------------------------------------------------- collapse detection
def _run_quietly(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [w.category for w in caught]


@pytest.mark.parametrize("optimiser", ["adam", "sgd"])
def test_absurd_learning_rate_collapses_cartpole_and_says_what_to_change(optimiser):
    cfg = ReinforceConfig(learning_rate=1e6, optimiser=optimiser, max_iterations=20, progress=False)
    with pytest.warns(TrainingCollapsedWarning, match="lower learning_rate"):
        result = train(cfg)
    assert result.collapsed and result.status == "collapsed" and not result.diverged
    assert result.iterations < cfg.max_iterations
    assert "became deterministic at iteration" in result.message
    assert np.all(result.curve("non_greedy_prob")[-5:] < 1e-6)
    assert np.all(np.isfinite(result.theta))


@pytest.mark.parametrize("optimiser", ["adam", "sgd"])
def test_collapse_is_flagged_for_several_seeds_and_in_train_many(optimiser):
    base = ReinforceConfig(learning_rate=1e6, optimiser=optimiser, max_iterations=20, progress=False)
    results, caught = _run_quietly(lambda: train_many(base, seeds=range(8)))
    assert all(r.status == "collapsed" for r in results), [r.status for r in results]
    assert caught == [TrainingCollapsedWarning] * 8
    with pytest.warns(TrainingCollapsedWarning, match="seed 1: training collapsed"):
        healthy, bad = train_many(configs=[base.replace(learning_rate=0.2, max_iterations=8),
                                           base.replace(seed=1, max_iterations=8)])
    assert healthy.status == "budget" and healthy.iterations == 8
    assert bad.status == "collapsed" and bad.iterations < 8


def test_a_normal_run_is_never_flagged():
    # the short run of tests/test_reinforce.py::test_short_run_improves_cartpole_for_every_seed
    for seed in sorted({0, 1, pgbook.book_seed()}):
        result, caught = _run_quietly(lambda: train(ReinforceConfig(seed=seed, max_env_steps=20_000,
                                                                    progress=False)))
        assert result.status == "budget" and caught == []
        # a softmax that learns stays far from saturation (the line is 1e-6)
        assert result.curve("non_greedy_prob").min() > 1e-3
        assert np.all(result.curve("entropy") > 0)


def test_absurd_learning_rate_collapses_the_tabular_learner():
    lake = mdp.frozen_lake_mdp(is_slippery=False)          # the uniform policy has J = 0.0124
    for seed in (0, 1, 2):
        with pytest.warns(TrainingCollapsedWarning, match="lower learning_rate"):
            run = train_tabular(lake, np.random.default_rng(seed), learning_rate=1e6)
        returns = run.curve("return_mean")
        assert run.collapsed and len(returns) < 150 and len(run.thetas) == len(returns) + 1
        assert returns[-1] == 0.0 and "deterministic" in run.message
    # seed 3 jumps straight to the optimal deterministic path: solved, so never flagged
    run, caught = _run_quietly(lambda: train_tabular(lake, np.random.default_rng(3), learning_rate=1e6))
    assert run.status == "budget" and caught == [] and run.curve()[-1] > 0.95


def test_a_normal_tabular_run_is_never_flagged():
    lake = mdp.frozen_lake_mdp()
    run, caught = _run_quietly(lambda: train_tabular(lake, pgbook.make_rng(3), max_iterations=60))
    assert run.status == "budget" and caught == [] and len(run.curve()) == 60


def test_collapse_watch_rule():
    # saturated but at its best (a solved task): never flagged
    watch = CollapseWatch()
    assert not any(watch.observe(i, 500.0, 0.0) for i in range(1, 30))
    # saturated and far below the best for 5 batches in a row: flagged on the fifth
    watch = CollapseWatch()
    flags = [watch.observe(1, 20.0, 0.5), watch.observe(2, 400.0, 0.1)]
    flags += [watch.observe(i, 30.0, 1e-9) for i in range(3, 8)]
    assert flags == [False] * 6 + [True] and watch.saturated_since == 3
    # poor returns without saturation: a run still learning is left alone
    watch = CollapseWatch()
    assert not any(watch.observe(i, 10.0 if i > 1 else 20.0, 1e-3) for i in range(1, 30))
    # a saturation streak that breaks starts again
    watch = CollapseWatch()
    watch.observe(1, 20.0, 0.5, se=1.0)
    assert not any(watch.observe(i, 5.0, 1e-9 if i % 4 else 0.1) for i in range(2, 30))
    # with a target (CartPole's reward_threshold): frozen less than halfway to it is a collapse ...
    watch = CollapseWatch(target=475.0)
    watch.observe(1, 20.0, 0.5, se=3.0)
    assert [watch.observe(i, 50.0, 0.0) for i in range(2, 7)] == [False] * 4 + [True]
    assert "475" in watch.message(6, "lower learning_rate")
    # ... but a solved run, deterministic at the target, is not; nor one frozen near it
    for final in (500.0, 470.0):
        watch = CollapseWatch(target=475.0)
        watch.observe(1, 20.0, 0.5, se=3.0)
        assert not any(watch.observe(i, final, 0.0) for i in range(2, 30))
