"""Text statistics used in traces and plots (not the lesson's exercises)."""

from __future__ import annotations

import re


def repeated_ngram_fraction(text: str, n: int = 4) -> float:
    """Fraction of the character `n`-grams of `text` that already occurred earlier in it.

    0.0 for varied text; close to 1.0 when the text loops. 0.0 if there are no n-grams.
    """
    if n < 1:
        raise ValueError(f"`n` must be >= 1, got {n}")
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)


def words(text: str) -> list[str]:
    """Maximal runs of non-whitespace characters."""
    return re.findall(r"\S+", text)


def word_ids(text: str) -> list[int]:
    """Each word of `text` as an integer id (first occurrence order), for token statistics."""
    ids: dict[str, int] = {}
    return [ids.setdefault(w, len(ids)) for w in words(text)]


def non_space_bytes(data: bytes | str) -> list[int]:
    """The byte values of `data` with ASCII whitespace removed."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return [b for b in raw if b not in b" \t\n\r\x0b\x0c"]
