"""Plan LLM inference deployments on GPU racks.

The public API lives in :mod:`planner.api`; the CLI (:mod:`planner.cli.main`) is a thin
shell over it.
"""

__version__ = "0.1.0"
