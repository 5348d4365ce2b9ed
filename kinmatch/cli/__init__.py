"""The ``kinmatch`` command: a thin shell over the library (parsing, progress, output files,
exit codes), one module per command or command group.

Exit codes: 0 success; 2 bad input or a refused request (the message names file, line, sample
and field; no traceback); 3 some cases could not be computed (each carries its ``error``); 1
anything else.
"""

from __future__ import annotations

import click

from kinmatch.cli.campaign import campaign_command
from kinmatch.cli.demo import demo_command
from kinmatch.cli.evidence import evidence_command
from kinmatch.cli.ingest import ingest_command
from kinmatch.cli.intake import intake_command
from kinmatch.cli.keys import keys_group
from kinmatch.cli.lr import lr_command
from kinmatch.cli.match import match_command
from kinmatch.cli.queue import queue_group
from kinmatch.cli.serve import serve_command
from kinmatch.cli.store import store_group
from kinmatch.cli.synth import synth_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kinmatch")
def main() -> None:
    """Kinship matching of STR DNA profiles: exact likelihood ratios for parentage and
    other relationships, with real population allele frequencies."""


for _command in (lr_command, synth_command, ingest_command, intake_command, match_command,
                 campaign_command, evidence_command, demo_command, keys_group, queue_group,
                 serve_command, store_group):  # fmt: skip
    main.add_command(_command)
