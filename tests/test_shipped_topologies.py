"""Every shipped topology and accelerator file loads and passes physical sanity checks.

These tests read the real files under topologies/ and hardware/accelerators/,
so a typo or a unit slip (bidirectional vs one-way, sparse vs dense) in a data
file fails here rather than silently skewing a plan.
"""

from __future__ import annotations

import re

import pytest

from planner.inputs import units
from planner.inputs.datafiles import read_yaml, resolve, shipped_names
from planner.inputs.hardware import AcceleratorFile, load_accelerator
from planner.inputs.schema import validate
from planner.inputs.topology import TopologyFile, build_topology

TOPOLOGIES = shipped_names("topologies")
ACCELERATORS = shipped_names("hardware", sub="accelerators")

# Intended scale-up domain size of each known file (GPUs, or packages for Rubin).
# Note the NVL names: "nvl144" counts dies of 72 packages, "nvl576" dies of 144 packages.
INTENDED_DOMAIN = {
    "hgx-h100": 8,
    "hgx-h200": 8,
    "hgx-b200": 8,
    "gb200-nvl72": 72,
    "gb300-nvl72": 72,
    "vr200-nvl144": 72,
    "rubin-ultra-nvl576": 144,
    "mi300x-8": 8,
    "mi325x-8": 8,
    "mi355x-8": 8,
    "tpu-v5p-pod": 64,
}

# NVIDIA generations, oldest first: HBM bandwidth per GPU never goes down.
# (name, strictly greater than the previous one?)
NVIDIA_ORDER = [
    ("h100-sxm", False),
    ("h200-sxm", True),
    ("b200", True),
    ("gb200", False),
    ("gb300", False),
    ("vr200", False),
    ("rubin-ultra", False),
]

# Known gaps in files owned by others: the number is not restated in its source string.
# strict=True: once the file is fixed the xfail turns into a failure, so drop the entry.
KNOWN_SOURCE_GAPS: set[tuple[str, str]] = set()


def _spec(name: str) -> TopologyFile:
    path = resolve("topologies", name)
    return validate(TopologyFile, read_yaml(path).data, path)


def _acc_spec(name: str) -> AcceleratorFile:
    path = resolve("hardware", name, sub="accelerators")
    return validate(AcceleratorFile, read_yaml(path).data, path)


# --------------------------------------------------------------------------- topologies


def test_expected_files_are_shipped():
    missing = sorted(set(INTENDED_DOMAIN) - set(TOPOLOGIES))
    assert not missing, f"topologies missing: {missing}"


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_topology_loads_and_domain_size_matches(name):
    topo = build_topology(name)
    spec = _spec(name)
    assert topo.n_domains == spec.domains
    # the graph-derived domain equals what the file describes ...
    assert topo.domain_size == spec.scale_up.domain_gpus
    assert all(len(d) == spec.scale_up.domain_gpus for d in topo.domains)
    assert topo.n_gpus == spec.domains * spec.scale_up.domain_gpus
    # ... and what the file is meant to be
    if name in INTENDED_DOMAIN:
        assert topo.domain_size == INTENDED_DOMAIN[name]


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_domain_count_scales(name):
    topo = build_topology(name, n_domains=3)
    assert topo.n_domains == 3
    assert topo.n_gpus == 3 * topo.domain_size


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_scale_up_bandwidth_matches_file(name):
    topo = build_topology(name)
    spec = _spec(name)
    assert topo.scale_up_bw_per_gpu == pytest.approx(spec.scale_up.bw_per_gpu_gb_per_s * units.GB)
    assert topo.scale_out_bw_per_gpu == pytest.approx(spec.scale_out.nic_gbit_per_s_per_gpu * units.GBIT)


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_scale_out_is_slower_than_scale_up(name):
    topo = build_topology(name)
    assert 0 < topo.scale_out_bw_per_gpu < topo.scale_up_bw_per_gpu


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_alltoall_bandwidth_by_fabric_kind(name):
    topo = build_topology(name)
    if topo.scale_up_kind == "torus":
        # bisection-bound: strictly below the chip's link bandwidth
        assert 0 < topo.alltoall_bw_per_gpu < topo.scale_up_bw_per_gpu
    else:
        # a switch or full mesh lets every GPU send at its full rate
        assert topo.alltoall_bw_per_gpu == pytest.approx(topo.scale_up_bw_per_gpu)


def _scale_up_neighbours(topo, gpu: int) -> list:
    return [b for _, b, k in topo.graph.edges(("gpu", gpu), data="kind") if k == "scale_up"]


@pytest.mark.parametrize("name", [n for n in TOPOLOGIES if _spec(n).scale_up.kind == "mesh"])
def test_mesh_is_fully_connected_without_switch(name):
    topo = build_topology(name)
    n = topo.domain_size
    assert not [v for v, k in topo.graph.nodes(data="kind") if k == "scale_up_switch"]
    for gpu in topo.domains[0]:
        nbrs = _scale_up_neighbours(topo, gpu)
        assert len(nbrs) == n - 1  # AMD 8-GPU UBB: 7 Infinity Fabric links per GPU
        assert all(v[0] == "gpu" for v in nbrs)


@pytest.mark.parametrize("name", [n for n in TOPOLOGIES if _spec(n).scale_up.kind == "torus"])
def test_torus_neighbours_and_hops(name):
    topo = build_topology(name)
    dims = [d for d in _spec(name).scale_up.torus_dims if d > 1]
    links = sum(2 if d > 2 else 1 for d in dims)
    for gpu in topo.domains[0]:
        assert len(_scale_up_neighbours(topo, gpu)) == links
    # worst path = sum of half-ring distances (wrap-around), one link latency per hop
    spec = _spec(name)
    hops = sum(d // 2 for d in dims)
    if spec.scale_up.latency_us is not None:
        assert topo.scale_up_latency_s == pytest.approx(hops * spec.scale_up.latency_us * units.US)


@pytest.mark.parametrize("name", [n for n in TOPOLOGIES if _spec(n).scale_up.kind == "switch"])
def test_switch_is_one_hop(name):
    topo = build_topology(name)
    for gpu in topo.domains[0]:
        nbrs = _scale_up_neighbours(topo, gpu)
        assert nbrs and all(v[0] == "switch" for v in nbrs)


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_price_is_sourced_and_estimates_say_so(name):
    spec = _spec(name)
    topo = build_topology(name)
    assert topo.price_usd_per_gpu_hour > 0
    text = f"{spec.price.who} {spec.price.source}"
    assert re.search(r"\[[A-Z0-9-]+\]", text), "price must cite a hardware.md source key"
    if topo.accelerator.estimated:
        assert "estimat" in text.lower() or "estimat" in spec.price.source.lower()


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_fabric_sources_cite_a_key(name):
    spec = _spec(name)
    for text in (spec.scale_up.source, spec.scale_out.source):
        assert re.search(r"\[[A-Z0-9-]+\]", text)


# --------------------------------------------------------------------------- accelerators


@pytest.mark.parametrize("name", ACCELERATORS)
def test_accelerator_loads(name):
    acc = load_accelerator(name)
    assert acc.hbm_bytes > 0 and acc.hbm_bw_bytes_per_s > 0
    assert "bf16" in acc.peak_flops
    # dense peaks never go down as the precision narrows
    order = [d for d in ("bf16", "fp8", "fp4") if d in acc.peak_flops]
    peaks = [acc.peak_flops[d] for d in order]
    assert peaks == sorted(peaks)


def _mentions(text: str, value: float) -> bool:
    """Does ``text`` state ``value`` (thousands separators allowed)?"""
    plain = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    forms = {f"{value:g}", repr(float(value))}
    if float(value).is_integer():
        forms.add(str(int(value)))
    return any(re.search(rf"(?<![\d.]){re.escape(f)}(?!\d|\.\d)", plain) for f in forms)


def _source_cases():
    for name in ACCELERATORS:
        spec = _acc_spec(name)
        fields = {"hbm_gb": spec.hbm_gb, "hbm_tb_per_s": spec.hbm_tb_per_s}
        if spec.tdp_w:
            fields["tdp_w"] = spec.tdp_w
        for key in fields:
            marks = [pytest.mark.xfail(strict=True, reason="number not restated in source")] if (name, key) in KNOWN_SOURCE_GAPS else []
            yield pytest.param(name, key, marks=marks, id=f"{name}-{key}")
        yield pytest.param(name, "dense_tflops", id=f"{name}-dense_tflops")


@pytest.mark.parametrize("name,key", list(_source_cases()))
def test_accelerator_sources_cover_each_number(name, key):
    spec = _acc_spec(name)
    text = spec.sources[key]
    assert re.search(r"\[[A-Z0-9-]+\]", text), f"{name}: sources.{key} cites no hardware.md key"
    if key == "dense_tflops":
        for dtype, value in spec.dense_tflops.items():
            assert dtype.lower() in text.lower(), f"{name}: {dtype} not named in sources.dense_tflops"
            assert _mentions(text, value), f"{name}: {dtype} {value} not stated in sources.dense_tflops"
    else:
        assert _mentions(text, getattr(spec, key)), f"{name}: {getattr(spec, key)} not stated in sources.{key}"


@pytest.mark.parametrize("name", ACCELERATORS)
def test_estimated_accelerators_say_estimate(name):
    spec = _acc_spec(name)
    if spec.estimated:
        assert any("estimat" in s.lower() for s in spec.sources.values())


def test_rubin_generation_is_marked_estimated():
    for name in ("vr200", "rubin-ultra"):
        if name in ACCELERATORS:
            assert load_accelerator(name).estimated


def test_nvidia_hbm_bandwidth_never_drops_across_generations():
    present = [(n, strict) for n, strict in NVIDIA_ORDER if n in ACCELERATORS]
    assert len(present) >= 2
    prev_name, prev_bw = None, 0.0
    for name, strict in present:
        bw = load_accelerator(name).hbm_bw_bytes_per_s
        if prev_name is not None:
            if strict:
                assert bw > prev_bw, f"{name} HBM bandwidth not above {prev_name}"
            else:
                assert bw >= prev_bw, f"{name} HBM bandwidth below {prev_name}"
        prev_name, prev_bw = name, bw


def test_nvidia_scale_up_never_drops_across_generations():
    order = ["hgx-h100", "hgx-h200", "hgx-b200", "gb200-nvl72", "gb300-nvl72", "vr200-nvl144", "rubin-ultra-nvl576"]
    bws = [build_topology(n).scale_up_bw_per_gpu for n in order if n in TOPOLOGIES]
    assert bws == sorted(bws)
