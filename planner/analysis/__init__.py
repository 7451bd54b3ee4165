"""Analysis: questions asked of many plans through :mod:`planner.api` (compare,
frontier, explain, fidelity against published measurements)."""
