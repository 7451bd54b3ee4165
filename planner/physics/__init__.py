"""Physics: the cost model. Pure functions from (workload, topology, layout, batch) to
time, memory and throughput per step. Imports only :mod:`planner.inputs`."""
