"""Hidden tests of lesson 05 (three kernels), run outside the learner's kernel.

The three kernel exercises are CUDA C strings: data. Each hidden test reads the string
(`learner.value`) and hands it to a check of `autograder.kernel_grading` run as a job in a
sandbox of its own (`autograder.sandbox.job.run_job`): the learner's kernel is compiled and
run there, never in this process, and one job runs every launch of the check.

The launcher is learner Python: it runs in the learner's kernel, through the course
scenario `course.launch_log.observe_launcher`, with the reference kernels (sources from
`autograder/cuda/grad_clip.cu`, passed as data) in place of the learner's. That is safe to
show the learner's process because hidden tests run only after the whole notebook has run:
nothing seen during one can reach a notebook output or the feedback. The numbers that come
back are judged here against float64 NumPy; the launch log is observed in the learner's
process (`course.launch_log`: a deliberate forger could fake it, not the numbers).
"""

from __future__ import annotations

from ..kernel_grading import launcher as launcher_checks
from ..reference import three_kernels as ref
from ..sandbox.job import JobFailed, run_job
from ..verdict import hidden_test

#: Seconds one kernel check may take in its sandbox (compiling included).
JOB_TIMEOUT = 240
LAUNCHER = "clip_grad_norm_kernels"


def kernel_source(learner, exercise: str) -> str:
    """The learner's `exercise` variable, which must be a string of CUDA C."""
    source = learner.value(exercise)
    if not isinstance(source, str):
        kind = type(source).__name__ if source is not None else "None"
        raise AssertionError(f"`{exercise}` should be a string holding your CUDA C source "
                             f"(`{exercise} = r\"\"\"...\"\"\"`), but it is {kind}")
    return source


def sandboxed_check(target: str, learner, exercise: str, rng) -> None:
    """Run the check `autograder.kernel_grading.<target>` on the learner's source in a
    sandbox of its own; an AssertionError for the learner when it fails."""
    source = kernel_source(learner, exercise)
    payload = {"source": source, "seed": int(rng.integers(2**31))}
    try:
        result = run_job(f"autograder.kernel_grading.{target}", payload, timeout=JOB_TIMEOUT)
    except JobFailed as exc:
        raise AssertionError(
            f"checking `{exercise}` stopped before it finished ({exc}). Your kernel may run "
            "for too long (an endless loop: a loop bound that never changes, a barrier not "
            "every thread reaches) or crash the process that runs it.") from None
    if not result.get("ok"):
        message = str(result.get("message") or "the check failed")
        if result.get("type") not in (None, "AssertionError"):
            message = f"`{exercise}`: {message}"
        raise AssertionError(message)


@hidden_test("test_K_GRAD_NORM_PARTIAL_hidden")
def k_grad_norm_partial(learner, rng):
    sandboxed_check("partial:check_partial_kernel", learner, "K_GRAD_NORM_PARTIAL", rng)


@hidden_test("test_K_GRAD_NORM_FINAL_hidden")
def k_grad_norm_final(learner, rng):
    sandboxed_check("final:check_final_kernel", learner, "K_GRAD_NORM_FINAL", rng)


@hidden_test("test_K_GRAD_SCALE_hidden")
def k_grad_scale(learner, rng):
    sandboxed_check("scale:check_scale_kernel", learner, "K_GRAD_SCALE", rng)


@hidden_test("test_clip_grad_norm_kernels_hidden")
def clip_grad_norm_kernels(learner, rng):
    cases = launcher_checks.launcher_cases(rng) + launcher_checks.poison_cases(rng)
    hosts = [launcher_checks.grads_for(rng, case) for case in cases]
    sent = []
    for case, host in zip(cases, hosts):
        max_norm, _, _ = launcher_checks.expected(host, case.factor)
        sent.append({"grads": [h.copy() for h in host], "max_norm": max_norm,
                     "threads": case.threads, "poison": case.poison})
    observations = learner.scenario(
        "course.launch_log:observe_launcher", LAUNCHER, sent,
        substitute={name: getattr(ref, var) for var, name in ref.KERNEL_NAMES.items()},
        lend={var: getattr(ref, var) for var in ref.KERNEL_NAMES})
    if not isinstance(observations, list):
        raise AssertionError(f"`{LAUNCHER}` could not be observed: the reply was "
                             f"{type(observations).__name__}")
    launcher_checks.judge(cases, hosts, observations, name=LAUNCHER,
                          seed=getattr(rng, "seed", "?"))
