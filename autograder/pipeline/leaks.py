"""Find hidden-test text in a learner-facing file (feedback HTML, a release notebook).

`hidden_lines` takes the distinctive lines of a lesson's hidden tests: code inside
`### BEGIN/END HIDDEN TESTS` that appears nowhere in what the learner was given. Text is
compared with whitespace collapsed and, for HTML, with tags stripped and entities decoded
(nbconvert wraps every token of highlighted code in its own <span>).
"""

from __future__ import annotations

import html
import re

from .hide_hidden_tests import HIDDEN_BEGIN, HIDDEN_END

MARKERS = (HIDDEN_BEGIN, "BEGIN HIDDEN TESTS", "### BEGIN SOLUTION", "BEGIN SOLUTION")


def _norm(text: str) -> str:
    return " ".join(text.split())


def html_text(page: str) -> str:
    """What a reader of `page` can see or copy: tags removed, entities decoded."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def hidden_regions(source: str) -> list[str]:
    regions, current = [], None
    for line in source.splitlines():
        if line.strip().startswith(HIDDEN_BEGIN):
            current = []
        elif line.strip().startswith(HIDDEN_END) and current is not None:
            regions.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    if current:
        regions.append("\n".join(current))
    return regions


def hidden_lines(source_nb, given_text: str = "", min_length: int = 12) -> list[str]:
    """Distinctive lines of the hidden tests in `source_nb` not present in `given_text`."""
    given = _norm(given_text)
    lines = []
    for cell in source_nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for region in hidden_regions(cell.source):
            for line in region.splitlines():
                text = _norm(line)
                if len(text) >= min_length and not text.startswith("#") and text not in given:
                    lines.append(text)
    return sorted(set(lines))


def find_leaks(text: str, lines: list[str], *, is_html: bool = False, own: str = "") -> list[str]:
    """The markers and `lines` that occur in `text`.

    `own`: what the page's learner wrote (their submission): a marker they typed themselves
    (an honest `# BEGIN SOLUTION` comment) is theirs, not a leak. (`lines` are already
    those of the hidden tests not in what the learner was given or wrote.)"""
    visible = _norm(html_text(text) if is_html else text)
    theirs = _norm(own)
    return [m for m in MARKERS if m in visible and m not in theirs] + \
        [line for line in lines if line in visible]
