"""``python -m pipeline.cli`` is the ``qualcode`` command."""

from pipeline.cli import main

main()
