import pytest

from kubelab.api import meta
from kubelab.api.meta import human_duration, now_rfc3339


@pytest.mark.parametrize(
    "seconds, shown",
    [(-5, "<invalid>"), (0, "0s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
     (10 * 3600, "10h"), (50 * 3600, "2d2h"), (30 * 86400, "30d"), (3 * 365 * 86400, "3y")],
)
def test_ages_print_like_kubectl(seconds, shown):
    assert human_duration(seconds) == shown


def test_now_is_written_in_whole_utc_seconds_and_follows_the_clock(monkeypatch):
    monkeypatch.setattr(meta.time, "time", lambda: 1_790_000_000.7)
    assert now_rfc3339() == "2026-09-21T14:13:20Z"
    monkeypatch.setattr(meta.time, "time", lambda: 1_790_000_001.2)
    assert now_rfc3339() == "2026-09-21T14:13:21Z"
