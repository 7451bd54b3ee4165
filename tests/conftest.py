import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def h100():
    from planner.inputs.topology import build_topology

    return build_topology("hgx-h100")


@pytest.fixture(scope="session")
def nvl72():
    from planner.inputs.topology import build_topology

    return build_topology("gb200-nvl72")


@pytest.fixture(scope="session")
def llama70():
    from planner.inputs.query import load_workload

    return load_workload("llama-3.1-70b")


@pytest.fixture(scope="session")
def dsv3():
    from planner.inputs.query import load_workload

    return load_workload("deepseek-v3")
