"""course.distributed: real gloo process groups on loopback, and runs that always end."""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.distributed as dist

from autograder.reference import beyond_global_norm as ref
from course import distributed


def test_free_port_is_on_loopback_and_bindable():
    port = distributed.free_port()
    assert distributed.HOST == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))  # free: nobody kept it


@pytest.mark.parametrize("world", [2, 3, 4])
def test_reference_equals_single_process_clip_of_the_concatenation(world):
    gen = torch.Generator().manual_seed(world)
    grads = [torch.randn(5, 3, generator=gen), torch.randn(7, generator=gen) * 4]
    shards = distributed.split_flat(grads, world)
    obs = distributed.run_sharded(ref.sharded_clip_grad_norm_, shards, 1.5, timeout=60)
    assert obs["raised"] == [None] * world
    whole = torch.cat([g.reshape(-1) for g in grads])
    param = torch.nn.Parameter(torch.zeros_like(whole))
    param.grad = whole.clone()
    norm = torch.nn.utils.clip_grad_norm_([param], 1.5)
    for rank in range(world):
        torch.testing.assert_close(obs["norms"][rank], norm, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.cat([s[0] for s in obs["shards"]]), param.grad,
                               rtol=1e-5, atol=1e-7)


def test_groups_reduce_within_each_group():
    shards = [[torch.tensor([3.0, 4.0])], [], [torch.tensor([12.0])], [torch.tensor([5.0])]]
    obs = distributed.run_sharded(ref.sharded_clip_grad_norm_, shards, 1.0,
                                  groups=[[0, 1], [2, 3]], timeout=60)
    assert [float(n) for n in obs["norms"]] == pytest.approx([5.0, 5.0, 13.0, 13.0])


def test_plain_clip_per_rank_is_off_by_sqrt_world():
    def plain(local_grads, max_norm, group=None):
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in local_grads]
        for p, g in zip(params, local_grads):
            p.grad = g
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    shards = [[torch.full((4,), 2.0)] for _ in range(4)]
    obs = distributed.run_sharded(plain, shards, 1.0, timeout=60)
    whole = torch.cat([s[0] for s in obs["shards"]])
    assert float(whole.norm()) == pytest.approx(2.0)  # sqrt(4) * max_norm


def test_a_hung_rank_is_stopped_and_named():
    def hang(local_grads, max_norm, group=None):
        if dist.get_rank() == 0:
            dist.all_reduce(torch.zeros(()))
        else:
            time.sleep(600)
        return torch.zeros(())

    start = time.monotonic()
    with pytest.raises(distributed.DistributedRunError, match="did not finish within 3 s"):
        distributed.run_sharded(hang, [[torch.ones(2)], [torch.ones(2)]], 1.0, timeout=3)
    assert time.monotonic() - start < 20


def test_an_exception_on_a_rank_comes_back_as_data():
    def boom(local_grads, max_norm, group=None):
        if dist.get_rank() == 1:
            raise ValueError("rank one says no")
        return torch.zeros(())

    obs = distributed.run_sharded(boom, [[torch.ones(1)], [torch.ones(1)]], 1.0, timeout=30)
    assert obs["raised"][0] is None
    assert obs["raised"][1] == "ValueError: rank one says no"


def test_fsdp2_clip_grad_norm_is_global_on_cpu():
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    y = torch.randn(16, 1, generator=torch.Generator().manual_seed(1))
    recipe = ("course.models.TinyMLP", (), {"seed": 0})
    replies = distributed.run_fsdp2_clip(recipe, x, y, 0.1, world_size=2, timeout=90)
    from course.models import TinyMLP

    single = TinyMLP(seed=0)
    torch.nn.functional.mse_loss(single(x), y).backward()
    norm = float(torch.nn.utils.clip_grad_norm_(single.parameters(), 0.1))
    for r in replies:
        assert r["dtensor_grads"]
        assert r["torch_norm"] == pytest.approx(norm, rel=1e-5)
        assert r["local_norm"] < norm
