"""Stored bytes are a public format: samples written by earlier code must decode today."""

import pytest

from events.envelope import decode_record
from events.schema import TAGS
from tests.golden.samples import SAMPLES, golden_path, sample_record


def test_every_event_type_has_a_sample_and_a_golden_file():
    assert set(SAMPLES) == set(TAGS)
    missing = [t for t in TAGS if not golden_path(t).exists()]
    assert not missing, f"no golden bytes for {missing}: run python -m tests.golden.samples"


@pytest.mark.parametrize("tag", sorted(TAGS))
def test_golden_bytes_decode_with_todays_code(tag):
    got = decode_record(golden_path(tag).read_bytes())
    want = sample_record(tag)
    # NaN != NaN, so compare the encodings' decoded structure field by field via repr
    assert repr(got) == repr(want)
    assert got.type == tag
