"""Lesson 08: correct variants pass, plausible mistakes fail with a message that says why."""

from tests.lessons.harness import make_variant_tests

CORRECT = {
    "phase_boundaries": [
        '''
        import itertools

        def phase_boundaries(phase_lengths):
            return list(itertools.accumulate(phase_lengths))[:-1]
        ''',
        '''
        import numpy as np

        def phase_boundaries(phase_lengths):
            lengths = np.asarray(phase_lengths, dtype=np.int64)
            return [int(x) for x in np.cumsum(lengths)[:-1]]
        ''',
        '''
        def phase_boundaries(phase_lengths):
            out = []
            for i in range(1, len(phase_lengths)):
                out.append(sum(phase_lengths[:i]))
            return out
        ''',
    ],
    "spikes_near_boundaries": [
        '''
        import numpy as np

        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            s = np.asarray(spike_steps, dtype=np.int64).reshape(-1, 1)
            if s.size == 0:
                return 0.0
            b = np.asarray(boundaries, dtype=np.int64).reshape(1, -1)
            d = s - b
            return float(((d >= 0) & (d <= within)).any(axis=1).mean())
        ''',
        '''
        import bisect

        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            bounds = sorted(boundaries)
            spikes = list(spike_steps)
            if len(spikes) == 0:
                return 0.0
            hits = 0
            for s in spikes:
                i = bisect.bisect_right(bounds, s)   # boundaries <= s are bounds[:i]
                if i and s - bounds[i - 1] <= within:
                    hits += 1
            return hits / len(spikes)
        ''',
    ],
    "repetition_score": [
        '''
        from collections import Counter

        def repetition_score(tokens):
            tokens = list(tokens)
            return Counter(tokens).most_common(1)[0][1] / len(tokens) if tokens else 0.0
        ''',
        '''
        import numpy as np

        def repetition_score(tokens):
            arr = np.asarray(list(tokens))
            if arr.size == 0:
                return 0.0
            _, counts = np.unique(arr, return_counts=True)
            return float(counts.max() / arr.size)
        ''',
    ],
}

MISTAKES = {
    "phase_boundaries": [
        ('''
        def phase_boundaries(phase_lengths):
            out, s = [0], 0
            for n in phase_lengths[:-1]:
                s += n
                out.append(s)
            return out
        ''', "step 0"),
        ('''
        import itertools

        def phase_boundaries(phase_lengths):
            return list(itertools.accumulate(phase_lengths))
        ''', "end of the last phase"),
        ('''
        import itertools

        def phase_boundaries(phase_lengths):
            return [s - 1 for s in itertools.accumulate(phase_lengths)][:-1]
        ''', "next one begins"),
        ('''
        import numpy as np

        def phase_boundaries(phase_lengths):
            return np.cumsum(phase_lengths)[:-1]
        ''', "should be a list"),
    ],
    "spikes_near_boundaries": [
        ('''
        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            spikes = list(spike_steps)
            if not spikes:
                return 0.0
            return sum(any(abs(s - b) <= within for b in boundaries) for s in spikes) / len(spikes)
        ''', "before"),
        ('''
        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            return sum(any(0 <= s - b <= within for b in boundaries) for s in spike_steps)
        ''', "not a count"),
        ('''
        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            spikes = list(spike_steps)
            if not spikes:
                return 0.0
            return sum(any(0 <= s - b < within for b in boundaries) for s in spikes) / len(spikes)
        ''', "3 steps after"),
        ('''
        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            spikes = list(spike_steps)
            return sum(any(0 <= s - b <= within for b in boundaries) for s in spikes) / len(spikes)
        ''', "no spikes"),
        ('''
        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            bounds = list(boundaries)
            if not bounds:
                return 0.0
            near = sum(any(0 <= s - b <= within for b in bounds) for s in spike_steps)
            return near / len(bounds)
        ''', "2 boundaries"),
        ('''
        def spikes_near_boundaries(spike_steps, boundaries, within=3):
            spikes = list(spike_steps)
            if not spikes:
                return 0.0
            hits = sum(0 <= s - b <= within for s in spikes for b in boundaries)
            return hits / len(spikes)
        ''', "counts once"),
    ],
    "repetition_score": [
        ('''
        def repetition_score(tokens):
            tokens = list(tokens)
            return len(set(tokens)) / len(tokens) if tokens else 0.0
        ''', "distinct"),
        ('''
        from collections import Counter

        def repetition_score(tokens):
            tokens = list(tokens)
            return Counter(tokens).most_common(1)[0][1] if tokens else 0.0
        ''', "not its count"),
        ('''
        def repetition_score(tokens):
            tokens = list(tokens)
            return tokens.count(tokens[0]) / len(tokens) if tokens else 0.0
        ''', "not the first one"),
        ('''
        from collections import Counter

        def repetition_score(tokens):
            tokens = list(tokens)
            return Counter(tokens).most_common(1)[0][1] / len(tokens)
        ''', "empty"),
    ],
}

TestVariants = make_variant_tests("08_spike_cascade", CORRECT, MISTAKES)


def test_lesson_runs_top_to_bottom_quickly(monkeypatch):
    """Every code cell with the instructor's solutions, headless, in well under a minute."""
    import time

    from autograder import cells
    from tests.lessons.harness import _exec

    monkeypatch.setenv("GRADCLIP_WIDGETS", "0")
    nb = cells.load("08_spike_cascade")
    namespace = {"__name__": "__main__"}
    start = time.perf_counter()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            error = _exec(cell.source, namespace, cells.grade_id(cell) or f"#{index}")
            assert not error, f"cell #{index} failed: {error}"
    assert time.perf_counter() - start < 60
