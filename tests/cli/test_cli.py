"""The command line: one module per command under ``compat/cli/``, shared options declared once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compat import cli
from compat.cli import options

COMPAT = Path(cli.__file__).resolve().parents[1]
GATE_OPTIONS = {
    "-h",
    "--help",
    "--from",
    "--to",
    "--input",
    "--input-shape",
    "--timeout",
    "--json",
    "--junit-xml",
    "--markdown",
    "--no-sandbox",
    "--verbose",
}


def _commands() -> dict:
    return next(a for a in cli.build_parser()._actions if a.dest == "command").choices


def _help(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 0
    return capsys.readouterr().out


def test_gate_help_lists_only_the_gates_options(capsys):
    text = _help(capsys, ["gate", "--help"])
    shown = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text))
    assert shown == GATE_OPTIONS
    gate = _commands()["gate"]
    assert {s for a in gate._actions for s in a.option_strings} == GATE_OPTIONS
    assert all(a.help for a in gate._actions), "every option of the gate says what it does"


def test_regress_help_lists_its_own_options_and_points_to_the_gate(capsys):
    text = _help(capsys, ["regress", "--help"])
    assert "--producers" in text and "--baseline" in text and "compat gate --help" in text
    for option in ("--junit-xml", "--markdown", "--no-sandbox", "--input"):
        assert option not in text


@pytest.mark.parametrize(
    "argv",
    [
        ["regress", "--from", "tf215", "--to", "tf221", "--models", "models/", "--junit-xml", "gate.xml"],
        ["regress", "--models", "a.h5", "b.h5", "--from", "tf215", "--to", "tf221"],
        ["regress", "--from", "tf215", "--to", "tf221", "--models=models/"],
        ["gate", "models/", "--from", "tf215", "--to", "tf221"],
    ],
)
def test_regress_with_models_reaches_the_gate(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.func is cli.gate.run and args.command == argv[0]
    assert args.models and args.old == "tf215" and args.new == "tf221"


def test_regress_without_models_is_the_matrix_regression():
    args = cli.build_parser().parse_args(["regress", "--from", "tf215", "--to", "tf221", "--formats", "h5"])
    assert args.func is cli.regress.run and args.formats == "h5"


def test_regress_with_models_runs_the_gate(tmp_path, capsys):
    (tmp_path / "page.h5").write_text("<html><title>Quota exceeded</title></html>")
    assert cli.main(["regress", "--from", "tf215", "--to", "tf221", "--models", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "[regress] not gated:" in err and f"compat regress: error: no loadable model in {tmp_path}" in err


def test_every_command_has_its_own_module():
    assert {command.__name__.rsplit(".", 1)[1].replace("_", "-") for command in cli.COMMANDS} == set(_commands())


def _product_sources():
    """The host side's modules: not the inside (it runs in the environments) nor the developer tools."""
    return [p for p in COMPAT.rglob("*.py") if not {"inside", "devtools"} & set(p.relative_to(COMPAT).parts)]


def test_the_default_loaders_are_written_once():
    found = [p for p in _product_sources() for _ in re.finditer(re.escape(options.DEFAULT_LOADERS), p.read_text())]
    assert found == [COMPAT / "cli" / "options.py"]


@pytest.mark.parametrize("option", ["--input", "--input-shape", "--timeout", "--no-sandbox", "--loaders", "--verbose"])
def test_a_shared_option_is_declared_once(option):
    declaration = re.compile(r"add_argument\(\s*" + re.escape(f'"{option}"'))
    found = [p for p in _product_sources() for _ in declaration.finditer(p.read_text())]
    assert found == [COMPAT / "cli" / "options.py"]


def test_engine_modules_own_no_argparse_code():
    for path in _product_sources():
        if path.relative_to(COMPAT).parts[0] == "cli":
            continue
        text = path.read_text()
        assert "add_argument(" not in text and "def add_parser" not in text, path
