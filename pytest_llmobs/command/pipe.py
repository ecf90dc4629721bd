"""Standard output that goes quiet when its reader does (`llmobs ... | head`): the command
still writes its files and exits with its own status, without a traceback."""

from __future__ import annotations

import io
import os
from typing import TextIO


class QuietWhenClosed(io.TextIOBase):
    """Writes through to a stream until its reader has gone, then discards."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                self._stream.write(text)
                self._stream.flush()  # a closed reader shows here, not at exit
            except BrokenPipeError:
                self._went()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._went()

    def _went(self) -> None:
        self._gone = True
        # what the stream still buffers is flushed at exit: into nothing, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
