"""Inputs: the files a user hands in (hardware, topology, workload, Hugging Face
config.json) read, validated and turned into frozen SI dataclasses. Imports nothing
else from the planner."""
