"""What sources hand the worker: lines plus what to do once they are stored, and a bounded inbox."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.batch import DeadLetterItem
from ingest.checkpoint import FilePosition


@dataclass(slots=True)
class Outcome:
    """What became of one delivery's lines once its batch committed."""

    emitted: int
    dead_letters: list[DeadLetterItem]


@dataclass(slots=True)
class Delivery:
    """Lines from one unit of a source (a file chunk, a STOMP message, an HTTP body).

    `on_commit` runs after the transaction that stored the lines committed (STOMP ack,
    HTTP 202); `on_abandon` runs when the worker stops without storing them.
    """

    lines: list[bytes]
    origin: str
    source: str = "auto"
    position: FilePosition | None = None
    on_commit: Callable[[Outcome], None] | None = None
    on_abandon: Callable[[str], None] | None = None
    size: int = field(default=0)
    line_count: int = field(default=0)

    def __post_init__(self) -> None:
        if not self.size:
            self.size = sum(len(line) for line in self.lines) + 64
        self.line_count = self.line_count or len(self.lines)


class Inbox:
    """A FIFO bounded by both item count and bytes: a full inbox blocks the sources (back-pressure).

    `refusing` is set by the worker while the store refuses writes (disk full, database away):
    a source that can answer its client at once (HTTP 503) does so instead of queueing more.
    """

    def __init__(self, *, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.refusing: str | None = None
        self._items: deque[Delivery] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False

    def put(self, delivery: Delivery, timeout: float | None = None) -> bool:
        """Queue `delivery`, waiting for room; False when the inbox closed or `timeout` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            # one oversized delivery is still let into an empty inbox, or it could never pass
            while not self._closed and self._items and self._full(delivery.size):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 0.5)
            if self._closed:
                return False
            self._items.append(delivery)
            self._bytes += delivery.size
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Delivery | None:
        """The oldest delivery, or None after `timeout` seconds with nothing queued."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            delivery = self._items.popleft()
            self._bytes -= delivery.size
            self._cond.notify_all()
            return delivery

    def close(self) -> None:
        """Refuse further puts; what is queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether sources can no longer add to the inbox."""
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def depth(self) -> tuple[int, int, int]:
        """(deliveries, bytes, events) queued."""
        with self._cond:
            return len(self._items), self._bytes, sum(d.line_count for d in self._items)

    def _full(self, incoming: int) -> bool:
        return len(self._items) >= self.max_items or self._bytes + incoming > self.max_bytes
