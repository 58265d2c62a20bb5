"""Hidden tests of lesson 08 (the spike cascade), run outside the learner's kernel."""

from __future__ import annotations

from .. import checks
from ..reference import spike_cascade as ref
from ..verdict import hidden_test


@hidden_test("test_phase_boundaries_hidden")
def phase_boundaries(learner, rng):
    f = learner.function("phase_boundaries")
    hint = ("Each phase begins where the one before it ends; the first phase (step 0) and the "
            "end of the last phase are not boundaries.")
    for n in list(range(0, 4)) + [int(k) for k in rng.integers(4, 40, size=12)]:
        lengths = [int(x) for x in rng.choice([7, 14, 21, 28, 42], size=n)]
        got = checks.same_as_reference(f, ref.phase_boundaries, (lengths,),
                                       name="phase_boundaries", hint=hint)
        checks.assert_type(got, list, name=f"phase_boundaries({lengths})")
    lengths = tuple(int(x) for x in rng.integers(1, 9, size=6))
    checks.same_as_reference(f, ref.phase_boundaries, (lengths,),
                             name="phase_boundaries", hint="a tuple of lengths works like a list")
    # unequal, non-multiple lengths: an off-by-one or a reordering cannot agree by accident
    for lengths in ([3, 1, 4, 1, 5], [1, 1], [100, 1, 2]):
        checks.same_as_reference(f, ref.phase_boundaries, (lengths,),
                                 name="phase_boundaries", hint=hint)


@hidden_test("test_spikes_near_boundaries_hidden")
def spikes_near_boundaries(learner, rng):
    f = learner.function("spikes_near_boundaries")
    hint = ("Count a spike s when some boundary b has 0 <= s - b <= within (b itself and "
            "up to `within` steps after; not before), once per spike, and divide by the number "
            "of spikes.")
    for _ in range(30):
        steps = int(rng.integers(20, 300))
        boundaries = sorted(int(b) for b in rng.choice(steps, size=int(rng.integers(0, 12)),
                                                       replace=False))
        spikes = sorted(int(s) for s in rng.integers(0, steps, size=int(rng.integers(1, 25))))
        within = int(rng.integers(0, 6))
        checks.same_as_reference(f, ref.spikes_near_boundaries, (spikes, boundaries, within),
                                 name="spikes_near_boundaries", hint=hint)
        checks.same_as_reference(f, ref.spikes_near_boundaries, (spikes, boundaries),
                                 name="spikes_near_boundaries", hint=hint + " (default within=3)")
    checks.same_as_reference(f, ref.spikes_near_boundaries, ([], [3, 9]),
                             name="spikes_near_boundaries", hint="no spikes gives 0.0")
    checks.same_as_reference(f, ref.spikes_near_boundaries, ([4, 5], []),
                             name="spikes_near_boundaries",
                             hint="no boundaries: no spike is near one")
    checks.same_as_reference(f, ref.spikes_near_boundaries, ([5, 5, 40], [4, 5]),
                             name="spikes_near_boundaries", hint="repeated spike steps each count")
    # exactly `within` after (counts), one step before (does not), two boundaries near one
    # spike (counted once), more boundaries than spikes (divide by the spikes)
    for args in (([7, 12], [4, 13], 3), ([10], [8, 9, 10, 11], 2), ([2, 30, 31], [1, 5, 9, 28], 3)):
        checks.same_as_reference(f, ref.spikes_near_boundaries, args,
                                 name="spikes_near_boundaries", hint=hint)


@hidden_test("test_repetition_score_hidden")
def repetition_score(learner, rng):
    f = learner.function("repetition_score")
    hint = "the count of the most frequent token divided by the number of tokens (0.0 if empty)"
    for _ in range(25):
        n = int(rng.integers(1, 200))
        vocab = int(rng.integers(1, 20))
        tokens = [int(x) for x in rng.integers(0, vocab, size=n)]
        checks.same_as_reference(f, ref.repetition_score, (tokens,),
                                 name="repetition_score", hint=hint)
    checks.same_as_reference(f, ref.repetition_score, ([],),
                             name="repetition_score", hint="an empty sequence scores 0.0")
    checks.same_as_reference(f, ref.repetition_score, (tuple(b"aaab   "),),
                             name="repetition_score", hint="a tuple of byte values works like a list")
    # the most frequent token is neither the first nor the last one
    checks.same_as_reference(f, ref.repetition_score, ([1, 2, 3, 3, 3, 2, 4],),
                             name="repetition_score", hint=hint)
