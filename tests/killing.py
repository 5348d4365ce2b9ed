"""Running a kinmatch command in a real process and killing it (SIGKILL) after a delay, and
the hooks by which a worker process kills itself at a chosen step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


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


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def after(owner: Any, name: str, nth: int, when: Callable[..., bool] = lambda *a: True) -> None:
    """SIGKILL this process right after the ``nth`` call of ``owner.name`` (of those for
    whose positional arguments ``when`` holds) returns."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    def hooked(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if when(*args):
            calls[0] += 1
            if calls[0] == nth:
                die()
        return result

    setattr(owner, name, hooked)
