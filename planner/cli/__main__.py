"""``python -m planner.cli``: the same as the ``planner`` command."""

from .main import main

main()
