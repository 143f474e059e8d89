"""A Jupyter kernel client that cannot sleep through a reply: used to run notebooks from the course's commands.

Why the client waits in slices: nbclient waits for a cell's reply with one ``poll`` of the shell socket for
the whole per-cell timeout. In a cell with an ``ipywidgets`` explorer, the reply's wake-up is sometimes missed,
most likely because nbclient's stand-in for the Output widget sends comm messages on that same socket while the
poll is pending (nbclient issue 312, open): the kernel sits idle and the client waits out the full timeout,
after which it finds the reply and goes on as if nothing happened. On this course's 2-core machine under load,
eight kernels in a row, each running an explorer cell four times, lost the wake-up in 3 of the 32 explorer
cells (each waited its full 120 s; none of the 32 plain cells did) with nbclient's client, and in none with the
client here, which polls in slices of ``POLL_SLICE`` seconds so that a missed wake-up costs at most one slice.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type, default

__all__ = ["POLL_SLICE", "STARTUP_TIMEOUT", "SlicedChannel", "SlicedKernelClient", "SlicedKernelManager", "first_line"]

POLL_SLICE = 1.0  # seconds: the longest a missed wake-up of the kernel client can delay it
STARTUP_TIMEOUT = 300  # seconds for a kernel to start: nbclient's 60 s is short on a loaded machine


class SlicedChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg(timeout)`` polls in slices of ``POLL_SLICE`` s (see the module docstring)."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(POLL_SLICE, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """nbclient's usual kernel client, with shell and IOPub replies polled in slices."""

    shell_channel_class = Type(SlicedChannel)
    iopub_channel_class = Type(SlicedChannel)


class SlicedKernelManager(AsyncKernelManager):
    """nbclient's usual kernel manager, handing out a ``SlicedKernelClient``."""

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return SlicedKernelClient


def first_line(cell) -> str:
    """A cell's first non-blank line, cut to 60 characters: how progress lines and errors name a cell."""
    line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return line if len(line) <= 60 else line[:57] + "..."
