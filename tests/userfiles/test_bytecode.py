"""Stored bytecode read in the Python that can read it: the reader's answers parsed and worded,
a crashing reader taken as an answer, the scan's text, and a real Keras 2.1.2 Lambda read in 3.6."""

from __future__ import annotations

import base64
import json
import marshal
import os
import sys

import pytest

from compat.userfiles import bytecode, scan, storedcode

SCALING_36 = {
    "name": "scaling",
    "qualname": "scaling",
    "filename": "facenet.py",
    "firstlineno": 34,
    "signature": "scaling(x, scale)",
    "arguments": ["x", "scale"],
    "names": [],
    "freevars": [],
    "constants": ["'The residual scaling the original model runs through a Lambda layer.'"],
    "disassembly": (
        " 36           0 LOAD_FAST                0 (x)\n"
        "              2 LOAD_FAST                1 (scale)\n"
        "              4 BINARY_MULTIPLY\n"
        "              6 RETURN_VALUE\n"
    ),
    "problems": [],
    "nested": [],
}


def _answer(python: str, *results: dict) -> str:
    return json.dumps({"python": python, "results": list(results)})


def test_answers_are_parsed_read_misread_or_unreadable():
    misread = dict(SCALING_36, problems=["BINARY_OP at offset 0 pops an empty stack"])
    stdout = _answer(
        "3.13.0",
        {"ok": True, "code": SCALING_36},
        {"ok": True, "code": dict(SCALING_36, nested=[misread])},
        {"ok": False, "error": "ValueError: bad marshal data (unknown type code)"},
    )
    read, nested_misread, unreadable = bytecode.parse_output(stdout, 0, 3) or []
    assert (read["state"], read["python"], read["code"]["name"]) == (bytecode.READ, "3.13.0", "scaling")
    assert nested_misread["state"] == bytecode.MISREAD
    assert nested_misread["reason"] == "scaling: BINARY_OP at offset 0 pops an empty stack"
    assert unreadable == {
        "state": bytecode.UNREADABLE,
        "reason": "ValueError: bad marshal data (unknown type code)",
        "python": "3.13.0",
        "code": None,
    }
    # No answer for every code (a crash, a kill, a cut output): the caller asks again, code by code.
    assert bytecode.parse_output(stdout, -11, 3) is None
    assert bytecode.parse_output(stdout[:40], 0, 3) is None
    assert bytecode.parse_output(stdout, 0, 2) is None


def test_the_reading_names_the_first_minor_that_reads_it_and_the_others():
    read = {"state": bytecode.READ, "reason": "", "python": "3.6.15", "code": SCALING_36}
    misread = {"state": bytecode.MISREAD, "reason": "scaling: unknown opcodes <0>", "python": "3.12.1", "code": {}}
    answers = {
        "3.6": read,
        "3.7": dict(read, python="3.7.16"),
        "3.8": {"state": bytecode.UNREADABLE, "reason": "ValueError: bad marshal data", "python": "", "code": None},
        "3.12": misread,
    }
    reading = bytecode.summarise(answers, ["3.13"])
    assert reading["read_in"] == "3.6" and reading["python"] == "3.6.15"
    assert reading["also_readable_by"] == ["3.7"]
    assert reading["wording"] == (
        "read in Python 3.6 (also readable by 3.7); 3.12 unmarshals it but misreads it; no interpreter here for 3.13"
    )
    only = bytecode.summarise({"3.6": read}, [])
    assert only["wording"] == "read in Python 3.6"
    nobody = bytecode.summarise({"3.8": answers["3.8"], "3.12": misread, "3.11": answers["3.8"]}, [])
    assert nobody["read_in"] is None and nobody["code"] is None
    assert nobody["wording"] == (
        "no available Python reads it (tried 3.8, 3.11 and 3.12); 3.12 unmarshals it but misreads it"
    )


def test_the_text_shows_the_signature_constants_and_first_lines():
    lines = bytecode.block("model/lambda_1", bytecode.summarise({"3.6": _read(SCALING_36)}, []))
    assert lines[0] == "  model/lambda_1: read in Python 3.6"
    assert "    scaling(x, scale)" in lines
    assert any(line.startswith("    constants: 'The residual scaling") for line in lines)
    assert "    |               4 BINARY_MULTIPLY" in lines
    long = dict(SCALING_36, disassembly="\n".join(f"  {n} NOP" for n in range(20)), names=["tf", "expand_dims"])
    shown = bytecode.code_lines(long, "", dis_lines=3)
    assert shown[1] == "names: tf, expand_dims"
    assert shown[-1] == "| ... 17 more lines"


def _read(code: dict) -> dict:
    return {"state": bytecode.READ, "reason": "", "python": "3.6.15", "code": code}


def test_scan_text_reads_each_distinct_code_once_per_file():
    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    findings = tuple(
        storedcode.Finding(storedcode.LAMBDA_BYTECODE, f"model/lambda_{n}", f"$.layers[{n}]", "function", code)
        for n in (1, 2)
    )
    scanned = storedcode.FileScan("m.h5", "h5", findings)
    assert scan.stored_codes([scanned, scanned]) == [code]
    assert bytecode.digest(code) == storedcode._digest(code)  # the digest the finding's detail names
    readings = {bytecode.digest(code): bytecode.summarise({"3.6": _read(SCALING_36)}, [])}
    doc = scan.document([scanned], [], {}, readings)
    first, second = doc["files"][0]["findings"]
    assert first["bytecode"]["code"]["signature"] == "scaling(x, scale)"
    assert first["bytecode"]["sha256"] == bytecode.digest(code)
    assert second["bytecode"] == first["bytecode"]  # JSON: whole, for every finding
    text = scan.text(doc)
    assert text.count("scaling(x, scale)") == 1
    assert "same code as model/lambda_1: read in Python 3.6" in text
    assert "bytecode" not in scan.document([scanned], [], {})["files"][0]["findings"][0]


def test_a_reader_that_crashes_is_an_answer_for_each_code(tmp_path):
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    answers = bytecode.read_in(str(crashing), ["YQ==", "Yg=="], timeout=5)
    assert [a["state"] for a in answers] == [bytecode.UNREADABLE] * 2
    assert answers[0]["reason"] == "the interpreter crashed reading it (SIGSEGV)"


def test_the_host_interpreter_reads_its_own_code_without_calling_it(tmp_path):
    marker = tmp_path / "ran"

    def touch(path=str(marker)):
        import pathlib

        pathlib.Path(path).touch()
        return os.sep

    code = base64.b64encode(marshal.dumps(touch.__code__)).decode()
    (answer, garbage) = bytecode.read_in(sys.executable, [code, base64.b64encode(b"c\x00junk").decode()])
    assert answer["state"] == bytecode.READ, answer
    assert answer["code"]["signature"] == "touch(path)"
    assert "pathlib" in answer["code"]["names"] and "os" in answer["code"]["names"]
    assert garbage["state"] == bytecode.UNREADABLE
    assert not marker.exists()


@pytest.mark.envs
def test_keras212_lambda_is_read_in_python_36():
    from compat.environments import envs
    from compat.harness import fixtures

    try:
        envs.find_interpreter("3.6")
    except envs.EnvironmentError_ as exc:
        pytest.skip(f"no bare CPython 3.6 on this machine: {exc}")
    pytest.importorskip("h5py")
    scanned = scan.scan(fixtures.unpacked("keras212") / "lambda.h5")
    lambdas = [f for f in scanned.findings if f.kind == storedcode.LAMBDA_BYTECODE]
    assert lambdas and all(f.code for f in lambdas)
    readings = scan.read_bytecode([scanned], ["3.6"])
    reading = readings[bytecode.digest(lambdas[0].code)]
    assert reading["read_in"] == "3.6", reading
    assert reading["python"].startswith("3.6.")
    code = reading["code"]
    assert code["name"] == "scaling" and code["arguments"] == ["x", "scale"]
    assert "BINARY_MULTIPLY" in code["disassembly"]
    text = "\n".join(bytecode.block(lambdas[0].place, reading))
    assert "scaling(x, scale)" in text and "BINARY_MULTIPLY" in text and "(scale)" in text


def test_the_probe_shows_one_block_per_lambda_in_its_diagnosis():
    from compat.userfiles import probe

    reading = bytecode.summarise({"3.6": _read(SCALING_36), "3.7": dict(_read(SCALING_36), python="3.7.16")}, [])
    stored = [
        {"place": f"model/lambda_{n}", "kind": "lambda_bytecode", "sha256": "b3a8e7661547", **reading} for n in (1, 2)
    ]
    document = {
        "path": "/models/lambda.h5",
        "diagnosis": {"message": "a whole Keras model", "stored_bytecode": stored},
        "input": {"description": "seeded"},
        "reference": {"label": None},
        "environments": [],
        "disagreements": [],
    }
    lines = probe.render(document).splitlines()
    start = lines.index("stored code, read without running it:")
    assert lines[start - 1].startswith("probe /models/lambda.h5: a whole Keras model")
    assert lines[start + 1] == "  model/lambda_1: read in Python 3.6 (also readable by 3.7)"
    assert lines[start + 2] == "    scaling(x, scale)"
    assert "    |               4 BINARY_MULTIPLY" in lines
    assert "  model/lambda_2: same code as model/lambda_1" in lines
    document["diagnosis"] = {"message": "a whole Keras model"}  # a document from before: no block
    assert not any("stored code, read" in line for line in probe.render(document).splitlines())
