"""Progress bars that do not flood logs.

On a terminal tqdm redraws a bar in place; written to a file or pipe (batch schedulers,
``nohup``, CI) every redraw is a new line-fragment that stays in the log, which then is mostly
progress frames. ``progress`` is tqdm with live bars on a terminal and, elsewhere, a frame at
most every ``RELCON_PROGRESS_SECONDS`` seconds (default 60; bars shorter than that print
nothing).
"""
from __future__ import annotations

import os
import sys

from tqdm import autonotebook, std
from tqdm.auto import tqdm

DEFAULT_SECONDS = 60.0


def is_interactive(stream=None) -> bool:
    """Whether ``stream`` (default: stderr, where tqdm writes) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def noninteractive_seconds() -> float:
    """Seconds between frames when not on a terminal (``RELCON_PROGRESS_SECONDS``, default 60)."""
    value = os.environ.get("RELCON_PROGRESS_SECONDS", "")
    try:
        seconds = float(value) if value else DEFAULT_SECONDS
    except ValueError:
        raise ValueError(f"RELCON_PROGRESS_SECONDS={value!r}: expected a number of seconds") from None
    return max(seconds, 0.0)


class _LogBar(tqdm):
    """A bar writing to a log: each frame is a line of its own (log lines written between frames
    then start their own lines too), forced redraws (``tqdm.write``, which our ``printlog`` uses
    for every log line, and ``set_postfix``) wait for the interval too, and nothing is erased (a
    log cannot erase)."""

    def display(self, msg=None, pos=None):
        if msg == "":  # tqdm erasing the bar (close with leave=False); False: no "\r" after it
            return False
        self.fp.write((self.__str__() if msg is None else msg) + "\n")
        self.fp.flush()
        return True

    def refresh(self, nolock=False, lock_args=None):
        last = getattr(self, "last_print_t", None)  # None: disabled, or the first frame (delay 0)
        if last is not None and not self.disable:
            now = self._time()
            if now < self.start_t + self.delay or now - last < self.mininterval:
                return False
            # A frame drawn here counts as one: the next update waits the interval from now.
            self.last_print_t, self.last_print_n = now, self.n
        return super().refresh(nolock=nolock, lock_args=lock_args)

    def clear(self, nolock=False):
        pass

    def __iter__(self):
        # tqdm's own iterator counts in a local variable and writes ``self.n`` only when it draws;
        # frames forced between (set_postfix, log lines through tqdm.write) then showed a stale
        # count ("0/46" a minute into an epoch). Counting through update() keeps every frame true.
        if self.disable:
            yield from self.iterable
            return
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()


def progress(iterable=None, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``; not on a terminal, frames at most every
    ``noninteractive_seconds()`` s and none for a bar that ends sooner (``tqdm.write`` and
    ``set_postfix`` included).
    """
    # tqdm.auto picks notebook widgets inside Jupyter: live, whatever stderr is.
    if autonotebook.tqdm is std.tqdm and not is_interactive(kwargs.get("file")):
        seconds = noninteractive_seconds()
        # maxinterval too: tqdm's monitor thread otherwise forces a frame every 10 s.
        kwargs.setdefault("mininterval", seconds)
        kwargs.setdefault("maxinterval", seconds)
        kwargs.setdefault("delay", seconds)
        kwargs["leave"] = False  # the last frame is at most one interval old; no blank line after it
        return _LogBar(iterable, **kwargs)
    return tqdm(iterable, **kwargs)
