import threading
import zlib

import numpy as np
import pytest

from scanner_app.ring import FrameRing
from tests.factories import make_frame


def test_push_peek_and_get() -> None:
    ring = FrameRing(4, 64 * 48)
    assert ring.peek_latest() is None and ring.newest_seq == -1 and ring.oldest_seq == -1
    for i in range(3):
        assert ring.push(make_frame(i)) == i
    latest = ring.peek_latest()
    assert latest is not None and latest.ring_seq == 2 and latest.frame.seq == 2
    assert int(latest.frame.pixels[0, 0]) == 2
    got = ring.get(0)
    assert got is not None and int(got.frame.pixels[5, 5]) == 0
    assert ring.get(3) is None and ring.get(-1) is None


def test_returned_pixels_are_copies_not_views_of_the_slot() -> None:
    ring = FrameRing(2, 64 * 48)
    ring.push(make_frame(1))
    first = ring.get(0)
    assert first is not None
    ring.push(make_frame(2))
    ring.push(make_frame(3))  # overwrites slot 0
    assert int(first.frame.pixels[0, 0]) == 1
    assert not np.shares_memory(first.frame.pixels, ring._slots.data)


def test_old_frames_fall_out_when_lapped() -> None:
    ring = FrameRing(3, 64 * 48)
    for i in range(5):
        ring.push(make_frame(i))
    assert ring.oldest_seq == 2 and ring.newest_seq == 4
    assert ring.get(1) is None
    assert [r.ring_seq for r in ring.cursor(from_newest=False).drain().frames] == [2, 3, 4]


def test_cursor_counts_exactly_what_it_lost() -> None:
    ring = FrameRing(4, 64 * 48)
    cursor = ring.cursor()
    for i in range(3):
        ring.push(make_frame(i))
    first = cursor.drain()
    assert [r.frame.seq for r in first.frames] == [0, 1, 2] and first.lost == 0
    for i in range(3, 13):
        ring.push(make_frame(i))
    second = cursor.drain()
    assert [r.frame.seq for r in second.frames] == [9, 10, 11, 12]
    assert second.lost == 6
    assert cursor.drain().frames == [] and cursor.lost_total == 6


def test_cursor_drain_limit() -> None:
    ring = FrameRing(8, 64 * 48)
    cursor = ring.cursor()
    for i in range(5):
        ring.push(make_frame(i))
    assert len(cursor.drain(max_frames=2).frames) == 2
    assert [r.ring_seq for r in cursor.drain().frames] == [2, 3, 4]


def test_lookup_by_time_range() -> None:
    ring = FrameRing(10, 64 * 48)
    for i in range(10):
        ring.push(make_frame(i, host_time_ns=1_000 * i))
    clip = ring.frames_between(2_500, 6_000)
    assert [r.frame.seq for r in clip] == [3, 4, 5, 6]
    assert ring.seq_for_time(0) == 0
    assert ring.seq_for_time(99_000) == 10
    assert ring.frames_between(20_000, 30_000) == []


def test_frames_of_other_shapes_and_a_bigger_frame_relayout() -> None:
    ring = FrameRing(4, 64 * 48)
    ring.push(make_frame(0, shape=(32, 16)))
    got = ring.get(0)
    assert got is not None and got.frame.pixels.shape == (32, 16)
    ring.push(make_frame(1, shape=(128, 128)))  # larger than a slot: new layout
    assert ring.slot_bytes == 128 * 128
    assert ring.oldest_seq == 1 and ring.get(0) is None
    latest = ring.peek_latest()
    assert latest is not None and latest.frame.pixels.shape == (128, 128)


def test_uint16_frames_keep_their_type() -> None:
    ring = FrameRing(2, 64 * 48 * 2)
    pixels = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    ring.push(make_frame(0, pixels=pixels))
    got = ring.get(0)
    assert got is not None and got.frame.pixels.dtype == np.uint16
    np.testing.assert_array_equal(got.frame.pixels, pixels)


def test_capacity_from_seconds() -> None:
    ring = FrameRing.for_seconds(10, 60, 512 * 512)
    assert ring.capacity == 600 and ring.nbytes == 600 * 512 * 512
    with pytest.raises(ValueError, match="capacity"):
        FrameRing(1, 10)


def _stamped(seq: int, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose last 4 bytes hold the CRC of the rest, so any torn frame is detectable."""
    rng = np.random.default_rng(seq)
    flat = rng.integers(0, 256, size=shape[0] * shape[1], dtype=np.uint8)
    flat[-4:] = np.frombuffer(zlib.crc32(flat[:-4].tobytes()).to_bytes(4, "little"), np.uint8)
    return flat.reshape(shape)


def _intact(pixels: np.ndarray) -> bool:
    flat = pixels.reshape(-1)
    return zlib.crc32(flat[:-4].tobytes()) == int.from_bytes(flat[-4:].tobytes(), "little")


@pytest.mark.timeout(60)
def test_stress_writer_at_full_speed_against_readers_no_torn_frames() -> None:
    shape = (256, 256)
    total = 3000
    ring = FrameRing(8, shape[0] * shape[1])  # small ring so readers are lapped often
    sources = [_stamped(i, shape) for i in range(64)]
    done = threading.Event()
    failures: list[str] = []
    results: dict[str, tuple[int, int]] = {}

    def drainer(name: str) -> None:
        cursor = ring.cursor(from_newest=False)
        received = 0
        expected_next = 0
        while True:
            finished = done.is_set()
            got = cursor.drain()
            for r in got.frames:
                if not _intact(r.frame.pixels):
                    failures.append(f"{name}: torn frame {r.ring_seq}")
                if r.frame.seq % 64 != r.ring_seq % 64:
                    failures.append(f"{name}: metadata of {r.ring_seq} does not match")
                if r.ring_seq < expected_next:
                    failures.append(f"{name}: frame {r.ring_seq} out of order")
                expected_next = r.ring_seq + 1
            received += len(got.frames)
            if finished and cursor.next_seq > ring.newest_seq:
                break
        results[name] = (received, cursor.lost_total)

    def peeker() -> None:
        while not done.is_set():
            latest = ring.peek_latest()
            if latest is not None and not _intact(latest.frame.pixels):
                failures.append(f"peek: torn frame {latest.ring_seq}")

    readers = [threading.Thread(target=drainer, args=(f"drain{i}",)) for i in range(3)]
    readers.append(threading.Thread(target=peeker))
    for t in readers:
        t.start()
    for i in range(total):
        ring.push(make_frame(i, pixels=sources[i % 64]))
    done.set()
    for t in readers:
        t.join(30)
    assert not any(t.is_alive() for t in readers)
    assert failures == []
    for name, (received, lost) in results.items():
        # Every frame is either received intact or counted as lost: none vanish.
        assert received + lost == total, (name, received, lost)
        assert received > 0
