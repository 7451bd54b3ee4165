"""The links of one scale-up domain, and the graph of a whole inventory.

Every domain of a topology is a copy of the same links (:func:`domain_links`),
so the figures the cost model needs (per-GPU bandwidth, worst latency, the
bandwidth a group of GPUs gets) come from one domain and cost the same for 1 or
1,000 domains. :func:`build_graph` expands the whole inventory into a networkx
graph for those who want it (``Topology.graph``); a test checks that both
views agree on every shipped topology.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx loads only when the whole graph is asked for
    import networkx as nx


@dataclass(frozen=True)
class Fabric:
    """What every domain's links are made of: the file's shape with bandwidths in
    bytes/s and latencies in seconds (defaults from the efficiency file)."""

    kind: str  # switch | mesh | torus
    domain_gpus: int
    switches_per_domain: int  # switch only
    torus_dims: tuple[int, ...]  # torus only
    gpus_per_host: int
    up_bw_per_gpu: float  # bytes/s one direction, summed over a GPU's scale-up links
    up_latency_s: float  # one hop of the scale-up fabric
    out_bw_per_gpu: float  # bytes/s one direction
    out_latency_s: float  # GPU to GPU through the scale-out fabric


Node = tuple  # ("gpu", id) | ("switch", domain, k) | ("fabric",)
Link = tuple  # (node, node, bytes/s, latency s)


def domain_links(f: Fabric, j: int) -> list[Link]:
    """Scale-up links of domain ``j`` (GPUs j*n .. j*n+n-1)."""
    bw, lat, n = f.up_bw_per_gpu, f.up_latency_s, f.domain_gpus
    gpus = range(j * n, j * n + n)
    if f.kind == "switch":
        n_sw = f.switches_per_domain  # each GPU spreads its links evenly over the switches
        return [(("gpu", i), ("switch", j, s), bw / n_sw, lat / 2) for s in range(n_sw) for i in gpus]
    if f.kind == "mesh":
        return [(("gpu", a), ("gpu", b), bw / (n - 1), lat) for a in gpus for b in gpus if a < b]
    # torus: each chip links to its neighbours (+/-1, wrapping) in every dimension
    dims = list(f.torus_dims)
    links = sum(2 if d > 2 else 1 for d in dims if d > 1)
    coords = list(product(*[range(d) for d in dims]))
    index = {c: j * n + k for k, c in enumerate(coords)}
    out: dict[frozenset, Link] = {}  # a 2-ring's +1 and -1 neighbour is one link
    for c in coords:
        for axis, d in enumerate(dims):
            if d == 1:
                continue
            nb = list(c)
            nb[axis] = (c[axis] + 1) % d
            a, b = ("gpu", index[c]), ("gpu", index[tuple(nb)])
            out.setdefault(frozenset((a, b)), (a, b, bw / links, lat))
    return list(out.values())


@lru_cache(maxsize=64)
def _one_domain(f: Fabric) -> dict[Node, dict[Node, tuple[float, float]]]:
    """Adjacency of domain 0 over scale-up links: node -> neighbour -> (bytes/s, latency s)."""
    adj: dict[Node, dict[Node, tuple[float, float]]] = {("gpu", i): {} for i in range(f.domain_gpus)}
    for a, b, bw, lat in domain_links(f, 0):
        adj.setdefault(a, {})[b] = (bw, lat)
        adj.setdefault(b, {})[a] = (bw, lat)
    return adj


def build_graph(f: Fabric, n_domains: int) -> "nx.Graph":
    """Every domain's scale-up links, and one scale-out link per GPU to a shared fabric."""
    import networkx as nx

    g = nx.Graph()
    n = f.domain_gpus
    g.add_node(("fabric",), kind="scale_out_switch")
    for j in range(n_domains):
        for i in range(j * n, j * n + n):
            g.add_node(("gpu", i), kind="gpu", host=i // f.gpus_per_host)
        for a, b, bw, lat in domain_links(f, j):
            for v in (a, b):
                if v[0] == "switch":
                    g.add_node(v, kind="scale_up_switch")
            g.add_edge(a, b, kind="scale_up", bw=bw, latency=lat)
    for i in range(n * n_domains):
        g.add_edge(("gpu", i), ("fabric",), kind="scale_out", bw=f.out_bw_per_gpu, latency=f.out_latency_s / 2)
    return g


def derive_domains(g: "nx.Graph") -> tuple[tuple[int, ...], ...]:
    """Scale-up domains: connected components of the graph over scale-up links."""
    import networkx as nx

    up = nx.Graph()
    up.add_nodes_from(n for n, a in g.nodes(data=True) if a["kind"] != "scale_out_switch")
    up.add_edges_from((a, b) for a, b, k in g.edges(data="kind") if k == "scale_up")
    comps = []
    for comp in nx.connected_components(up):
        gpus = tuple(sorted(n[1] for n in comp if g.nodes[n]["kind"] == "gpu"))
        if gpus:
            comps.append(gpus)
    return tuple(sorted(comps))


def worst_latency(f: Fabric) -> float:
    """Worst GPU-to-GPU latency inside a domain over scale-up links (Dijkstra from
    GPU 0: every GPU of a switch, mesh or torus domain sees the same distances)."""
    adj = _one_domain(f)
    if f.domain_gpus == 1:
        return 0.0
    src = ("gpu", 0)
    dist, heap, done = {src: 0.0}, [(0.0, 0, src)], set()
    tie = 0  # heap entries never compare nodes
    while heap:
        d, _, v = heapq.heappop(heap)
        if v in done:
            continue
        done.add(v)
        for u, (_, lat) in adj[v].items():
            if u not in dist or d + lat < dist[u]:
                dist[u] = d + lat
                tie += 1
                heapq.heappush(heap, (d + lat, tie, u))
    return max(dist[("gpu", i)] for i in range(1, f.domain_gpus))


def up_bw_per_gpu(f: Fabric, members: frozenset | None = None) -> float:
    """Least scale-up bytes/s of a GPU of domain 0 (to ``members`` only, if given)."""
    adj = _one_domain(f)
    gpus = members if members is not None else [("gpu", i) for i in range(f.domain_gpus)]
    return min(sum(bw for u, (bw, _) in adj[v].items() if members is None or u in members) for v in gpus)


@lru_cache(maxsize=1024)
def group_bw(f: Fabric, n: int, per_gpu: float) -> float:
    """Bytes/s per GPU inside a group of the first ``n`` GPUs of a domain (at most ``per_gpu``)."""
    if n == 1:
        return per_gpu
    return min(per_gpu, up_bw_per_gpu(f, frozenset(("gpu", i) for i in range(n))))
