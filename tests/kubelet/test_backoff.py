"""The CrashLoopBackOff schedule: 10 s doubling to 5 min, reset after 10 min, scaled for labs."""

import pytest

from kubelab.kubelet.backoff import Backoff, format_duration
from kubelab.runtime import FakeClock


def restart_delay(backoff: Backoff, clock: FakeClock) -> float:
    """A crash now, then syncs as the kubelet does them until the container is restarted: the wait."""
    finished = clock.wall()
    waited = 0.0
    while backoff.is_in_backoff_since("c", finished):
        wait = backoff.remaining("c", finished)
        clock.step(wait)
        waited += wait
    backoff.next("c", finished)
    return waited


def test_the_first_restart_is_immediate_then_each_wait_doubles_up_to_five_minutes():
    clock = FakeClock()
    backoff = Backoff(clock=clock)
    waits = []
    for _ in range(9):
        waits.append(restart_delay(backoff, clock))
        clock.step(0.5)  # runs half a second, then crashes again
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_ten_minutes_of_running_resets_the_back_off():
    clock = FakeClock()
    backoff = Backoff(clock=clock)
    for _ in range(5):
        restart_delay(backoff, clock)
    assert backoff.get("c") == 160
    clock.step(601)
    assert restart_delay(backoff, clock) == 0
    assert backoff.get("c") == 10


def test_the_scale_shrinks_every_duration():
    clock = FakeClock()
    backoff = Backoff(scale=0.1, clock=clock)
    restart_delay(backoff, clock)
    assert restart_delay(backoff, clock) == pytest.approx(1.0)
    assert Backoff(scale=0.1).maximum == pytest.approx(30.0)


def test_a_scale_must_be_positive():
    with pytest.raises(ValueError, match="must be positive"):
        Backoff(scale=0)


def test_since_update_counts_from_the_last_failure():
    clock = FakeClock()
    backoff = Backoff(clock=clock)
    assert not backoff.is_in_backoff_since_update("image")
    backoff.next("image", clock.wall())
    assert backoff.is_in_backoff_since_update("image")
    clock.step(10.5)
    assert not backoff.is_in_backoff_since_update("image")


@pytest.mark.parametrize("seconds, text", [(10, "10s"), (20, "20s"), (160, "2m40s"), (300, "5m0s"), (1.5, "1.5s")])
def test_durations_print_as_go_prints_them(seconds, text):
    assert format_duration(seconds) == text
