"""The refusal buffer is bounded: a flood of refused updates drops records (counted), never blocks."""

from __future__ import annotations

from service.refusals import RefusalBuffer
from tests.refusals.conftest import refusal


def test_a_full_buffer_drops_and_counts_instead_of_growing_or_blocking() -> None:
    buffer = RefusalBuffer(capacity=3)

    kept = [buffer.offer(refusal(f"u-{n}")) for n in range(10)]

    assert kept == [True] * 3 + [False] * 7
    assert len(buffer) == 3
    assert buffer.take_dropped() == 7
    assert buffer.take_dropped() == 0  # each drop is reported once


def test_the_writer_takes_batches_in_order_and_room_comes_back() -> None:
    buffer = RefusalBuffer(capacity=3)
    for n in range(3):
        buffer.offer(refusal(f"u-{n}"))

    assert [r.update_id for r in buffer.take(2, wait=0)] == ["u-0", "u-1"]
    assert buffer.offer(refusal("u-3"))
    assert [r.update_id for r in buffer.take(10, wait=0)] == ["u-2", "u-3"]
    assert buffer.take(10, wait=0) == []
