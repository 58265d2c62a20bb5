import numpy as np
import pytest

from course.cascade.trace import load_recorded, load_trace

from .conftest import make_trace


def test_save_load_round_trip(tmp_path):
    t = make_trace("round")
    back = load_trace(t.save(tmp_path / "round.npz"))
    assert back.name == "round" and back.boundaries == t.boundaries
    np.testing.assert_allclose(back.loss, t.loss.astype(np.float32))
    np.testing.assert_array_equal(back.clipped, t.clipped)
    assert back.samples == t.samples and list(back.sample_rep) == ["greedy", "temp1"]


def test_empty_folder_says_how_to_record(tmp_path):
    with pytest.raises(FileNotFoundError, match="record_cascade"):
        load_recorded(tmp_path)
