from __future__ import annotations

import threading

from ingest.delivery import Delivery, Inbox


def _delivery(size: int) -> Delivery:
    return Delivery(lines=[b"x" * size], origin="test")


def test_a_full_inbox_makes_the_producer_wait_until_the_consumer_takes_something() -> None:
    inbox = Inbox(max_items=100, max_bytes=1000)
    assert inbox.put(_delivery(600))
    assert not inbox.put(_delivery(600), timeout=0.05)  # 1,200 bytes would exceed the bound

    taken: list[Delivery | None] = []
    consumer = threading.Timer(0.05, lambda: taken.append(inbox.get(timeout=1)))
    consumer.start()
    assert inbox.put(_delivery(600), timeout=30)
    consumer.join()
    assert len(taken) == 1 and len(inbox) == 1


def test_an_inbox_is_bounded_by_item_count_too() -> None:
    inbox = Inbox(max_items=2, max_bytes=10**9)
    assert inbox.put(_delivery(1)) and inbox.put(_delivery(1))
    assert not inbox.put(_delivery(1), timeout=0.05)


def test_one_oversized_delivery_still_passes_an_empty_inbox() -> None:
    inbox = Inbox(max_items=10, max_bytes=100)
    assert inbox.put(_delivery(10_000), timeout=0.05)


def test_a_closed_inbox_refuses_puts_but_hands_out_what_it_holds() -> None:
    inbox = Inbox(max_items=10, max_bytes=10_000)
    inbox.put(_delivery(5))
    inbox.close()
    assert not inbox.put(_delivery(5))
    assert inbox.get(timeout=0.1) is not None
    assert inbox.get(timeout=0.01) is None
