"""Methods are objects in one registry: each reproduces the string dispatch it replaced, and a new
method is one class plus one registry entry, end to end through ``morph_batch``."""

from __future__ import annotations

import pytest
import torch

import steerlens
from steerlens.api import morph_batch
from steerlens.config import METHODS as CONFIG_METHODS
from steerlens.config import MorphConfig, parse_method
from steerlens.errors import ConfigError
from steerlens.gradient import coefficient_gradient, edit_direction
from steerlens.methods import METHODS, Method, get_method, method_help, method_names
from steerlens.methods.pixel import Pixel
from steerlens.models.base import Classifier
from steerlens.regimes import REGIME_HELP, REGIMES
from steerlens.regimes.base import iterative_steps
from steerlens.transforms import make_transform

#: the string tables the registry replaced (config.METHODS and regimes/base.DEFAULT_STEP* at 0991b63)
OLD_PAIRS = {
    "csp-phase": ("csp", "phase"),
    "csp-amplitude": ("csp", "amplitude"),
    "csp-joint": ("csp", "joint"),
    "fourier-phase": ("fourier", "phase"),
    "fourier-amplitude": ("fourier", "amplitude"),
    "fourier-joint": ("fourier", "joint"),
    "pixel": ("pixel", "additive"),
    "flow": ("flow", "additive"),
    "csp-motion": ("flow", "motion"),
}
OLD_STEP = {"phase": 0.5, "joint": 0.5, "amplitude": 0.1, "additive": 0.05, "motion": 0.25}
OLD_STEP_BY_TRANSFORM = {"flow": 0.25}


def _old_transform(cfg: MorphConfig, channels: int):
    """``MorphConfig.make_transform`` as it dispatched on the transform name at 0991b63."""
    transform, _ = OLD_PAIRS[cfg.method]
    color = cfg.color if channels == 3 else "rgb"
    if transform == "flow":
        return make_transform("flow", grid=cfg.flow_grid, levels=cfg.flow_levels,
                              padding=cfg.flow_padding)
    if transform == "csp":
        return make_transform("csp", color=color, scales=cfg.n_scales,
                              orientations=cfg.n_orientations, twidth=cfg.twidth,
                              padding=cfg.padding)
    return make_transform(transform, color=color)


def test_registry_lists_all_nine_methods_in_order():
    assert method_names() == tuple(OLD_PAIRS)
    assert list(METHODS) == list(OLD_PAIRS) and CONFIG_METHODS is METHODS
    assert all(isinstance(m, Method) and m.name == name for name, m in METHODS.items())
    lines = method_help().splitlines()
    assert [line.split(":")[0] for line in lines] == list(OLD_PAIRS)
    assert all(len(line) > len(name) + 10 for line, name in zip(lines, OLD_PAIRS))


@pytest.mark.parametrize("name", list(OLD_PAIRS))
def test_each_method_reproduces_the_string_dispatch(name):
    m = get_method(name)
    assert (m.transform_name, m.edit) == OLD_PAIRS[name] == parse_method(name.upper())
    cfg = MorphConfig(method=name, color="luminance", n_scales=2, n_orientations=3, flow_grid=5,
                      flow_padding="zeros")
    assert (cfg.transform_name, cfg.edit) == OLD_PAIRS[name]
    assert m.default_step == OLD_STEP_BY_TRANSFORM.get(m.transform_name, OLD_STEP[m.edit])
    assert iterative_steps(cfg, 3) == (m.default_step, [m.default_step] * 3)
    for channels in (1, 3):
        new, old = cfg.make_transform(channels), _old_transform(cfg, channels)
        assert type(new) is type(old) and repr(new) == repr(old)
    # batch's phase statistics: a phase edit of complex bands (batch/worker.py at 0991b63)
    transform, edit = OLD_PAIRS[name]
    assert m.has_phase_statistics == (transform in ("csp", "fourier") and edit in ("phase", "joint"))
    assert m.exact_field == (transform == "flow") and m.fitted_motion == (edit == "motion")


def test_phase_readout_grid_is_readout_grid_not_flow_grid():
    """csp-phase's ``phase_explained`` field is fitted on ``readout_grid``; ``flow_grid`` shapes
    only the warp methods (the hidden coupling of issue 16)."""
    model = _tiny_model()
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    grids = {}
    for key, cfg in {"readout": MorphConfig(readout_grid=4, flow_grid=8),
                     "flow": MorphConfig(readout_grid=8, flow_grid=4)}.items():
        tr = cfg.make_transform(1)
        d = edit_direction(model, tr, x, torch.tensor([1]), cfg)
        grids[key] = get_method(cfg.method).readout(tr, d, cfg).fit.grid
    assert grids == {"readout": 4, "flow": 8}
    flow = MorphConfig(method="flow", flow_grid=4, readout_grid=6)
    assert flow.make_transform(1).grid == 4


def test_unknown_method_is_one_line_with_suggestions():
    with pytest.raises(ConfigError) as err:
        MorphConfig(method="csp-phaze").validate()
    assert str(err.value) == (
        "unknown method 'csp-phaze'; choose one of csp-phase, csp-amplitude, csp-joint, "
        "fourier-phase, fourier-amplitude, fourier-joint, pixel, flow, csp-motion. "
        "Did you mean csp-phase?")
    assert err.value.parameter == "method"
    with pytest.raises(ConfigError, match="unknown method 'zzz'; choose one of csp-phase"):
        parse_method("zzz")


def test_help_of_morph_lists_every_method_and_regime():
    doc = steerlens.morph.__doc__
    assert "__METHODS__" not in doc and "__REGIMES__" not in doc
    for name, m in METHODS.items():
        assert f"- {name}: {m.help}" in doc
    assert set(REGIME_HELP) == set(REGIMES)
    for name in REGIMES:
        assert f"- {name}: {REGIME_HELP[name]}" in doc


class PixelSign(Pixel):
    """A toy method: step every pixel by the sign of its gradient (an iterated FGSM)."""

    name = "pixel-sign"
    help = "toy: every pixel moves by the same amount, along the sign of its gradient"
    default_step = 0.01

    def additive_direction(self, grad, selection):
        return -grad.sign() if selection is None else -grad.sign() * selection


def _tiny_model() -> Classifier:
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return Classifier(net, ["a", "b", "c"], (16, 16), 1)


@pytest.mark.filterwarnings("ignore:target equals the source")
def test_a_new_method_is_one_class_and_one_registry_entry(monkeypatch):
    monkeypatch.setitem(METHODS, PixelSign.name, PixelSign())
    model = _tiny_model()
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25
    amps = [0.0, 0.02, 0.05]
    res = morph_batch(model, x, [1, 2], MorphConfig(method="pixel-sign", amplification=amps))
    coeffs = make_transform("pixel").analyze(x)
    grads, _, _ = coefficient_gradient(model, make_transform("pixel"), coeffs, torch.tensor([1, 2]))
    step = -grads[0].sign()
    for i, r in enumerate(res):
        assert r.method == "pixel-sign" and r.amplifications == pytest.approx(amps)
        for k, a in enumerate(amps):  # frame k = clip(x0 - a * sign(g)): the toy's own direction
            want = (x[i] + a * step[i]).clamp(0, 1)
            assert torch.allclose(r.frames[k], want, atol=1e-6)
        p = [s.p_target for s in r.scores]
        assert p[0] < p[1] < p[2]
        assert r.final.phase_explained is None and r.displacement is None  # no field: no read-out
    # the iterative regimes take the toy's own default step
    live = morph_batch(model, x[:1], [1], MorphConfig(method="pixel-sign", regime="live",
                                                      frames=200))[0]
    assert live.settings["live_step_size"] == PixelSign.default_step
    assert live.amplifications[1] == pytest.approx(PixelSign.default_step)
