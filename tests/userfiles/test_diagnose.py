"""``compat.userfiles.diagnose``: each bad file is built here, each valid one copied from a real fixture."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import pytest

from compat.harness import fixtures
from compat.userfiles import diagnose as diagnose_module
from compat.userfiles.diagnose import ARCHITECTURE_FLAG, diagnose, hdf5_end_of_file


@pytest.fixture(scope="module")
def tf215():
    return fixtures.unpacked("tf215")


@pytest.fixture(params=["h5py", "bytes"])
def hdf5_reader(request, monkeypatch):
    """Run HDF5 cases with h5py (when installed) and with the byte-level fallback."""
    if request.param == "h5py":
        pytest.importorskip("h5py")
    else:
        monkeypatch.setattr(diagnose_module, "_h5py", lambda: None)
    return request.param


def copy(source, tmp_path, name=None):
    target = tmp_path / (name or source.name)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return target


# -- files that are not what they claim ----------------------------------------------------


def test_html_page_saved_as_h5(tmp_path):
    path = tmp_path / "facenet_keras.h5"
    path.write_text(
        "<!DOCTYPE html>\n<html><head><title>Google Drive - Virus scan warning</title></head>"
        "<body>Google Drive can't scan this file for viruses.</body></html>\n"
    )
    found = diagnose(path)
    assert not found.ok and found.kind == "html"
    assert "HTML web page" in found.message and "Virus scan warning" in found.message
    assert "download" in found.advice
    assert "\n" not in found.line()


def test_html_without_doctype(tmp_path):
    path = tmp_path / "model.h5"
    path.write_text("\n\n  <head><meta charset='utf-8'></head><body>Sign in</body>")
    assert diagnose(path).kind == "html"


def test_text_note_saved_as_h5(tmp_path):
    path = tmp_path / "model.h5"
    path.write_text("The model is on the shared drive, ask Sam for access.\n")
    found = diagnose(path)
    assert not found.ok and found.kind == "text"
    assert "ask Sam" in found.message


def test_git_lfs_pointer(tmp_path):
    path = tmp_path / "model.h5"
    path.write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a2144a7d2a9a5a1f8d3b4d0c3c2e0f1d8e7b6a5c4d3e2f1a0b9c8d7e6f5a4\n"
        "size 92357408\n"
    )
    found = diagnose(path)
    assert found.kind == "lfs_pointer" and "git lfs pull" in found.advice


def test_empty_file(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"")
    found = diagnose(path)
    assert not found.ok and found.kind == "empty"
    assert "0 bytes" in found.message


def test_truncated_h5(tmp_path, tf215, hdf5_reader):
    whole = (tf215 / "lambda.h5").read_bytes()
    path = tmp_path / "lambda.h5"
    path.write_bytes(whole[: len(whole) // 3])
    found = diagnose(path)
    assert not found.ok and found.kind == "truncated"
    assert f"{len(whole):,}" in found.message  # the size the superblock records
    assert "33%" in found.message


def test_h5_cut_inside_its_superblock(tmp_path, tf215):
    path = tmp_path / "lambda.h5"
    path.write_bytes((tf215 / "lambda.h5").read_bytes()[:40])
    assert diagnose(path).kind == "truncated"


def test_superblock_end_of_file_matches_real_files(tf215):
    for name in ("lambda.h5", "lambda_weights.h5", "lambda.weights.h5"):
        offset, end = hdf5_end_of_file(tf215 / name)
        assert (offset, end) == (0, os.path.getsize(tf215 / name))


def test_random_bytes(tmp_path):
    import numpy as np

    path = tmp_path / "model.h5"
    path.write_bytes(np.random.RandomState(0).bytes(4096))
    found = diagnose(path)
    assert not found.ok and found.kind == "unknown_bytes"
    assert "no HDF5 signature" in found.message


def test_gzip_archive(tmp_path):
    import gzip

    path = tmp_path / "model.h5"
    path.write_bytes(gzip.compress(b"x" * 1000))
    found = diagnose(path)
    assert found.kind == "archive" and "unpack" in found.advice


def test_weights_only_where_a_model_is_expected(tmp_path, tf215, hdf5_reader):
    path = copy(tf215 / "lambda_weights.h5", tmp_path, "facenet_keras.h5")
    found = diagnose(path, expect="model")
    assert not found.ok and found.kind == "weights_only"
    assert "load_model" in found.message
    assert "load_weights" in found.advice
    assert "rebuild_weights" in found.advice and "h5_transplant" in found.advice


@pytest.mark.parametrize("name", ["multi_input_weights.h5", "multi_input.weights.h5"])
def test_weights_of_a_model_that_is_not_facenet_name_the_architecture_flag(tmp_path, name, hdf5_reader):
    from compat.harness import corpus

    path = copy(corpus.unpacked("foreign", "tf215") / name, tmp_path)
    for found in (diagnose(path), diagnose(path, expect="model")):
        assert "holds only weights" in found.advice and ARCHITECTURE_FLAG in found.advice
        assert "rebuild_weights" not in found.line() and "h5_transplant" not in found.line()


def test_new_layout_weights_where_a_model_is_expected(tmp_path, tf215, hdf5_reader):
    found = diagnose(copy(tf215 / "lambda.weights.h5", tmp_path), expect="model")
    assert not found.ok and found.kind == "weights_only"


def test_savedmodel_folder_without_saved_model_pb(tmp_path, tf215):
    folder = copy(tf215 / "lambda_savedmodel", tmp_path)
    (folder / "saved_model.pb").unlink()
    found = diagnose(folder)
    assert not found.ok and found.kind == "savedmodel_no_pb"
    assert "saved_model.pb" in found.message and "variables" in found.message


def test_saved_model_pb_given_instead_of_its_folder(tmp_path, tf215):
    folder = copy(tf215 / "lambda_savedmodel", tmp_path)
    found = diagnose(folder / "saved_model.pb")
    assert not found.ok and found.kind == "savedmodel_file"
    assert str(folder) in found.advice


def test_keras_zip_with_broken_config(tmp_path, tf215):
    path = tmp_path / "lambda.keras"
    with zipfile.ZipFile(tf215 / "lambda.keras") as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                data = data[: len(data) // 2]  # cut mid-object: invalid JSON
            target.writestr(name, data)
    found = diagnose(path)
    assert not found.ok and found.kind == "keras_bad_config"
    assert "config.json is not valid JSON" in found.message


def test_zip_that_is_not_a_keras_file(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("facenet_keras.h5", b"\x89HDF\r\n\x1a\n")
    found = diagnose(path)
    assert found.kind == "zip_of_models" and "facenet_keras.h5" in found.message


def test_an_uncompressed_keras_whose_weights_fall_on_an_hdf5_user_block_offset_is_a_keras_file(tmp_path):
    # Stored whole, model.weights.h5 starts where its local header ends: with a config.json of
    # this size that is byte 1024, where an HDF5 file with a user block would have its signature.
    config = json.dumps({"class_name": "Functional", "config": {"name": "m", "layers": []}})
    header = 30  # a zip local file header before its name, with no extra field
    config += " " * (1024 - header - len("config.json") - header - len("model.weights.h5") - len(config))
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    assert path.read_bytes()[1024:1032] == b"\x89HDF\r\n\x1a\n"
    found = diagnose(path)
    assert found.format == "keras", found.message


def test_truncated_zip(tmp_path, tf215):
    path = tmp_path / "lambda.keras"
    path.write_bytes((tf215 / "lambda.keras").read_bytes()[:5000])
    found = diagnose(path)
    assert not found.ok and found.kind == "bad_zip"


def test_path_that_does_not_exist(tmp_path, tf215):
    copy(tf215 / "lambda.h5", tmp_path)
    found = diagnose(tmp_path / "lamda.h5")
    assert not found.ok and found.kind == "missing"
    assert "lambda.h5" in found.advice


def test_folder_of_unrelated_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    found = diagnose(tmp_path)
    assert not found.ok and found.kind == "unrelated_folder"


def test_folder_that_holds_a_model_points_to_it(tmp_path, tf215):
    copy(tf215 / "lambda.h5", tmp_path)
    found = diagnose(tmp_path)
    assert found.kind == "folder" and "lambda.h5" in found.message


def test_json_that_is_not_an_architecture(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"keras_version": "3.0.0", "date_saved": "today"}))
    assert diagnose(path).kind == "json_not_keras"


def test_hdf5_that_keras_did_not_write(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as handle:
        handle["data"] = [1, 2, 3]
    found = diagnose(path)
    assert not found.ok and found.kind == "hdf5_not_keras" and "data" in found.message


# -- valid files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("lambda.h5", "h5"),
        ("lambda_weights.h5", "h5_weights"),
        ("lambda.weights.h5", "weights_h5"),
    ],
)
def test_valid_hdf5(tmp_path, tf215, hdf5_reader, name, fmt):
    found = diagnose(copy(tf215 / name, tmp_path))
    assert found.ok and found.format == fmt and found.kind == fmt
    assert found.size_guess == "tiny"


def test_whole_model_details(tmp_path, tf215):
    pytest.importorskip("h5py")
    found = diagnose(copy(tf215 / "lambda.h5", tmp_path), expect="model")
    assert found.ok and found.input_shape == (160, 160, 3)
    assert found.keras_version == "2.15.0"
    # compat scan's summary, in place of the old top-level Lambda count
    assert "stored code: 4 findings (lambda_bytecode at inception_resnet_v1/lambda," in found.message


def test_valid_keras_zip(tmp_path, tf215):
    found = diagnose(copy(tf215 / "lambda.keras", tmp_path))
    assert found.ok and found.format == "keras" and found.input_shape == (160, 160, 3)


def test_valid_savedmodel(tmp_path, tf215):
    found = diagnose(copy(tf215 / "lambda_savedmodel", tmp_path))
    assert found.ok and found.format == "savedmodel"


def test_valid_json_finds_its_weights(tmp_path, tf215):
    copy(tf215 / "lambda_weights.h5", tmp_path)
    found = diagnose(copy(tf215 / "lambda.json", tmp_path))
    assert found.ok and found.format == "json" and found.weights == "lambda_weights.h5"
    assert found.nbytes == (tf215 / "lambda_weights.h5").stat().st_size


def test_json_without_weights_is_valid_but_says_so(tmp_path, tf215):
    found = diagnose(copy(tf215 / "lambda.json", tmp_path))
    assert found.ok and found.weights is None and "no weights file" in found.message


def test_size_guess_full_for_large_files(tmp_path, tf215):
    found = diagnose(copy(tf215 / "lambda.h5", tmp_path))
    assert diagnose_module.Diagnosis(**{**found.__dict__, "nbytes": 92_000_000}).size_guess == "full"


def test_small_slips_read_right(tmp_path):
    assert diagnose("").line() == "no path given; pass the model file or SavedModel folder to check"
    link = tmp_path / "facenet_keras.h5"
    link.symlink_to(tmp_path / "gone.h5")
    found = diagnose(link)
    assert found.kind == "missing" and "symbolic link to" in found.message and "did you mean" not in found.line()
    note = tmp_path / "model.h5"
    sentence = "The model is too large for the mail server, so it is on the shared drive under models/2019/facenet."
    note.write_text(sentence + "\n")
    assert sentence in diagnose(note).message


def test_a_file_holding_a_little_of_its_data_is_not_zero_percent():
    from compat.userfiles import diagnose as module

    assert module._share(500, 100_000) == "under 1%"
    assert module._share(50_000, 100_000) == "50%"
