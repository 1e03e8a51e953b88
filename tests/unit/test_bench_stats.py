"""The benches' one percentile definition (linear interpolation between sorted samples)."""
import pytest

from bench.stats import percentile


def test_percentile_interpolates_between_samples():
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 0.5) == 30.0
    assert percentile(values, 0.95) == 48.0
    assert percentile(values, 0.0) == 10.0 and percentile(values, 1.0) == 50.0
    assert percentile(reversed(values), 0.25) == 20.0


def test_percentile_of_nothing_and_of_one():
    assert percentile([], 0.95) is None
    assert percentile([7.25], 0.95, ndigits=None) == 7.25


def test_percentile_refuses_a_quantile_outside_zero_to_one():
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], 95)
