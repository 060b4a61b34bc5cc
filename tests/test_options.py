"""One declaration per option: MorphConfig's field metadata drives the CLI, the app and the checks.

Every case is generated from :func:`steerlens.config.options`, so an option added to
``config.py`` is covered here without touching this file: it must show in ``--help`` with its
default, a bad value must end the real CLI with exactly one ``error:`` line naming its flag and
exit 2, the library error must name the API parameter, and the app must refuse the same value.
"""

from __future__ import annotations

import json
import pickle

import pytest
import typer

from steerlens.cli import main
from steerlens.cli.main import app
from steerlens.cli.options import FLAGS
from steerlens.config import MorphConfig, defaults, options
from steerlens.errors import ConfigError
from steerlens.option import Option
from steerlens.web.form import FORM_NAMES, config_from_form, form_fields

OPTIONS = options()
#: what each generating command leaves out (set another way)
EXCLUDED = {"morph": set(), "compare": {"method", "amplification"},
            "experiment": {"method", "regime", "l2_budget", "amplification"}}
#: where a command's default differs from MorphConfig's on purpose
OWN_DEFAULTS = {"compare": {"frames": 8}}


def _bad(name: str, opt: Option) -> tuple[str, object] | None:
    """A bad value for an option: (as CLI text, as the library's value); None for flags."""
    if name == "method":
        return "csp-phaze", "csp-phaze"
    if opt.kind == "choice":
        return "bogus", "bogus"
    if opt.kind == "bool":
        return None
    if opt.kind == "amplification":
        return "2,1", [2.0, 1.0]
    if opt.kind == "ints":
        return "x", ["x"]
    if opt.kind == "count":
        return "0", 0
    if opt.kind == "int":
        low = opt.low if opt.low is not None else 0
        return str(int(low) - 1), int(low) - 1
    if opt.low is not None:
        return str(opt.low - 1), float(opt.low - 1)
    return "nan", float("nan")


BAD = {n: b for n, o in OPTIONS.items() if (b := _bad(n, o)) is not None}


def _command(name: str):
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- declarations
def test_every_field_is_declared_once_with_a_flag_and_help():
    import dataclasses

    names = [f.name for f in dataclasses.fields(MorphConfig)]
    assert list(OPTIONS) == names  # every field carries its declaration
    assert {"readout_grid", "max_steps"} <= set(OPTIONS)
    flags = [o.flag for o in OPTIONS.values()]
    assert len(set(flags)) == len(flags) and all(f.startswith("--") for f in flags)
    assert all(o.help.strip() for o in OPTIONS.values())
    assert defaults()["readout_grid"] == 8 and defaults()["max_steps"] is None


@pytest.mark.parametrize("command", ["morph", "compare", "experiment"])
def test_generated_options_carry_flag_and_default(command):
    params = {p.opts[0]: p for p in _command(command).params if p.opts}
    for name, opt in OPTIONS.items():
        if name in EXCLUDED[command]:
            assert opt.flag not in params, (command, opt.flag)
            continue
        param = params[opt.flag]
        if command == "experiment":  # options not given follow the experiment's protocol
            assert param.default is None, name
            continue
        want = OWN_DEFAULTS.get(command, {}).get(name, defaults()[name])
        if isinstance(want, list):
            want = ",".join(map(str, want))
        assert param.default == want, (command, name)
        if opt.off_flag:
            assert param.secondary_opts == [opt.off_flag]


def test_morph_help_lists_every_option_with_its_default(capsys):
    assert main(["morph", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # help wraps lines; compare flat text
    cmd = _command("morph")
    ctx = typer.Context(cmd)
    records = {p.opts[0]: " ".join(p.get_help_record(ctx)[1].split()) for p in cmd.params
               if p.opts and p.opts[0].startswith("--")}
    for name, opt in OPTIONS.items():
        flag = f"{opt.flag} / {opt.off_flag}" if opt.off_flag else opt.flag
        assert flag in text, flag
        record = records[opt.flag]
        assert " ".join(opt.help.split()) in record
        default = defaults()[name]
        if default is not None:
            shown = opt.flag.lstrip("-") if opt.kind == "bool" else default
            assert record.endswith(f"[default: {shown}]"), (flag, record)
    # the options that morph always had, and the two it lacked
    for flag in ("--method", "--frames", "--amplification", "--goal-p", "--budget", "--regime",
                 "--normalization", "--color", "--loss", "--flow-grid", "--flow-levels",
                 "--flow-padding", "--phase-consistency", "--seed", "--step-size", "--max-steps",
                 "--readout-grid"):
        assert flag in text


# ----------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("name", sorted(BAD))
def test_library_error_names_the_parameter(name):
    _, value = BAD[name]
    with pytest.raises(ConfigError) as info:
        MorphConfig(**{name: value}).validate()
    msg = str(info.value)
    assert "\n" not in msg and "--" not in msg, msg
    assert info.value.parameter == name and name in msg, msg
    assert info.value.named(FLAGS).count(OPTIONS[name].flag) == 1


@pytest.mark.parametrize("name", sorted(BAD))
def test_cli_bad_value_is_one_line_naming_the_flag(name, tmp_path, capsys):
    text, _ = BAD[name]
    out = tmp_path / "o"
    flag = OPTIONS[name].flag
    code = main(["morph", str(tmp_path / "never-read.png"), "-m", "mnist-cnn", "-t", "8",
                 "-o", str(out), "-q", f"{flag}={text}"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {flag} ") or lines[0].startswith(f"error: unknown {flag} "), err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("name", sorted(n for n in BAD if OPTIONS[n].form))
def test_app_refuses_the_same_bad_values(name):
    text, _ = BAD[name]
    form = OPTIONS[name].form
    with pytest.raises(ConfigError) as info:
        config_from_form({form: text}, max_frames=24)
    msg = str(info.value)
    assert msg.startswith((f"{form} ", f"unknown {form} ")), msg
    assert info.value.parameter == name


def test_app_form_is_generated_from_the_declarations():
    fields = {f.name: f for f in form_fields(24)}
    assert set(fields) == {o.form for o in OPTIONS.values() if o.form}
    assert "phase_consistency" in fields  # the option the app lacked
    assert fields["frames"].default == "8" and fields["frames"].high == 24
    assert fields["frames"].low == 2 and fields["frames"].step == "1"
    assert [v for v, _ in fields["regime"].choices] == list(OPTIONS["regime"].choices)
    assert FORM_NAMES["l2_budget"] == "budget"
    cfg = config_from_form({"phase_consistency": "off", "budget": ""}, 24)
    assert cfg.phase_consistency is False and cfg.l2_budget is None and cfg.frames == 8


# ----------------------------------------------------------------------------- single rules
def test_amplifications_must_increase_everywhere(capsys, tmp_path):
    with pytest.raises(ConfigError, match="increasing"):
        MorphConfig(amplification=[0.0, 2.0, 1.0]).validate()
    MorphConfig(amplification=[0.0, 1.0, 1.0, 2.0]).validate()  # equal steps stay allowed
    code = main(["morph", str(tmp_path / "x.png"), "-m", "mnist-cnn", "-t", "8", "-q",
                 "-o", str(tmp_path / "o"), "--amplification", "0,2,1"])
    assert code == 2
    assert capsys.readouterr().err.strip() == ("error: --amplification values must be "
                                               "increasing, e.g. 0,0.5,1")


def test_new_options_max_steps_and_readout_grid_are_checked():
    assert MorphConfig(max_steps=50, readout_grid=6).validate().max_steps == 50
    with pytest.raises(ConfigError, match=r"^max_steps must be at least 1, got 0$"):
        MorphConfig(max_steps=0).validate()
    with pytest.raises(ConfigError, match=r"^readout_grid must be at least 2, got 1$"):
        MorphConfig(readout_grid=1).validate()
    with pytest.raises(ConfigError, match=r"^max_steps must be an integer, got 2.5$"):
        MorphConfig(max_steps=2.5).validate()


@pytest.mark.parametrize("argv", [["serve", "--device", "tpu", "--port", "1"],
                                  ["demo", "--device", "tpu"],
                                  ["morph", "x.png", "-t", "1", "--device", "tpu"]])
def test_device_is_checked_once_by_every_command(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown --device 'tpu'; use cpu, cuda, cuda:N or mps"


def test_config_error_keeps_its_parameter_through_pickling():
    e = ConfigError("frames 9 is over the limit of 4; raise the limit (max_frames)", "frames",
                    also=("max_frames",))
    back = pickle.loads(pickle.dumps(e))
    assert (back.parameter, back.also, str(back)) == (e.parameter, e.also, str(e))
    assert back.named(FLAGS) == "--frames 9 is over the limit of 4; raise the limit (--max-frames)"


@pytest.fixture
def digit_png(tmp_path, mnist_split):
    import numpy as np
    from PIL import Image

    path = tmp_path / "digit.png"
    Image.fromarray((mnist_split.x_test[0, 0].numpy() * 255).astype(np.uint8)).save(path)
    return path


def test_compare_offers_phase_consistency(tmp_path, digit_png, mnist_model, capsys):
    out = tmp_path / "c"
    code = main(["compare", str(digit_png), "-m", "mnist-cnn", "-t", "8", "--methods",
                 "pixel,csp-phase", "--frames", "3", "--no-phase-consistency", "--readout-grid",
                 "6", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    settings = json.loads((out / "csp-phase" / "result.json").read_text())["settings"]
    assert settings["phase_consistency"] is False and settings["readout_grid"] == 6


def test_batch_takes_the_generated_options():
    from steerlens.cli import batch as batch_cli

    assert "batch" in typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert callable(batch_cli.batch)
    names = {p.name for p in typer.main.get_command(app).commands["batch"].params}
    assert {"frames", "goal_p", "max_steps", "readout_grid", "phase_consistency"} <= names
