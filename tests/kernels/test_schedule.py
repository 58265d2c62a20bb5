"""Thread schedules order the threads of a block between barriers."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels.schedule import current, parse

from .conftest import kernel

SRC = r'''
extern "C" __global__ void k_ticket(int* order, int* counter) {
    order[threadIdx.x] = atomicAdd(counter, 1);
}
extern "C" __global__ void k_ticket_phases(int* order, int* counter) {
    order[threadIdx.x] = atomicAdd(&counter[0], 1);
    __syncthreads();
    order[blockDim.x + threadIdx.x] = atomicAdd(&counter[1], 1);
}
'''


def tickets(name="k_ticket", n=8):
    order = np.zeros(2 * n, np.int32)
    counter = np.zeros(2, np.int32)
    kernel(SRC, name)((1,), (n,), (order, counter))
    return order


def test_forward_is_the_default():
    assert current().spec == "forward"
    assert tickets()[:8].tolist() == list(range(8))


def test_reverse_and_random_orders():
    with kernels.schedule("reverse"):
        assert tickets()[:8].tolist() == list(range(7, -1, -1))
    with kernels.schedule("random:3"):
        a = tickets()[:8]
    with kernels.schedule("random:3"):
        b = tickets()[:8]
    assert sorted(a.tolist()) == list(range(8)) and a.tolist() == b.tolist()
    assert a.tolist() != list(range(8))


def test_random_reshuffles_after_each_barrier():
    with kernels.schedule("random:5"):
        order = tickets("k_ticket_phases", 32)
    assert order[:32].tolist() != order[32:].tolist()


def test_schedules_also_apply_to_fibered_kernels_in_reverse():
    with kernels.schedule("reverse"):
        order = tickets("k_ticket_phases", 8)
    assert order.tolist() == list(range(7, -1, -1)) * 2


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("KERNELS_SCHEDULE", "reverse")
    assert tickets()[:8].tolist() == list(range(7, -1, -1))
    with kernels.schedule("forward"):  # the context manager wins
        assert tickets()[:8].tolist() == list(range(8))


def test_parse():
    assert parse("random:12").seed == 12 and parse("random:12").spec == "random:12"
    s = parse("random")
    assert s.spec == f"random:{s.seed}"
    for bad in ("sideways", "forward:3", "random:x"):
        with pytest.raises(ValueError):
            parse(bad)
