"""Failed sign-ins counted per user name and per client address; too many, and sign-in waits.

One limiter serves the API's HTTP Basic and the console's sign-in form (`app.state.sign_ins`).
Only failures count: after `per_name` failures for one name, or `per_address` from one
address, within `window_s`, every attempt for that name or from that address is refused
without checking the password until the oldest of those failures is `window_s` old. A name
that does not exist is counted like one that does, and the refusal says the same thing
either way, so the limiter tells nobody which names exist. A successful sign-in clears its
name's count (not its address's). Counts live in the process: a restart forgets them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

PER_NAME = 10
PER_ADDRESS = 50
WINDOW_S = 15 * 60
MAX_KEYS = 100_000
MAX_NAME_CHARS = 80


class SignInLimiter:
    """Sliding-window failure counts by name and by address; thread-safe."""

    def __init__(
        self,
        *,
        per_name: int = PER_NAME,
        per_address: int = PER_ADDRESS,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_name = per_name
        self.per_address = per_address
        self.window_s = window_s
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, name: str, address: str | None) -> int:
        """Seconds before `name` may try again from `address`; 0 when it may try now."""
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(_name_key(name), self.per_name, now),
                self._wait(("address", address or ""), self.per_address, now),
            ]
        return max(waits)

    def failed(self, name: str, address: str | None) -> None:
        """Count a failed sign-in for `name` from `address`."""
        now = self._clock()
        with self._lock:
            for key in (_name_key(name), ("address", address or "")):
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                self._failures[key] = times  # newest keys last: the oldest go first when full
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        """Forget the failures of `name` (its password was right)."""
        with self._lock:
            self._failures.pop(_name_key(name), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self.window_s - now))


def _name_key(name: str) -> tuple[str, str]:
    # user names have at most 64 characters: a longer one is wrong anyway, and need not be kept whole
    return ("name", name.casefold()[:MAX_NAME_CHARS])


def refusal(wait_s: int) -> str:
    """What a refused sign-in is told: the same words whichever limit was reached."""
    minutes = max(1, math.ceil(wait_s / 60))
    return (
        f"Too many failed sign-ins for this user name or from this address; try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}."
    )
