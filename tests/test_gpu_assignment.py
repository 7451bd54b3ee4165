"""Concrete GPU ids for the replicas the search placed (plan.assembly.assign_gpus):
engines run the same number of ranks on every node of an instance, so a replica that
fits on one host stays on one host, and one larger than a host takes whole hosts."""

from planner.inputs.topology import build_topology
from planner.plan.assembly import assign_gpus


def hosts_of(ids, per_host):
    return sorted({g // per_host for g in ids})


def test_pieces_keep_to_whole_hosts_whatever_order_the_pools_come_in():
    """GB200 NVL72 (4-GPU trays): ten 2-GPU prefill replicas, one 1-GPU replica, then
    four 4-GPU decode replicas and one 8-GPU replica. Placed in that order GPU after GPU
    the decode replicas would start at GPU 21 and straddle trays 3 + 1."""
    topo = build_topology("gb200-nvl72")
    per = topo.gpus_per_host
    out = assign_gpus(topo, [[10], [1], [4], [1]], [2, 1, 4, 8], [10, 1, 4, 1])
    for replica in out[0] + out[2]:
        assert len(hosts_of(replica, per)) == 1, replica
    assert len(out[3][0]) == 8 and len(hosts_of(out[3][0], per)) == 2
    every = [g for option in out for replica in option for g in replica]
    assert len(every) == len(set(every)) == 10 * 2 + 1 + 4 * 4 + 8


def test_a_tray_with_a_gpu_down_takes_the_small_pieces():
    """GPU 1 down: the 3-GPU tray 0 holds the 2- and 1-GPU pieces; the 4-GPU pieces
    take full trays."""
    from planner.inputs.query import Query
    from planner.api import load

    _, topo = load("deepseek-v3", "gb200-nvl72", Query(unavailable_gpus=(1,)))
    per = topo.gpus_per_host
    out = assign_gpus(topo, [[2], [1], [1]], [4, 2, 1], [2, 1, 1])
    assert all(len(hosts_of(r, per)) == 1 and 0 not in hosts_of(r, per) for r in out[0])
    assert hosts_of(out[1][0] + out[2][0], per) == [0]
    assert 1 not in {g for option in out for r in option for g in r}
