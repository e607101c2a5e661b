"""Consume STOMP queues (ActiveMQ, RabbitMQ's STOMP plugin): cumulative acks after commit.

The broker holds at most `prefetch` unacknowledged messages for us (ActiveMQ's
`activemq.prefetchSize`), which bounds what sits in memory; a message is acked only once
the batch that stored it committed. Acks are cumulative (STOMP `ack:client`): the worker
commits batches in the order the messages arrived, so one ACK of a batch's last message
covers the whole batch; an ack thread sends the latest one, where one ACK frame per message
(`client-individual`) cost the single-threaded pipeline about a fifth of its throughput
(`bench/support/ingest_scale.py`). When the connection drops, a new one is made with
backoff; acks of messages received on the old connection are skipped (the broker delivers
them again, and their deterministic alert_uuid keeps them from being stored twice).
Several workers on one queue are competing consumers.

Messages from an Alertflex collector (Altprobe) are recognized by their properties, whatever
`source` says: an alert message (empty body, the record in its properties) and a statistics
report (gzip body) each become one line for the `altprobe` source (`ingest.altprobe`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from urllib.parse import urlsplit

import orjson
import stomp
from pydantic import SecretStr
from stomp.exception import StompException

from alertmodel.errors import NormalizationError
from ingest.altprobe import altprobe_line, is_alert_message, is_stats_message, stats_line
from ingest.delivery import Delivery, Inbox, Outcome

log = logging.getLogger(__name__)


def parse_stomp_url(url: str) -> tuple[str, int, str]:
    """`stomp://HOST:PORT/queue/NAME` → (host, port, "/queue/NAME"); ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "stomp" or not parts.hostname:
        raise ValueError(f"expected stomp://HOST:PORT/queue/NAME, got {url!r}")
    if not parts.path.startswith(("/queue/", "/topic/")) or parts.path.rstrip("/").count("/") < 2:
        raise ValueError(f"expected a destination like /queue/NAME in {url!r}")
    return parts.hostname, parts.port or 61613, parts.path


class StompSource:
    """One STOMP destination on one broker, one connection, reconnecting with backoff."""

    def __init__(
        self,
        host: str,
        port: int,
        destination: str,
        *,
        prefetch: int = 1000,
        source: str = "auto",
        login: str | None = None,
        passcode: SecretStr | None = None,
        vhost: str | None = None,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        ack_mode: str = "client",
    ) -> None:
        if ack_mode not in ("client", "client-individual"):
            raise ValueError(f"ack_mode must be client or client-individual, not {ack_mode!r}")
        self.host = host
        self.port = port
        self.destination = destination
        self.prefetch = prefetch
        self.source = source
        self.login = login
        self.passcode = passcode
        self.vhost = vhost
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.ack_mode = ack_mode
        self.name = f"stomp://{host}:{port}{destination}"
        self.acked = 0
        self.connections = 0
        self._inbox: Inbox | None = None
        self._conn: stomp.Connection12 | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._reading = threading.Event()
        self._stop = threading.Event()
        self._disconnected = threading.Event()
        self._thread: threading.Thread | None = None
        self._ack_due: tuple[stomp.Connection12, int, str, int] | None = None  # conn, generation, id, count
        self._ack_wake = threading.Event()
        self._ack_thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        """A queue never ends."""
        return False

    @property
    def connected(self) -> bool:
        """Whether a subscribed connection is up."""
        conn = self._conn
        return conn is not None and conn.is_connected() and not self._disconnected.is_set()

    def start(self, inbox: Inbox) -> None:
        """Connect and subscribe from a background thread that also reconnects."""
        self._inbox = inbox
        self._reading.set()
        self._thread = threading.Thread(target=self._run, name=f"stomp-{self.destination}", daemon=True)
        self._thread.start()
        if self.ack_mode == "client":
            self._ack_thread = threading.Thread(
                target=self._ack_loop, name=f"stomp-ack-{self.destination}", daemon=True
            )
            self._ack_thread.start()

    def stop_reading(self) -> None:
        """Ignore further messages (left unacked, so the broker delivers them again); acks still work."""
        self._reading.clear()

    def close(self) -> None:
        """Disconnect; unacked messages go back to the queue."""
        self._reading.clear()
        self._stop.set()
        self._disconnected.set()
        self._ack_wake.set()
        if self._ack_thread is not None:
            self._ack_thread.join(15)
        self._send_due_ack()
        if self._thread is not None:
            self._thread.join(15)
        self._drop_connection()

    # -- connection --------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.reconnect_initial_s
        while not self._stop.is_set():
            try:
                self._connect()
            except (StompException, OSError) as exc:
                log.warning("cannot reach the broker %s (%s); retrying in %.1f s", self.name, exc, delay)
                self._drop_connection()
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            delay = self.reconnect_initial_s
            self._disconnected.wait()
            if not self._stop.is_set():
                log.warning("lost the broker connection %s; reconnecting", self.name)
                self._drop_connection()

    def _connect(self) -> None:
        conn = stomp.Connection12(
            [(self.host, self.port)],
            auto_decode=False,
            reconnect_attempts_max=1,
            vhost=self.vhost,
            heartbeats=(0, 0),
        )
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._disconnected.clear()
        conn.set_listener("alertflow", _Listener(self, conn, generation))
        password = self.passcode.get_secret_value() if self.passcode else None
        conn.connect(self.login, password, wait=True)
        conn.subscribe(
            destination=self.destination,
            id="alertflow-1",
            ack=self.ack_mode,
            headers={"activemq.prefetchSize": str(self.prefetch), "prefetch-count": str(self.prefetch)},
        )
        self._conn = conn
        self.connections += 1
        log.info("consuming %s (prefetch %d)", self.name, self.prefetch)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        with self._lock:
            self._generation += 1  # acks for what the old connection delivered are now void
        if conn is not None:
            with contextlib.suppress(StompException, OSError):
                conn.disconnect()

    # -- messages ----------------------------------------------------------------------------

    def _on_message(self, conn: stomp.Connection12, generation: int, frame: stomp.utils.Frame) -> None:
        if not self._reading.is_set() or self._inbox is None:
            return
        ack_id = frame.headers.get("ack")
        body = frame.body if isinstance(frame.body, bytes) else str(frame.body).encode()
        origin = f"{self.name}#{frame.headers.get('message-id', '?')}"

        def ack(_outcome: Outcome) -> None:
            with self._lock:
                if generation != self._generation:
                    return
                if self.ack_mode == "client":  # covers every message delivered before it: sent once per wake
                    count = self._ack_due[3] + 1 if self._ack_due is not None else 1
                    self._ack_due = (conn, generation, ack_id, count)
                    self._ack_wake.set()
                    return
            self._send_ack(conn, ack_id, 1)

        lines, source = self._lines(frame.headers, body)
        self._inbox.put(Delivery(lines=lines, origin=origin, source=source, on_commit=ack))

    def _send_ack(self, conn: stomp.Connection12, ack_id: str, count: int) -> None:
        try:
            conn.ack(ack_id)  # stomp.py 9 / STOMP 1.2: the ack header only (2nd arg is a transaction)
            self.acked += count
        except (StompException, OSError) as exc:
            log.info("ack on a dropped connection skipped (%s); the broker redelivers", exc)

    def _ack_loop(self) -> None:
        while not self._stop.is_set():
            self._ack_wake.wait()
            self._stop.wait(0.002)  # let the writer finish acking its batch: one frame for all of it
            self._ack_wake.clear()
            self._send_due_ack()

    def _send_due_ack(self) -> None:
        with self._lock:
            due, self._ack_due = self._ack_due, None
            if due is None or due[1] != self._generation:
                return
        self._send_ack(due[0], due[2], due[3])

    def _lines(self, headers: dict[str, str], body: bytes) -> tuple[list[bytes], str]:
        if is_alert_message(headers):
            return [altprobe_line(headers)], "altprobe"
        if is_stats_message(headers, body):
            try:
                return [stats_line(headers, body)], "altprobe"
            except NormalizationError as exc:  # dead-lettered by the core with this reason
                return [orjson.dumps({"altprobe_stats": {"invalid": str(exc)}})], "altprobe"
        return body.split(b"\n"), self.source

    def _on_disconnected(self, generation: int) -> None:
        if generation == self._generation:
            self._disconnected.set()


class _Listener(stomp.ConnectionListener):
    def __init__(self, owner: StompSource, conn: stomp.Connection12, generation: int) -> None:
        self.owner = owner
        self.conn = conn
        self.generation = generation

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.owner._on_message(self.conn, self.generation, frame)

    def on_error(self, frame: stomp.utils.Frame) -> None:
        log.error("broker error on %s: %s", self.owner.name, frame.headers.get("message", frame.body))

    def on_disconnected(self) -> None:
        self.owner._on_disconnected(self.generation)
