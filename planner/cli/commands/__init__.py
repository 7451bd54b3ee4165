"""CLI commands beyond plan/evaluate, one module each, registered by planner.cli."""
