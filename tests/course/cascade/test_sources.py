from course.cascade.sources import SOURCE_NAMES, build_sources, source_hashes


def test_three_sources_of_different_structure():
    s = {k: v.decode("utf-8") for k, v in build_sources().items()}
    assert tuple(s) == SOURCE_NAMES and all(len(v) > 50_000 for v in s.values())
    lines = {k: [ln for ln in v.splitlines() if ln.strip()] for k, v in s.items()}
    bullets = {k: sum(ln.lstrip().startswith("- ") for ln in v) / len(v) for k, v in lines.items()}
    assert bullets["repo-docs"] > 0.8 and bullets["prose"] < 0.05 and bullets["qa"] == 0
    assert all(ln.startswith(("Q: ", "A: ")) for ln in lines["qa"])
    mean_len = {k: sum(map(len, v)) / len(v) for k, v in lines.items()}
    assert mean_len["prose"] > 1.5 * mean_len["repo-docs"] and mean_len["repo-docs"] > mean_len["qa"]


def test_hashes_are_stable_and_distinguish_sources():
    h1, h2 = source_hashes(), source_hashes(dict(build_sources()))
    assert h1 == h2 and len(set(h1.values())) == 3
    changed = dict(build_sources(), qa=b"other")
    assert source_hashes(changed)["qa"] != h1["qa"]
