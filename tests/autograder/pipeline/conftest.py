"""Fixtures: a temporary course holding the synthetic lesson, generated and released."""

from __future__ import annotations

import pytest

from . import synthetic
from .support import driver, make_tiny_course


@pytest.fixture(autouse=True)
def _private_exchange(monkeypatch):
    """Never touch a shared exchange configured in the environment."""
    monkeypatch.delenv("GRADCLIP_EXCHANGE", raising=False)


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory):
    """Generated and released; tests must not change it (make your own for that)."""
    course = make_tiny_course(tmp_path_factory.mktemp("tiny"))
    driver(course.root, "release", synthetic.LESSON)
    return course
