"""Where a fit's blocks live (logloss.placement.plan_storage), decided before any block is
computed: persist what fits, the workers' disks for the rest on a cluster, else stream."""

from __future__ import annotations

import dask.array as da
import pytest
from distributed import Client

from logloss.placement import StoragePlan, _disk_plan, plan_storage


def _X(rows: int = 1000, p: int = 4, chunk: int = 250) -> da.Array:
    return da.zeros((rows, p), chunks=(chunk, p))


def test_blocks_go_to_disk_in_block_order_once_one_does_not_fit():
    assert _disk_plan([3, 3, 3], 7) == [False, False, True]
    # after the first block that does not fit, every later one goes to disk, even small ones
    assert _disk_plan([3, 5, 1], 5) == [False, True, True]
    assert _disk_plan([3, 3], 0) == [True, True]


@pytest.mark.parametrize(
    ("storage", "budget", "want"),
    [
        ("auto", 1e12, "persist"),
        ("auto", 0.0, "stream"),
        ("disk", 1e12, "stream"),  # disk blocks need workers' local directories
        ("persist", 0.0, "persist"),
        ("stream", 1e12, "stream"),
    ],
)
def test_without_a_cluster(storage, budget, want):
    plan = plan_storage(_X(), weighted=False, storage=storage, memory_bytes=budget, client=None)
    assert plan.storage == want and not plan.per_worker and plan.on_disk == ()
    assert plan.row_bytes == 4 * 8 + 8
    assert plan.bytes_on_disk([250] * 4) == 0


def test_on_a_cluster_the_blocks_beyond_the_budget_go_to_disk():
    X = _X()  # 4 blocks of 250 rows × (4 float64 + y + weight) = 12,000 bytes each
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        plan = plan_storage(X, weighted=True, storage="auto", memory_bytes=25_000, client=c)
        assert isinstance(plan, StoragePlan)
        assert plan.storage == "disk" and plan.per_worker
        assert plan.on_disk == (False, False, True, True)
        assert plan.bytes_on_disk(X.chunks[0]) == 2 * 250 * 48
        fits = plan_storage(X, weighted=True, storage="auto", memory_bytes=1e9, client=c)
        assert fits.storage == "persist" and fits.per_worker and not any(fits.on_disk)
        assert fits.token != plan.token


def test_a_pass_groups_the_blocks_by_the_worker_holding_them():
    from logloss.blockdata import worker_groups

    keys = ["b0", "b1", "b2", "b3", "b4"]
    who = {"b0": ["w1"], "b1": ["w2"], "b2": ["w2", "w1"], "b3": ["w1"]}  # b4: held by none
    workers = {"w1": {"nthreads": 2}, "w2": {"nthreads": 1}}
    groups = worker_groups(keys, who, workers, [10, 10, 10, 10, 10])
    # w1 holds b0, b2 (its first holder, sorted) and b3: two threads, two runs of about
    # equal rows; w2 holds b1; the tasks in the order of their first block
    assert groups == [("w1", [0, 2]), ("w2", [1]), ("w1", [3]), ("", [4])]
