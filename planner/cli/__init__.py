"""The ``planner`` command (:mod:`planner.cli.main`), its sub-commands and text
rendering. Nothing below imports from here."""
