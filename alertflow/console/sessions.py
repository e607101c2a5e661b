"""Console sign-in sessions: held in the API process, named by a random cookie, bound to a CSRF token.

The cookie carries only a random session id (HttpOnly, SameSite=Strict, Secure under TLS);
the store keeps its SHA-256, the user's name, a CSRF token and when it was last used. A
session ends on logout, after `idle_s` without a request, or `max_age_s` after sign-in,
whichever comes first. The user's role and tenants are read again on every request, so a
disabled user or a changed role takes effect at once.

A session also holds one flash: what a form post did, kept server-side for the page the post
redirects to (Post/Redirect/Get), shown by that page's next render and then forgotten. It is
never in the URL, so a link cannot make the console say something it did not do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COOKIE = "alertflow_console"
LOGIN_CSRF_COOKIE = "alertflow_login_csrf"
CSRF_FIELD = "csrf_token"
IDLE_S = 30 * 60
MAX_AGE_S = 12 * 3600
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Flash:
    """What a post did, for the next render of the page at `path` (template values by name)."""

    path: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Session:
    """One signed-in browser."""

    user: str
    csrf: str
    started: float
    last_seen: float
    flash: Flash | None = None


class SessionStore:
    """Sessions by the SHA-256 of their cookie value; thread-safe (handlers run in a thread pool)."""

    def __init__(
        self,
        *,
        idle_s: float = IDLE_S,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, user: str) -> tuple[str, Session]:
        """A new session for `user`: the cookie value (shown once) and the session."""
        cookie = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(user=user, csrf=secrets.token_urlsafe(32), started=now, last_seen=now)
        with self._lock:
            self._sessions[_key(cookie)] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return cookie, session

    def get(self, cookie: str | None, *, touch: bool = True) -> Session | None:
        """The live session of a cookie, or None; `touch` counts this request as activity."""
        if not cookie or len(cookie) > 128:
            return None
        key = _key(cookie)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s or now - session.started > self.max_age_s:
                del self._sessions[key]
                return None
            if touch:
                session.last_seen = now
                self._sessions.move_to_end(key)
            return session

    def set_flash(self, session: Session, path: str, **values: Any) -> None:
        """Keep `values` for the next render of `path` in this session (replacing an earlier flash)."""
        with self._lock:
            session.flash = Flash(path, dict(values))

    def pop_flash(self, session: Session, path: str) -> dict[str, Any]:
        """The flash kept for `path`, once: it is forgotten as it is read ({} when there is none)."""
        with self._lock:
            flash = session.flash
            if flash is None or flash.path != path:
                return {}
            session.flash = None
            return flash.values

    def end(self, cookie: str | None) -> None:
        """Forget the session (logout)."""
        if cookie:
            with self._lock:
                self._sessions.pop(_key(cookie), None)

    def end_all(self, user: str) -> None:
        """Forget every session of `user`."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.user == user]:
                del self._sessions[key]


def csrf_matches(expected: str, given: str | None) -> bool:
    """Whether a submitted CSRF token is the expected one (constant time)."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def new_login_csrf() -> str:
    """A random token for the sign-in form, sent as a cookie and a hidden field (double submit)."""
    return secrets.token_urlsafe(32)


def _key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", errors="replace")).hexdigest()
