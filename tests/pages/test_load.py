"""A small version of the classroom load test (scripts/loadtest.py runs the full one):
several sessions at once build, train and inspect in one app process."""
from __future__ import annotations

import os

import pytest

from scripts.loadtest import load_test
from tests.support import needs_data

pytestmark = [pytest.mark.load,
              needs_data]


def test_five_sessions_at_once_keep_to_themselves_and_leave_nothing_behind():
    report = load_test(sessions=5, steps=40, refresh=0.5)
    assert report.problems == []  # each trained its own spec and settings, showed its own
    assert report.refreshes >= 10
    assert report.threads_after <= report.threads_before < report.threads_during_max
    assert report.rss_peak_mb - report.rss_start_mb < 1500
