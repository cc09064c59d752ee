"""``compat scan``: an inventory of the code a saved model carries, read without running it.

A Keras file can hold code in many places besides a top-level ``Lambda``: a Lambda inside a
nested model or a wrapper (``TimeDistributed``, ``Bidirectional``), a lambda given as the
loss, a metric, an initializer or a regularizer (Keras >= 2.13 and 3 store it as
``__lambda__`` bytecode), a function or class named by ``module`` that a loader imports,
and in a SavedModel the Keras metadata (``keras_metadata.pb``, or older, inside
``saved_model.pb``'s object graph) plus graph ops that act on the world when the graph runs.
``scan(path)`` finds them all statically: TensorFlow is never imported on the host and
nothing stored in the file is run. Each finding names its place (``model/sub_model/
time_distributed/lambda`` and the JSON path), its kind and, from the published matrix's
canary fixtures, which environments run such code at load, which at the first call, which
refuse it and which loading strategies avoid it. A function stored as bytecode is also shown
as the Python that can read it reads it (``compat.userfiles.bytecode``: name, arguments,
names, constants and disassembly), without ever being called.

Host side: h5py for HDF5, protobuf for the SavedModel protos. The message descriptors are
built here with the field numbers of TensorFlow's and Keras' .proto files: the one PyPI
package of TF's compiled protos (tensorflow-protobuf 2.11.0, 2022, not TensorFlow's own)
installs them as a top-level ``tensorflow`` package, which would shadow a real TensorFlow
and put ``tensorflow`` modules on a host that must have none.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from compat.userfiles import bytecode, savedmodelpb
from compat.userfiles import diagnose as diagnose_
from compat.userfiles.storedcode import (  # noqa: F401 - the scan's vocabulary, used by its callers too
    BUILTIN_FUNCTION,
    BYTECODE,
    CHECKPOINT_OP,
    CHECKPOINT_OPS,
    CODE_KINDS,
    CUSTOM_CLASS,
    CUSTOM_FUNCTION,
    GRAPH_OP,
    KERAS_MODULES,
    KINDS,
    LAMBDA_BYTECODE,
    LAMBDA_NAMED,
    LAYER_KEYS,
    MARSHAL_CODE,
    MODEL_SUFFIXES,
    MODULE_CLASS,
    MODULE_FUNCTION,
    SAVEDMODEL_FILES,
    SAVER_FUNCTION_PREFIXES,
    SAVER_SCOPES,
    SERIALIZED_LAMBDA,
    SYSTEM_MODULES,
    TRANSPARENT_KEYS,
    WORLD_OPS,
    FileScan,
    Finding,
    ScanInputError,
    _bytecode_of,
    _dedupe,
    _digest,
    _graph_findings,
    _h5_documents,
    _in_keras,
    _is_marshalled_code,
    _keras_metadata_findings,
    _names_function,
    _object_paths,
    _parse_json,
    _saver_nodes,
    _scan_savedmodel,
    _Walker,
    meta_graph_findings,
    savedmodel_summary,
    scan_config,
    summary_text,
)

EXIT_FOUND = 1  # code found: the scan's own meaning of 1, as `compat regress` has "regressed"


def scan(path) -> FileScan:
    """Scan one model file or SavedModel folder. Raises ``ScanInputError`` (its diagnosis in
    one line) for a path that is not a model file compat reads."""
    path = os.fspath(path)
    target = Path(path)
    if target.is_file() and target.name in SAVEDMODEL_FILES + ("keras_metadata.pb",):
        target = target.parent  # a pre-commit hook passes the files of a SavedModel folder
    found = diagnose_.diagnose(str(target))
    if not found.ok:
        if found.kind == "weights_only":
            return FileScan(path, "weights")
        if found.kind == diagnose_.TF1_GRAPH:
            return _scan_tf1_graph(path)
        raise ScanInputError(found.line())
    if found.format == "savedmodel":
        findings, notes, sources = _scan_savedmodel(target)
    else:
        findings, notes, sources = _scan_configs(_config_documents(target, found.format, found.weights))
    return FileScan(path, found.format, _dedupe(findings), _dedupe(notes), tuple(sources))


def _scan_tf1_graph(path: str) -> FileScan:
    """A TF 1 graph file holds no Keras config: its graph's ops are what can act on the world."""
    fmt, parsed = diagnose_.tf1_graph(path) or (None, None)
    name = os.path.basename(path)
    if fmt == "frozen_pb":
        meta = savedmodelpb.messages()["MetaGraphDef"]()
        meta.graph_def.CopyFrom(parsed)
        where = f"{name}$"
    else:
        meta, where = parsed, f"{name}$.graph_def"
    found = meta_graph_findings(meta, where)
    findings, notes = [f for f in found if f.is_code], [f for f in found if not f.is_code]
    return FileScan(path, fmt, _dedupe(findings), _dedupe(notes), (name,))


def _config_documents(target: Path, fmt: str | None, weights: str | None) -> Iterator[tuple[str, object]]:
    """Each parsed config a Keras file holds, with the source its findings are placed under:
    an HDF5 file's attributes, a .keras archive's JSON members, a JSON architecture and the
    HDF5 weights file it names. Nothing for a format that holds no config."""
    if fmt in ("h5", "h5_weights", "weights_h5"):
        yield from _h5_documents(str(target))
    elif fmt == "keras":
        with zipfile.ZipFile(target) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    document = _parse_json(archive.read(name), name)
                    if document is not None:
                        yield name, document
    elif fmt == "json":
        yield target.name, json.loads(target.read_text(encoding="utf-8-sig"))
        if weights:
            for name, document in _h5_documents(str(target.parent / weights)):
                yield f"{weights}:{name}", document


def _scan_configs(documents: Iterable[tuple[str, object]]) -> tuple[list[Finding], list[Finding], list[str]]:
    """``(findings, notes, sources)`` of the configs, in their order."""
    findings: list[Finding] = []
    notes: list[Finding] = []
    sources: list[str] = []
    for name, document in documents:
        sources.append(name)
        got, noted = scan_config(document, name)
        findings += got
        notes += noted
    return findings, notes, sources


def summary(path) -> str:
    """The scan's one phrase for a path (``no stored code found``, ``stored code: ...``), or why
    it could not be scanned: what the probe, the gate and the diagnosis show first."""
    try:
        return scan(path).summary()
    except ScanInputError as exc:
        return f"not scanned: {exc}"
    except Exception as exc:  # noqa: BLE001 - a file the scanner cannot read must not stop a probe or gate
        return f"not scanned: {type(exc).__name__}: {exc}"


def find_files(paths: list[str]) -> list[str]:
    """Every model file and SavedModel folder under ``paths``; a named path is always kept."""
    found, seen = [], set()
    for given in paths:
        for candidate in _candidates(given):
            if os.path.basename(candidate) in SAVEDMODEL_FILES + ("keras_metadata.pb",):
                candidate = os.path.dirname(candidate) or "."  # one SavedModel, however many of its files
            real = os.path.realpath(candidate)
            if real not in seen:
                seen.add(real)
                found.append(candidate)
    return found


def _is_savedmodel(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f)) for f in SAVEDMODEL_FILES)


def _candidates(given: str):
    if not os.path.isdir(given) or _is_savedmodel(given):
        yield given
        return
    for folder, subfolders, files in os.walk(given):
        for sub in sorted(subfolders):
            if sub.startswith(".") or _is_savedmodel(os.path.join(folder, sub)):
                subfolders.remove(sub)
                if not sub.startswith("."):
                    yield os.path.join(folder, sub)
        subfolders.sort()
        for name in sorted(files):
            if name.lower().endswith(MODEL_SUFFIXES) and not name.startswith("."):
                full = os.path.join(folder, name)
                if name.lower().endswith(".json") and not diagnose_.diagnose(full).ok:
                    continue  # some other JSON in a searched folder (package.json, a report)
                yield full


# -- what the matrix measured ------------------------------------------------------------------

# The canary fixture whose measurements stand for each kind of finding in each format.
CANARY_FIXTURES = {
    ("h5", "bytecode"): "canary-h5",
    ("json", "bytecode"): "canary-json",
    ("savedmodel", "bytecode"): "canary-savedmodel",
    ("keras", "bytecode"): "canary-keras",
    ("keras", "named"): "canarymodule-keras",
}
BYTECODE_KINDS = (LAMBDA_BYTECODE, SERIALIZED_LAMBDA, BYTECODE)
NAMED_KINDS = (LAMBDA_NAMED, MODULE_FUNCTION, BUILTIN_FUNCTION, MODULE_CLASS)


def canary_fixture(fmt: str | None, kind: str) -> str | None:
    family = "bytecode" if kind in BYTECODE_KINDS else "named" if kind in NAMED_KINDS else None
    return CANARY_FIXTURES.get((fmt, family)) if family and fmt is not None else None


class Measured:
    """What the published matrix measured for the canary fixtures, read once, only if asked."""

    def __init__(self, matrix_path=None):
        from compat.paths import PROJECT_ROOT

        self.path = Path(matrix_path) if matrix_path else PROJECT_ROOT / "reports" / "matrix.json"
        self._grouped = None

    def _load(self) -> dict:
        if self._grouped is None:
            self._grouped = {}
            if self.path.is_file():
                from compat.records import matrixdoc, results

                document = results.read_document(self.path, matrixdoc.READABLE)
                # Only the canary loads are expanded: the rest of the matrix is not needed here.
                wanted = set(CANARY_FIXTURES.values()) | {"canary-keras"}
                document["loads"] = [g for g in document.get("loads") or [] if g.get("fixture") in wanted]
                matrix = matrixdoc.expand(document)
                for attempt in matrix["attempts"]:
                    self._grouped.setdefault(attempt["fixture"], {}).setdefault(attempt["consumer"], {}).setdefault(
                        attempt["producer"], {}
                    )[attempt["strategy"]] = attempt
        return self._grouped

    def for_fixture(self, fixture: str | None) -> dict | None:
        """``{"fixture", "at_load", "at_first_call", "refused", "avoided_by"}`` or ``None``."""
        if fixture is None:
            return None
        grouped = self._load().get(fixture)
        if not grouped:
            return None
        states: dict[str, list[str]] = {"at_load": [], "at_first_call": [], "refused": []}
        for consumer in sorted(grouped):
            outcomes = self._outcomes(fixture, consumer, grouped[consumer])
            if "ran at load" in outcomes:
                states["at_load"].append(consumer)
            elif "ran at first call" in outcomes:
                states["at_first_call"].append(consumer)
            elif "refused" in outcomes:
                states["refused"].append(consumer)
        return {"fixture": fixture, **states, "avoided_by": _avoided_by(grouped)}

    def _outcomes(self, fixture: str, consumer: str, by_producer: dict) -> list[str]:
        """The outcome of a default load of each producer's file of ``fixture`` in ``consumer``."""
        from compat.publish import advisories

        control_id = advisories.CONTROLS.get(fixture)
        outcomes = []
        for producer, by_strategy in by_producer.items():
            if fixture.endswith("-json"):
                # A JSON architecture's plain load is model_from_json, not load_model.
                by_strategy = dict(by_strategy, **{advisories.DEFAULT_STRATEGY: by_strategy.get("json_plain")})
            control = self._load().get(control_id, {}).get(consumer, {}).get(producer) if control_id else None
            outcomes.append(advisories.file_outcome(by_strategy, control)[0])
        return outcomes


def _avoided_by(grouped: dict) -> list[str]:
    """The strategies that passed on the fixture somewhere and never ran its code anywhere."""
    from compat.publish import cells

    ran, passed = set(), set()
    for by_producer in grouped.values():
        for by_strategy in by_producer.values():
            for name, attempt in by_strategy.items():
                if cells.code_ran_when(attempt) != "no":
                    ran.add(name)
                if attempt.get("verdict") == "pass":
                    passed.add(name)
    return sorted(passed - ran)


def annotate(scans: list[FileScan], measured: Measured | None) -> dict:
    """``{fixture id: measured}`` for every canary fixture the findings stand for."""
    if measured is None:
        return {}
    wanted = {canary_fixture(s.format, f.kind) for s in scans for f in s.findings}
    return {
        fixture: m for fixture in sorted(w for w in wanted if w) if (m := measured.for_fixture(fixture)) is not None
    }


# -- outputs -----------------------------------------------------------------------------------


def stored_codes(scans: Iterable[FileScan]) -> list[str]:
    """Every function stored as bytecode in the scans' findings, each once, in order."""
    return list(dict.fromkeys(f.code for s in scans for f in s.findings if f.code))


def read_bytecode(scans: Iterable[FileScan], minors: list[str] | None = None) -> dict[str, dict]:
    """``{digest: reading}``: each stored function read in the Pythons that can read it
    (``compat.userfiles.bytecode``), every distinct code once."""
    return bytecode.read_all(stored_codes(scans), minors)


def _finding_dict(scan_: FileScan, finding: Finding, readings: dict[str, dict]) -> dict:
    described: dict[str, object] = {
        "kind": finding.kind,
        "level": finding.level,
        "place": finding.place,
        "json_path": finding.json_path,
        "detail": finding.detail,
        "canary": canary_fixture(scan_.format, finding.kind),
    }
    if finding.code and bytecode.digest(finding.code) in readings:
        described["bytecode"] = {"sha256": bytecode.digest(finding.code), **readings[bytecode.digest(finding.code)]}
    return described


def document(
    scans: list[FileScan], skipped: list[tuple[str, str]], measured: dict, readings: dict[str, dict] | None = None
) -> dict:
    """The scan's JSON; ``readings`` (``read_bytecode``) adds to each function stored as
    bytecode what it does, read in the Python that reads it."""
    readings = readings or {}
    return {
        "schema": "compat.scan/1",
        "files": [
            {
                "path": s.path,
                "format": s.format,
                "has_code": s.has_code,
                "summary": s.summary(),
                "sources": list(s.sources),
                "findings": [_finding_dict(s, f, readings) for f in s.findings],
                "notes": [_finding_dict(s, f, readings) for f in s.notes],
            }
            for s in scans
        ],
        "not_scanned": [{"path": p, "diagnosis": line} for p, line in skipped],
        "measured": measured,
        "counts": {
            "files": len(scans),
            "with_code": sum(s.has_code for s in scans),
            "findings": sum(len(s.findings) for s in scans),
        },
    }


def _measured_lines(measured: dict, fixture: str | None, indent: str) -> list[str]:
    entry = measured.get(fixture) if fixture else None
    if not entry:
        return []
    parts = []
    for key, label in (
        ("at_load", "runs it at load"),
        ("at_first_call", "runs it at the first call"),
        ("refused", "refuses it (safe_mode)"),
    ):
        if entry[key]:
            parts.append(f"{label}: {', '.join(entry[key])}")
    lines = [f"{indent}measured on {fixture}: " + "; ".join(parts)] if parts else []
    if entry["avoided_by"]:
        lines.append(f"{indent}strategies that load it without running it: {', '.join(entry['avoided_by'])}")
    return lines


def _bytecode_lines(finding: dict, shown: dict[str, str], indent: str) -> list[str]:
    """What a stored function does, once per distinct code in a file; later ones name the first."""
    reading = finding.get("bytecode")
    if not reading:
        return []
    if reading["sha256"] in shown:
        return [f"{indent}same code as {shown[reading['sha256']]}: {reading['wording']}"]
    shown[reading["sha256"]] = finding["place"]
    lines = [f"{indent}{reading['wording']}"]
    if reading.get("code"):
        lines += bytecode.code_lines(reading["code"], indent + "  ")
    return lines


def text(doc: dict) -> str:
    lines = []
    for entry in doc["files"]:
        lines.append(f"{entry['path']}: {entry['summary']}")
        shown_measured = set()
        shown_code: dict[str, str] = {}
        for finding in entry["findings"]:
            lines.append(f"  {finding['kind']:22} {finding['place']}  {finding['detail']}")
            lines.append(f"  {'':22} {finding['json_path']}")
            lines += _bytecode_lines(finding, shown_code, "  " + " " * 23)
            if finding["canary"] not in shown_measured:
                lines += _measured_lines(doc["measured"], finding["canary"], "  " + " " * 23)
                shown_measured.add(finding["canary"])
        for note in entry["notes"]:
            lines.append(f"  note: {note['kind']} {note['place']}  {note['detail']}")
    for item in doc["not_scanned"]:
        lines.append(f"{item['path']}: not scanned: {item['diagnosis']}")
    counts = doc["counts"]
    lines.append(
        f"{counts['files']} files scanned, {counts['with_code']} with stored code, {counts['findings']} findings"
    )
    return "\n".join(lines)


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif(doc: dict, base: str | None = None) -> dict:
    """SARIF 2.1.0 for GitHub code scanning: one result per finding (notes at level note)."""
    base = os.path.abspath(base or os.getcwd())
    rules = [
        {
            "id": kind,
            "name": kind,
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "defaultConfiguration": {"level": level},
            "help": {"text": full},
        }
        for kind, (level, short, full) in KINDS.items()
    ]
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    results_ = []
    for entry in doc["files"]:
        uri = os.path.relpath(os.path.abspath(entry["path"]), base).replace(os.sep, "/")
        if uri.startswith("../"):
            uri = Path(os.path.abspath(entry["path"])).as_uri()
        for finding in entry["findings"] + entry["notes"]:
            measured = doc["measured"].get(finding["canary"] or "")
            extra = ""
            if measured:
                extra = (
                    f" Measured on {finding['canary']}: runs at load in {len(measured['at_load'])} "
                    f"environments, at the first call in {len(measured['at_first_call'])}, refused by "
                    f"{len(measured['refused'])}; avoided by {', '.join(measured['avoided_by']) or 'none'}."
                )
            results_.append(
                {
                    "ruleId": finding["kind"],
                    "ruleIndex": index[finding["kind"]],
                    "level": finding["level"],
                    "message": {
                        "text": f"{KINDS[finding['kind']][1]} at {finding['place']}: {finding['detail']}.{extra}"
                    },
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {
                                    "uri": uri,
                                    **({"uriBaseId": "%SRCROOT%"} if not uri.startswith("file:") else {}),
                                },
                                "region": {"startLine": 1},
                            },
                            "logicalLocations": [{"fullyQualifiedName": finding["place"], "kind": "member"}],
                        }
                    ],
                    "partialFingerprints": {
                        "compatScan/v1": _digest(f"{uri}|{finding['kind']}|{finding['place']}|{finding['detail']}")
                    },
                    "properties": {"json_path": finding["json_path"]},
                }
            )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "compat scan", "semanticVersion": "0.1.0", "rules": rules}},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(base).as_uri() + "/"}},
                "results": results_,
            }
        ],
    }


# -- what compat scan reports (compat.cli.scan prints and writes it) -------------------------


def inventory(paths: list[str], matrix: str | None = None, read_code: bool = True) -> tuple[dict, bool]:
    """``(document, whether any file carries code)`` for the model files under ``paths``, annotated
    with what ``matrix`` (default reports/matrix.json) measured of such code and, with
    ``read_code``, what each function stored as bytecode does (``read_bytecode``)."""
    paths = list(paths)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise ScanInputError(diagnose_.diagnose(missing[0]).line())
    files = find_files(paths)
    if not files:
        raise ScanInputError(
            f"no model file in {', '.join(paths)} (.h5, .hdf5, .keras, Keras .json, SavedModel folders)"
        )
    named = {
        os.path.realpath(os.path.dirname(p) or ".")
        if os.path.basename(p) in SAVEDMODEL_FILES + ("keras_metadata.pb",)
        else os.path.realpath(p)
        for p in paths
    }
    scans, skipped = [], []
    for path in files:
        try:
            scans.append(scan(path))
        except ScanInputError as exc:
            if os.path.realpath(path) in named:
                raise  # a path the user named that is not a model: bad input, in one line
            skipped.append((path, str(exc)))
    measured = annotate(scans, Measured(matrix))
    readings = read_bytecode(scans) if read_code else {}
    return document(scans, skipped, measured, readings), any(s.has_code for s in scans)
