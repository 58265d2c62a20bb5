"""The wire's hostile replies: each is a clean WireError on the reading side, never code
run, a file written or a link followed there (course/wire.py).

A reply comes from the learner's sandboxed kernel, which can write anything into its reply
folder; the grading process reads it with `wire.read` and `wire.decode`.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import secrets
import zipfile
from pathlib import Path

import numpy as np
import pytest

from course import wire


class _Boom:
    """Unpickling this touches a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path):
    path = Path(f"/tmp/gradclip-pwned-{secrets.token_hex(6)}")
    yield path
    assert not path.exists(), "decoding a reply ran code"


def _write_raw(stem: Path, tree_text: str | bytes, npz: bytes | None = None):
    data = tree_text.encode() if isinstance(tree_text, str) else tree_text
    if npz is None:
        buffer = io.BytesIO()
        np.savez(buffer)
        npz = buffer.getvalue()
    Path(f"{stem}.reply.npz").write_bytes(npz)
    Path(f"{stem}.reply.json").write_bytes(data)


def _roundtrip(stem: Path):
    """As the grader reads a reply (`autograder.verdict.learner`): a dict of encoded values."""
    tree, arrays = wire.read(str(stem), "reply")
    if not isinstance(tree, dict):
        raise wire.WireError("not a dict")
    return {k: wire.decode(v, arrays) for k, v in tree.items()}


def test_an_honest_reply_travels(tmp_path):
    arrays: dict = {}
    tree = wire.encode({"x": np.arange(3.0), "n": 2, "t": (1, "a")}, arrays)
    wire.write(str(tmp_path / "r"), "reply", {"value": tree}, arrays)
    back = _roundtrip(tmp_path / "r")["value"]
    assert back["n"] == 2 and back["t"] == (1, "a")
    np.testing.assert_array_equal(back["x"], np.arange(3.0))


def test_pickled_arrays_are_refused_and_never_unpickled(tmp_path, marker):
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([_Boom(str(marker))], dtype=object), allow_pickle=True)
    _write_raw(tmp_path / "r", json.dumps({"value": {"$nd": "a0"}}), buffer.getvalue())
    with pytest.raises(wire.WireError):
        _roundtrip(tmp_path / "r")


def test_an_npz_that_is_a_pickle_is_refused(tmp_path, marker):
    _write_raw(tmp_path / "r", json.dumps({"value": 1}), pickle.dumps(_Boom(str(marker))))
    with pytest.raises(wire.WireError):
        _roundtrip(tmp_path / "r")


def test_a_module_recipe_naming_a_loader_is_refused_before_it_is_called(tmp_path, marker):
    """`$module` used to call whatever it named: numpy.load(pickle, allow_pickle=True)
    ran code in the grading process."""
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Boom(str(marker))))
    for node in ({"$module": "numpy:load", "args": [str(evil)],
                  "kwargs": {"allow_pickle": True}},
                 {"$module": "numpy.load", "args": [str(evil)], "kwargs": {"allow_pickle": True}},
                 {"$module": "torch:load", "args": [str(evil)], "kwargs": {"weights_only": False}},
                 {"$module": "numpy:savetxt", "args": [str(marker), [1.0]]},
                 {"$module": "collections:OrderedDict"},
                 {"$module": "torch.nn:functional"}):
        _write_raw(tmp_path / "r", json.dumps({"value": node}))
        with pytest.raises(wire.WireError):
            _roundtrip(tmp_path / "r")
    assert not marker.exists()


def test_a_course_module_recipe_still_travels(tmp_path):
    import torch

    model = wire.build("course.models.TinyMLP", d_in=3, d_hidden=4, d_out=2)
    arrays: dict = {}
    wire.write(str(tmp_path / "r"), "reply", {"value": wire.encode(model, arrays)}, arrays)
    back = _roundtrip(tmp_path / "r")["value"]
    assert isinstance(back, torch.nn.Module)
    for (_, a), (_, b) in zip(model.named_parameters(), back.named_parameters()):
        assert torch.equal(a, b)


def test_refs_outside_the_allowed_packages_or_private_are_refused(tmp_path):
    for path in ("os:system", "subprocess:run", "builtins:eval", "pickle:loads",
                 "importlib:import_module", "torch:_C", "torch._C:_jit_set_profiling_mode",
                 "numpy:_core", "course.wire:_namespace", "torch.nn:Module.__init__",
                 "course:__builtins__", "math:nosuchthing", "course.nosuchmodule:x", "", 3):
        _write_raw(tmp_path / "r", json.dumps({"value": {"$ref": path}}))
        with pytest.raises(wire.WireError):
            _roundtrip(tmp_path / "r")


def test_symlinked_reply_files_are_not_followed(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"value": "the gradebook"}))
    _write_raw(tmp_path / "r", json.dumps({"value": 1}))
    os.unlink(tmp_path / "r.reply.json")
    os.symlink(secret, tmp_path / "r.reply.json")
    with pytest.raises(wire.WireError):
        _roundtrip(tmp_path / "r")
    # a fifo must not hang the reader either
    os.unlink(tmp_path / "r.reply.json")
    os.mkfifo(tmp_path / "r.reply.json")
    with pytest.raises(wire.WireError):
        _roundtrip(tmp_path / "r")


def test_oversize_replies_are_refused(tmp_path):
    _write_raw(tmp_path / "r", json.dumps({"value": "x" * 5000}))
    with pytest.raises(wire.WireError, match="allowed"):
        wire.read(str(tmp_path / "r"), "reply", max_bytes=1000)


def test_a_small_compressed_npz_claiming_a_huge_array_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, a0=np.zeros(4_000_000))  # 32 MB of zeros, ~30 kB compressed
    _write_raw(tmp_path / "r", json.dumps({"value": {"$nd": "a0"}}), buffer.getvalue())
    with pytest.raises(wire.WireError, match="allowed"):
        wire.read(str(tmp_path / "r"), "reply", max_bytes=1_000_000)
    # a header that claims more than the member holds
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a0.npy", header.getvalue() + b"\0" * 64)
    _write_raw(tmp_path / "r", json.dumps({"value": {"$nd": "a0"}}), archive.getvalue())
    with pytest.raises(wire.WireError):
        wire.read(str(tmp_path / "r"), "reply")


@pytest.mark.parametrize("text", [
    "{not json", "[" * 100_000 + "]" * 100_000, json.dumps({"value": {"$nd": 3}}),
    json.dumps({"value": {"$nd": "a9"}}), json.dumps({"value": {}}),
    json.dumps({"value": {"$unknown": 1}}), json.dumps({"value": {"$tuple": "abc"}}),
    json.dumps({"value": {"$dict": [1, 2]}}), json.dumps({"value": {"$t": "a0", "dtype": "Tensor"}}),
    json.dumps({"value": {"$t": "a0", "dtype": ["x"]}}),
    json.dumps({"value": {"$p": "a0", "dtype": "float32", "grad": 5}}),
    json.dumps({"value": {"$module": "course.models.TinyMLP", "kwargs": [["d_in", 3]]}}),
    json.dumps({"value": {"$module": "course.models.TinyMLP", "kwargs": {"nope": 1}}}),
    json.dumps({"value": {"$module": 7}}),
    json.dumps({"value": {"$raised": 5}}),
    json.dumps({"value": {"$iter": {"a": 1}}}),
    json.dumps({"value": json.loads("[" * 70 + "1" + "]" * 70)}),
])
def test_malformed_trees_are_a_clean_wire_error(tmp_path, text):
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.arange(3.0, dtype=np.float32))
    _write_raw(tmp_path / "r", text, buffer.getvalue())
    with pytest.raises(wire.WireError):
        _roundtrip(tmp_path / "r")


def test_a_string_or_object_dtype_array_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array(["a", "b"]))
    _write_raw(tmp_path / "r", json.dumps({"value": {"$nd": "a0"}}), buffer.getvalue())
    with pytest.raises(wire.WireError):
        _roundtrip(tmp_path / "r")


def test_writing_never_follows_a_link_left_in_the_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    os.symlink(victim, tmp_path / "r.reply.json")
    os.symlink(victim, tmp_path / f"r.reply.json.tmp{os.getpid()}")
    wire.write(str(tmp_path / "r"), "reply", {"value": 1}, {})
    assert victim.read_text() == "mine"
    assert _roundtrip(tmp_path / "r") == {"value": 1}


def test_a_module_recipe_may_name_a_marked_course_factory_only():
    """`course.frameworks.tiny_lm` is marked `@wire.buildable`; an unmarked course
    function (one that trains and writes files) is refused before it is called."""
    from course import frameworks

    model = wire.build("course.frameworks.tiny_lm", seed=3)
    arrays: dict = {}
    tree = wire.encode(model, arrays)
    again = wire.decode(tree, arrays)
    assert type(again) is type(model)
    tree["$module"] = "course.frameworks.hf_train"
    assert not getattr(frameworks.hf_train, "_gradclip_buildable", False)
    with pytest.raises(wire.WireError, match="not a torch module class"):
        wire.decode(tree, arrays)
