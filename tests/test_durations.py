"""The one duration parser, as every --time and the API read it."""

import pytest

from tensorgame.durations import DurationError, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), (90, 90), (1.5, 1.5), ("1.5s", 1.5), ("10m", 600), ("2h", 7200), ("1h30m", 5400),
    ("1 h", 3600), (" 1h 30m ", 5400), ("1d", 86400), (".5m", 30), ("1D", 86400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "m", "1x", "0", "-3", "3x", "10 minutes", "1h30", "inf", "nan",
                                 True, 0, -1.0, float("inf"), "9" * 400 + "h"])
def test_bad_durations_are_user_errors(bad):
    with pytest.raises(DurationError):
        parse_duration(bad)
