"""NTP-style clock offset: hand-computed samples and a simulated network with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from atb.venues.clock_sync import ClockOffset, ClockSample
from atb.venues.errors import ClockSkewError


def test_midpoint_math_by_hand() -> None:
    sample = ClockSample(sent_ms=1_000.0, server_ms=1_300.0, received_ms=1_100.0)
    assert sample.round_trip_ms == 100.0
    assert sample.offset_ms == 250.0  # 1300 - (1000 + 1100) / 2
    est = ClockOffset.from_samples([sample], resolution_ms=1.0)
    assert (est.offset_ms, est.uncertainty_ms, est.round_trip_ms, est.samples) == (250.0, 51.0, 100.0, 1)


def test_shortest_round_trip_wins_and_backward_steps_are_dropped() -> None:
    samples = [
        ClockSample(0.0, 400.0, 300.0),  # rtt 300, offset 250
        ClockSample(1_000.0, 1_215.0, 1_020.0),  # rtt 20, offset 205
        ClockSample(2_000.0, 2_100.0, 1_990.0),  # clock stepped back: unusable
        ClockSample(3_000.0, 3_260.0, 3_080.0),  # rtt 80, offset 220
    ]
    est = ClockOffset.from_samples(samples, resolution_ms=0.0)
    assert (est.offset_ms, est.uncertainty_ms, est.samples) == (205.0, 10.0, 3)
    with pytest.raises(ValueError, match="no usable clock sample"):
        ClockOffset.from_samples([ClockSample(5.0, 0.0, 4.0)])
    with pytest.raises(ValueError):
        ClockOffset.from_samples([])


class SimulatedVenue:
    """A venue whose clock runs `true_offset_ms` ahead of ours, over a link with given one-way delays."""

    def __init__(self, true_offset_ms: float, delays_ms: list[tuple[float, float]]) -> None:
        self.local_ms = 1_700_000_000_000.0
        self.true_offset_ms = true_offset_ms
        self.delays = list(delays_ms)

    def now_ms(self) -> float:
        return self.local_ms

    def fetch_time_ms(self) -> int:
        outbound, inbound = self.delays.pop(0)
        self.local_ms += outbound
        stamped = int(self.local_ms + self.true_offset_ms)  # the venue answers in whole ms
        self.local_ms += inbound
        return stamped

    async def afetch_time_ms(self) -> int:
        await asyncio.sleep(0)
        return self.fetch_time_ms()


DELAYS = [(120.0, 30.0), (15.0, 9.0), (40.0, 41.0), (300.0, 5.0), (22.0, 25.0)]


def test_measure_recovers_the_offset_within_its_uncertainty() -> None:
    venue = SimulatedVenue(true_offset_ms=-842.0, delays_ms=DELAYS)
    est = ClockOffset.measure(venue.fetch_time_ms, now_ms=venue.now_ms, samples=5)
    assert est.samples == 5
    assert est.round_trip_ms == 24.0  # the (15, 9) sample
    assert est.offset_ms == pytest.approx(-842.0 + (15.0 - 9.0) / 2)  # asymmetry shows up as half its size
    assert abs(est.offset_ms - venue.true_offset_ms) <= est.uncertainty_ms
    assert est.venue_time_ms(1_000_000.0) == pytest.approx(1_000_000.0 - 839.0)


def test_ameasure_matches_measure() -> None:
    sync_venue = SimulatedVenue(310.0, DELAYS)
    sync = ClockOffset.measure(sync_venue.fetch_time_ms, now_ms=sync_venue.now_ms, samples=5)
    venue = SimulatedVenue(310.0, DELAYS)
    est = asyncio.run(ClockOffset.ameasure(venue.afetch_time_ms, now_ms=venue.now_ms, samples=5))
    assert est == sync
    assert est.offset_ms == pytest.approx(313.0)
    assert abs(est.offset_ms - 310.0) <= est.uncertainty_ms


def test_check_raises_a_clear_error_when_off() -> None:
    behind = ClockOffset(offset_ms=1_250.0, uncertainty_ms=12.0, round_trip_ms=22.0, samples=5)
    with pytest.raises(ClockSkewError) as info:
        behind.check(max_offset_ms=500)
    message = str(info.value)
    assert "1250 ms" in message and "behind" in message and "500 ms" in message and "NTP" in message
    assert info.value.offset_ms == 1_250.0
    ahead = ClockOffset(offset_ms=-600.0, uncertainty_ms=5.0, round_trip_ms=8.0, samples=3)
    with pytest.raises(ClockSkewError, match="ahead of"):
        ahead.check()
    fine = ClockOffset(offset_ms=-499.0, uncertainty_ms=40.0, round_trip_ms=78.0, samples=3)
    assert fine.check() is fine
    assert fine.check(max_offset_ms=499.0) is fine


def test_measure_needs_a_sample() -> None:
    with pytest.raises(ValueError):
        ClockOffset.measure(lambda: 0.0, samples=0)
