"""``python -m planner.cli``: the same as the ``planner`` command."""

from .entry import main

main()
