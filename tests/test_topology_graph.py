"""The planner derives a topology's figures from the links of one domain
(planner.inputs.topology.domain_links) so that building it does not grow with
the number of domains. The whole graph (Topology.graph, networkx) is the
definition; here networkx's own algorithms on it are the oracle."""

import networkx as nx
import numpy as np
import pytest

from planner.inputs.datafiles import shipped_names
from planner.inputs.topology import build_topology, derive_domains, scale_up_group_bw


def _scale_up(g: nx.Graph) -> nx.Graph:
    return g.edge_subgraph((a, b) for a, b, k in g.edges(data="kind") if k == "scale_up")


@pytest.mark.parametrize("name", shipped_names("topologies"))
@pytest.mark.parametrize("domains", [1, 3])
def test_one_domain_figures_match_the_whole_graph(name, domains):
    t = build_topology(name, domains)
    g = t.graph
    assert derive_domains(g) == t.domains
    dom = t.domains[0]
    bw = lambda v, members=None: sum(  # noqa: E731
        a["bw"] for u, a in g.adj[("gpu", v)].items() if a["kind"] == "scale_up" and (members is None or u in members)
    )
    if len(dom) > 1:
        assert min(bw(i) for i in dom) == t.scale_up_bw_per_gpu
        lat = nx.single_source_dijkstra_path_length(_scale_up(g), ("gpu", dom[0]), weight="latency")
        assert max(lat[("gpu", i)] for i in dom[1:]) == pytest.approx(t.scale_up_latency_s, rel=1e-12)
    out = [a for _, _, a in g.edges(("gpu", dom[-1]), data=True) if a["kind"] == "scale_out"]
    assert [a["bw"] for a in out] == [t.scale_out_bw_per_gpu]
    assert 2 * out[0]["latency"] == pytest.approx(t.scale_out_latency_s, rel=1e-12)
    sizes = np.arange(1, len(dom) + 1)
    got = scale_up_group_bw(t, sizes)
    for n, value in zip(sizes, got):
        members = {("gpu", i) for i in dom[:n]}
        want = t.scale_up_bw_per_gpu if n == 1 or t.scale_up_kind == "switch" else min(
            t.scale_up_bw_per_gpu, min(bw(i, members) for i in dom[:n]))
        assert value == pytest.approx(want, rel=1e-12), (name, n)


def test_building_a_large_inventory_does_not_build_its_graph():
    t = build_topology("hgx-h100", 1024)
    assert t.n_gpus == 8192 and "graph" not in t.__dict__
