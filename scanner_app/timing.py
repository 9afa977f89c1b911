"""Clock bookkeeping: the probe-to-host clock offset (spec section 8) and rolling rate and percentiles."""

from __future__ import annotations

import collections

import numpy as np


class ClockOffsetEstimator:
    """Estimates host_time - device_time as the minimum over the last `window` frames.

    The minimum is the frame that travelled fastest, so `latency_ns` is each frame's delay beyond
    the best case seen recently. A device clock that jumps backwards (probe reset) restarts the estimate.
    """

    def __init__(self, window: int = 100) -> None:
        self._diffs: collections.deque[int] = collections.deque(maxlen=window)
        self._last_device_ns = -1

    def update(self, device_time_us: int, host_time_ns: int) -> int:
        """Feed one frame; returns its estimated acquisition time in host nanoseconds."""
        device_ns = device_time_us * 1000
        if device_ns < self._last_device_ns:
            self._diffs.clear()
        self._last_device_ns = device_ns
        self._diffs.append(host_time_ns - device_ns)
        return device_ns + min(self._diffs)


class RollingStats:
    """Frame rate over the last second and latency percentiles over the last `window` samples."""

    def __init__(self, window: int = 1000) -> None:
        self._arrivals_ns: collections.deque[int] = collections.deque()
        self._latencies_ms: collections.deque[float] = collections.deque(maxlen=window)

    def add(self, arrival_ns: int, latency_ms: float) -> None:
        self._arrivals_ns.append(arrival_ns)
        while self._arrivals_ns and arrival_ns - self._arrivals_ns[0] > 1_000_000_000:
            self._arrivals_ns.popleft()
        self._latencies_ms.append(latency_ms)

    def frame_rate_hz(self, now_ns: int) -> float:
        while self._arrivals_ns and now_ns - self._arrivals_ns[0] > 1_000_000_000:
            self._arrivals_ns.popleft()
        n = len(self._arrivals_ns)
        if n < 2:
            return float(n)
        span_s = (self._arrivals_ns[-1] - self._arrivals_ns[0]) / 1e9
        return (n - 1) / span_s if span_s > 0 else 0.0

    def latency_percentiles_ms(self) -> tuple[float, float]:
        """(p50, p99) of recent latencies; (nan, nan) before any frame."""
        if not self._latencies_ms:
            return float("nan"), float("nan")
        p50, p99 = np.percentile(np.fromiter(self._latencies_ms, dtype=np.float64), [50, 99])
        return float(p50), float(p99)
