"""``python -m kinmatch`` is the ``kinmatch`` command."""

from kinmatch.cli import main

main(prog_name="kinmatch")
