"""A :class:`MorphResult` is built once: fields cannot be reassigned, its tables cannot be changed,
front ends get new results from ``replace`` / ``with_settings`` / ``with_timings``, and regimes
return their timings instead of filling a dict they were handed."""

from __future__ import annotations

import copy
import inspect
import json
import pickle
from dataclasses import FrozenInstanceError

import pytest
import torch

from steerlens.api import morph_batch
from steerlens.config import MorphConfig
from steerlens.regimes import REGIMES
from steerlens.result import FrameScore, MorphResult, ReadOnlyDict


def _result(**kw) -> MorphResult:
    scores = [FrameScore(float(a), 0.1 * a, 1 - 0.1 * a, 3, "3", 0.5 * a) for a in range(3)]
    return MorphResult(torch.zeros(3, 1, 4, 4), torch.zeros(1, 4, 4), [0.0, 1.0, 2.0], scores, 8,
                       "8", 3, "3", "pixel", **kw)


def test_fields_and_tables_refuse_changes():
    res = _result(settings={"seed": 0}, timings={"render": 0.5})
    with pytest.raises(FrozenInstanceError):
        res.reached = True
    with pytest.raises(FrozenInstanceError):
        res.runtime = {}
    for table in (res.settings, res.timings, res.judges, res.runtime, res.model_spec):
        assert isinstance(table, ReadOnlyDict)
        with pytest.raises(TypeError, match="read-only"):
            table["x"] = 1
        with pytest.raises(TypeError, match="read-only"):
            table.update(x=1)
    with pytest.raises(TypeError, match="read-only"):
        res.settings.pop("seed")
    assert dict(res.settings) == {"seed": 0} and res.reached is False


def test_new_results_leave_the_old_one_unchanged():
    res = _result(settings={"seed": 0}, timings={"render": 0.5})
    named = res.with_settings(image="cat.jpg").with_timings(app_s=1.5)
    assert dict(named.settings) == {"seed": 0, "image": "cat.jpg"}
    assert dict(named.timings) == {"render": 0.5, "app_s": 1.5}
    assert dict(res.settings) == {"seed": 0} and dict(res.timings) == {"render": 0.5}
    judged = res.replace(judges={"lite1": [0.1, 0.7]}, reached=True)
    assert dict(judged.judges) == {"lite1": [0.1, 0.7]} and judged.reached
    assert dict(res.judges) == {} and not res.reached
    assert judged.manifest()["judges"] == {"lite1": [0.1, 0.7]}
    assert isinstance(judged.settings, ReadOnlyDict) and isinstance(judged.judges, ReadOnlyDict)
    with pytest.raises(TypeError, match="no field"):
        res.replace(colour="red")


def test_pickle_copy_and_json_keep_values_and_stay_read_only():
    res = _result(settings={"seed": 0, "amplification": [0, 1, 2]})
    for back in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res), copy.copy(res)):
        assert dict(back.settings) == dict(res.settings)
        assert back.p_target.tolist() == res.p_target.tolist()
        with pytest.raises(TypeError):
            back.settings["seed"] = 1
    assert json.loads(json.dumps(res.manifest()))["settings"]["amplification"] == [0, 1, 2]


def test_replace_keeps_lazy_readouts_pending_and_fills_both():
    res = _result()
    calls = []

    def fill(scores):
        calls.append(len(scores))
        for s in scores:
            s.phase_explained = 0.25
        return torch.ones(2, 4, 4)

    res.defer(fill)
    named = res.with_settings(image="x")
    assert "_pending" in named.__dict__ and "_pending" in res.__dict__  # nothing fitted yet
    assert named.final.phase_explained == 0.25 and named.displacement.sum() == 32
    assert res.final.phase_explained == 0.25 and res.displacement.sum() == 32
    assert calls == [3, 3]  # each result fills once; filling twice gives the same values


def test_regimes_return_their_timings_and_results_are_built_once(mnist_model, mnist_split):
    for name, run in REGIMES.items():
        assert list(inspect.signature(run).parameters) == ["problem"], name
    x = mnist_split.x_test[:2]
    for regime, stages in (("one-step", {"schedule", "render", "search_evaluations"}),
                           ("live", {"live_steps", "render"}),
                           ("persistent", {"persistent_steps", "render"})):
        cfg = MorphConfig(method="pixel", regime=regime, frames=3,
                          amplification="auto" if regime == "one-step" else [0, 0.5, 1])
        results = morph_batch(mnist_model, x, [8, 8], cfg)
        for res in results:
            assert set(res.timings) == {"analyze", "gradient", "total"} | stages, regime
            assert res.timings["total"] >= res.timings["render"] > 0
            assert set(res.runtime) == {"torch_version", "torch_threads", "device", "thread_policy"}
            with pytest.raises(TypeError):
                res.timings["total"] = 0.0
        # each result has its own tables (not one dict shared by the batch)
        assert results[0].timings is not results[1].timings
