"""Real `torch.distributed` on one CPU: a few processes, gloo, a loopback port.

Lesson 07 runs a function that clips a *sharded* gradient (each process holds a piece)
in several real processes and looks at what each one returned and left behind:

    obs = run_sharded(sharded_clip_grad_norm_, shards=[[g0], [g1, g2]], max_norm=0.5)
    obs["norms"]      # what each rank returned, in rank order
    obs["shards"]     # each rank's gradient tensors after the call

How it works: the calling process (your Jupyter kernel) *forks* one worker per rank, so
a function you defined in a notebook cell reaches the workers as it is, with every
helper and import it uses (nothing is pickled or re-imported). Each worker joins a gloo
process group on a free TCP port of 127.0.0.1, receives its own shard through a pipe,
calls the function, and sends back what it returned and its tensors as they are after
the call. The launcher waits at most `timeout` seconds in all: a rank that has not
answered by then (stuck in a collective that another rank never joined, say) is killed
with the others and reported, so a run always ends.

This module is part of the learner-side `course` package and holds no answers.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import sys
import time
import traceback
from datetime import timedelta
from typing import Any, Callable, Sequence

import torch

#: Where every process group of this module listens: loopback only, never a network.
HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 60.0


class DistributedRunError(RuntimeError):
    """The ranks did not all finish: the message says which and why."""


def free_port(host: str = HOST) -> int:
    """A TCP port of `host` that is free now (bound with port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _send(conn, obj: Any) -> None:
    # Plain pickle, by value: torch registers shared-memory reductions with
    # multiprocessing's own pickler, which would need /dev/shm and a live sender.
    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn) -> Any:
    return pickle.loads(conn.recv_bytes())


def _child_main(rank: int, world_size: int, port: int, conn, fn: Callable, timeout: float) -> None:
    """One rank: join the group, receive the job, run it, send back what it saw."""
    import torch.distributed as dist

    # This process is a fork of the caller (a Jupyter kernel, say): leave the caller's
    # output streams alone. C++ warnings (c10d, gloo) go to the file descriptors, Python's
    # to sys.stdout/sys.stderr: both to /dev/null, what the job prints is captured and sent
    # back; and the process ends with os._exit, without the caller's exit handlers.
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives until os._exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    reply: dict[str, Any] = {"rank": rank}
    captured = io.StringIO()
    try:
        torch.set_num_threads(1)  # no intra-op pool in a forked child
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            dist.init_process_group("gloo", init_method=f"tcp://{HOST}:{port}", rank=rank,
                                    world_size=world_size,
                                    timeout=timedelta(seconds=max(1.0, timeout)))
            try:
                job = _recv(conn)
                reply.update(job["run"](fn, rank, world_size, **job["kwargs"]))
            finally:
                with contextlib.suppress(Exception):
                    dist.destroy_process_group()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as data
        reply["raised"] = f"{type(exc).__name__}: {exc}"
        reply["traceback"] = traceback.format_exc(limit=6)
    reply["output"] = captured.getvalue()[-4000:]
    try:
        _send(conn, reply)
    except Exception as exc:  # noqa: BLE001 - e.g. a return value that cannot be pickled
        _send(conn, {"rank": rank, "raised": f"the result could not be sent back: {exc}",
                     "output": reply.get("output", "")})
    conn.close()
    os._exit(0)


def launch(fn: Callable, run: Callable[..., dict], per_rank_kwargs: Sequence[dict], *,
           timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Run `run(fn, rank, world_size, **per_rank_kwargs[rank])` in one forked process per
    rank, inside a gloo process group; the replies in rank order.

    Every reply is a dict; it holds `"raised"` ("Type: message") if that rank raised, and
    `"output"` (what it printed). Raises DistributedRunError if some rank did not answer
    within `timeout` seconds (all ranks are killed then) or died without answering.
    """
    world_size = len(per_rank_kwargs)
    if not 1 <= world_size <= 8:
        raise ValueError(f"`per_rank_kwargs` must describe 1 to 8 ranks, got {world_size}")
    ctx = multiprocessing.get_context("fork")
    port = free_port()
    procs, conns = [], []
    for rank in range(world_size):
        parent_end, child_end = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_child_main, name=f"gradclip-rank{rank}",
                           args=(rank, world_size, port, child_end, fn, timeout), daemon=True)
        proc.start()
        child_end.close()
        procs.append(proc)
        conns.append(parent_end)
    replies: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    try:
        for rank, conn in enumerate(conns):
            _send(conn, {"run": run, "kwargs": dict(per_rank_kwargs[rank])})
        pending = {conn: rank for rank, conn in enumerate(conns)}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for conn in multiprocessing.connection.wait(list(pending), timeout=left):
                rank = pending.pop(conn)
                try:
                    replies[rank] = _recv(conn)
                except (EOFError, OSError):
                    code = procs[rank].exitcode
                    replies[rank] = {"rank": rank, "died": True,
                                     "raised": f"the process of rank {rank} ended without an "
                                               f"answer (exit code {code})"}
    finally:
        for proc in procs:
            if proc.is_alive():
                with contextlib.suppress(Exception):
                    os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.join(timeout=5)
        for conn in conns:
            conn.close()
    missing = [r for r in range(world_size) if r not in replies]
    if missing:
        raised = [f"rank {r} raised {replies[r]['raised']}" for r in sorted(replies)
                  if "raised" in replies[r]]
        why = ("; before that, " + "; ".join(raised)) if raised else (
            ": every rank must join every collective (an all_reduce that one rank skips, or a "
            "different number of collectives per rank, waits forever)")
        ranks = ", ".join(str(r) for r in missing)
        raise DistributedRunError(f"rank{'s' if len(missing) > 1 else ''} {ranks} did not finish "
                                  f"within {timeout:g} s and {'were' if len(missing) > 1 else 'was'} "
                                  f"stopped{why}")
    return [replies[r] for r in range(world_size)]


# -- the sharded-clip scenario ---------------------------------------------------------------

def _sharded_job(fn: Callable, rank: int, world_size: int, *, grads: list, max_norm: float,
                 groups: list | None) -> dict:
    import torch.distributed as dist

    group = None
    if groups is not None:
        made = [dist.new_group(ranks=list(g)) for g in groups]  # every rank creates every group
        group = next(made[i] for i, g in enumerate(groups) if rank in g)
    local = [g.clone() for g in grads]
    originals = list(local)
    returned = fn(local, max_norm) if group is None else fn(local, max_norm, group=group)
    if isinstance(returned, torch.Tensor):
        returned = returned.detach().clone()
    return {"returned": returned, "grads": [g.detach().clone() for g in originals],
            "list_after": len(local)}


def run_sharded(fn: Callable, shards: Sequence[Sequence[torch.Tensor]], max_norm: float, *,
                groups: Sequence[Sequence[int]] | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Call `fn(local_grads, max_norm)` on rank r with `local_grads` a list of clones of
    `shards[r]`, in `len(shards)` real processes (gloo, loopback).

    `groups` (optional): a partition of the ranks, e.g. `[[0, 1], [2, 3]]`; every rank
    creates each group with `dist.new_group` and calls `fn(local_grads, max_norm,
    group=<its own group>)`.

    Returns `{"world_size", "norms": [what each rank returned], "shards": [each rank's
    tensors after the call (the very tensors it was given: a list entry replaced by a
    new tensor does not count as clipping in place)], "raised": [None or "Type:
    message" per rank], "output": [what each rank printed]}`. Raises
    DistributedRunError naming the ranks that did not finish within `timeout` seconds.
    """
    shards = [list(s) for s in shards]
    for r, shard in enumerate(shards):
        for g in shard:
            if not isinstance(g, torch.Tensor):
                raise TypeError(f"`shards[{r}]` must hold tensors, got {type(g).__name__}")
    if groups is not None:
        groups = [list(map(int, g)) for g in groups]
        flat = sorted(r for g in groups for r in g)
        if flat != list(range(len(shards))):
            raise ValueError(f"`groups` must split the ranks 0..{len(shards) - 1} into groups, "
                             f"got {groups}")
    per_rank = [{"grads": [g.detach().clone() for g in shard], "max_norm": float(max_norm),
                 "groups": groups} for shard in shards]
    replies = launch(fn, _sharded_job, per_rank, timeout=timeout)
    return {"world_size": len(shards),
            "norms": [r.get("returned") for r in replies],
            "shards": [r.get("grads") for r in replies],
            "raised": [r.get("raised") for r in replies],
            "output": [r.get("output", "") for r in replies]}


def split_flat(grads: Sequence[torch.Tensor], world_size: int) -> list[list[torch.Tensor]]:
    """Shard a list of gradients the way FSDP does (roughly): every tensor flattened, laid
    end to end and cut into `world_size` contiguous pieces of near-equal length; rank r
    gets its piece (one 1-D tensor, possibly empty)."""
    flat = torch.cat([g.reshape(-1) for g in grads]) if grads else torch.zeros(0)
    return [[piece.clone()] for piece in torch.tensor_split(flat, world_size)]


# -- PyTorch's own distributed answer ------------------------------------------------------------

def _fsdp2_job(fn: Callable, rank: int, world_size: int, *, recipe: tuple, x: torch.Tensor,
               y: torch.Tensor, max_norm: float) -> dict:
    """FSDP2 (`fully_shard`) on CPU: one backward, then torch's own clip_grad_norm_ on the
    sharded (DTensor) gradients; what it returned, and what a plain local norm says."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    from course import wire

    model = wire.resolve(recipe[0])(*recipe[1], **recipe[2])
    mesh = init_device_mesh("cpu", (world_size,))
    for layer in getattr(model, "layers", []):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    torch.nn.functional.mse_loss(model(x), y).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    is_dtensor = all(isinstance(g, DTensor) for g in grads)
    local = [g.to_local() if isinstance(g, DTensor) else g for g in grads]
    local_norm = float(torch.sqrt(sum((t.double() ** 2).sum() for t in local)))
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if isinstance(total, DTensor):
        total = total.full_tensor()
    after = [g.full_tensor() if isinstance(g, DTensor) else g for g in
             (p.grad for p in model.parameters() if p.grad is not None)]
    return {"dtensor_grads": is_dtensor, "torch_norm": float(total), "local_norm": local_norm,
            "clipped_full": [t.detach().clone() for t in after]}


def run_fsdp2_clip(recipe: tuple, x: torch.Tensor, y: torch.Tensor, max_norm: float,
                   world_size: int = 2, *, timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Train step + `torch.nn.utils.clip_grad_norm_` under FSDP2 in `world_size` CPU
    processes; `recipe` = (import path, args, kwargs) of the model (built identically on
    every rank). Raises what the ranks raised if FSDP2 does not run here."""
    replies = launch(None, _fsdp2_job, [{"recipe": recipe, "x": x, "y": y,
                                         "max_norm": float(max_norm)}] * world_size,
                     timeout=timeout)
    failed = [r for r in replies if "raised" in r]
    if failed:
        raise DistributedRunError(f"FSDP2 on CPU failed on rank {failed[0]['rank']}: "
                                  f"{failed[0]['raised']}")
    return replies
