"""Running a kinmatch command in a real process and killing it (SIGKILL) after a delay."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def killed_after(args: Sequence[str | Path], delay: float) -> bool:
    """Run ``kinmatch ARGS``; SIGKILL it when still running after ``delay`` seconds. True
    when killed; otherwise it must have succeeded, without a traceback."""
    process = subprocess.Popen([sys.executable, "-m", "kinmatch", *map(str, args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.communicate()
        return True
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    return False
