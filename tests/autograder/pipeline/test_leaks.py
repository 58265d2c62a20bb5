"""leaks: finding hidden-test text in learner-facing files."""

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder.pipeline import leaks

SOURCE = new_notebook(cells=[
    new_code_cell("from autograder import checks  # shared line\nx = 1"),
    new_code_cell("# note\n### BEGIN HIDDEN TESTS\nfrom autograder import checks  # shared line\n"
                  "assert secret_function(12345) == 6789\n### END HIDDEN TESTS"),
])


def test_hidden_lines_skip_what_the_learner_was_given():
    given = "\n".join(c.source for c in SOURCE.cells[:1])
    assert leaks.hidden_lines(SOURCE, given) == ["assert secret_function(12345) == 6789"]


def test_found_in_highlighted_html():
    page = ('<span class="k">assert</span> <span class="n">secret_function</span>'
            '<span class="p">(</span><span class="mi">12345</span><span class="p">)</span> '
            '<span class="o">==</span> <span class="mi">6789</span>')
    lines = leaks.hidden_lines(SOURCE)
    assert "assert secret_function(12345) == 6789" in leaks.find_leaks(page, lines, is_html=True)
    assert leaks.find_leaks("<p>all good</p>", lines, is_html=True) == []


def test_markers_are_leaks():
    assert leaks.find_leaks("### BEGIN HIDDEN TESTS", []) != []
    assert leaks.find_leaks("&#35;&#35;&#35; BEGIN SOLUTION", [], is_html=True) != []


def test_notebook_round_trip():
    assert leaks.hidden_lines(nbformat.reads(nbformat.writes(SOURCE), as_version=4))
