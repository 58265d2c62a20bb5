"""The exercise contract: lesson id -> exercise id -> kind, as fixed by the curriculum.

Graders outside the notebooks fill a solution cell by its exercise id and autograde, so
these ids never change (lessons may add exercises). Kinds: "code" (an autograded
solution cell defining that name) or "markdown" (a manually graded written answer).
tests/lessons/test_lesson_sources.py checks every lesson that exists against this table
(and that each written answer carries a `RUBRIC`).
Transcribed from the curriculum's contract tables.
"""

from __future__ import annotations

CODE, MARKDOWN = "code", "markdown"

#: A written (markdown) answer's solution cell holds the model answer and the rubric it is
#: graded by, headed by this word (docs/authoring.md).
RUBRIC = "Rubric"

CONTRACT: dict[str, dict[str, str]] = {
    "01_spike_sources": {
        "per_example_grad_norms": CODE,
        "spike_steps": CODE,
        "stable_softmax_fp16": CODE,
        "smallest_overflowing_logit": CODE,
    },
    "02_global_vs_per_tensor": {
        "global_l2_norm": CODE,
        "clip_by_global_norm": CODE,
        "clip_per_tensor": CODE,
        "flat_cosine": CODE,
        "clip_grad_norm_": CODE,
        "why_direction": MARKDOWN,
    },
    "03_scale_factor": {
        "clip_scale": CODE,
        "scale_a": CODE,
        "norm_after_b": CODE,
        "scale_c": CODE,
        "norm_after_c": CODE,
        "max_param_step_sgd": CODE,
        "guard_reduction_factor": CODE,
        "clipped_fraction": CODE,
    },
    "04_adam_after_a_spike": {
        "adam_moments": CODE,
        "m_trace_after_spike": CODE,
        "steps_to_recover": CODE,
        "adam_step_sizes": CODE,
        "moments_with_clipping": CODE,
    },
    "05_three_kernels": {
        "K_GRAD_NORM_PARTIAL": CODE,
        "K_GRAD_NORM_FINAL": CODE,
        "K_GRAD_SCALE": CODE,
        "clip_grad_norm_kernels": CODE,
        "why_three_kernels": MARKDOWN,
    },
    "06_clipping_in_practice": {
        "accumulate_and_clip_": CODE,
        "kronos_rows_per_step": CODE,
        "amp_clip_step": CODE,
        "per_component_clip_": CODE,
        "framework_clip_kwargs": CODE,
        "why_clip_after_accumulation": MARKDOWN,
    },
    "07_beyond_global_norm": {
        "autoclip_threshold": CODE,
        "zclip_clipped_norms": CODE,
        "agc_": CODE,
        "dual_norm": CODE,
        "sharded_clip_grad_norm_": CODE,
        "which_method": MARKDOWN,
    },
    "08_spike_cascade": {
        "phase_boundaries": CODE,
        "spikes_near_boundaries": CODE,
        "repetition_score": CODE,
    },
}


def exercises(lesson_id: str) -> dict[str, str]:
    """The contract's exercises of `lesson_id` (empty for a lesson the contract omits)."""
    return dict(CONTRACT.get(lesson_id, {}))
