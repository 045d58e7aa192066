"""What an edit prints besides its results: one line per real problem, nothing else.

The libraries' notices and loading bars are scoped by :func:`automaps.hub.quiet_libraries`;
:func:`no_truncation_echo` drops diffusers' echo of a truncated prompt (tens of KB of the prompt's tail) where
:func:`pipelines.checks.warn_if_truncated` has said it in one line already.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["TRUNCATION_ECHO", "no_truncation_echo"]

TRUNCATION_ECHO = "The following part of your input was truncated"
"""How diffusers' text-encoding code starts its warning about a prompt longer than the encoder's window."""


class _DropEcho(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TRUNCATION_ECHO)


@contextlib.contextmanager
def no_truncation_echo() -> Iterator[None]:
    """Within: diffusers' "The following part of your input was truncated ..." warning is not printed.

    The filter sits on the handlers of diffusers' root logger (the records of its pipeline modules propagate
    there) and is removed on exit; diffusers' other warnings still print.
    """
    handlers = logging.getLogger("diffusers").handlers
    drop = _DropEcho()
    for handler in handlers:
        handler.addFilter(drop)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(drop)
