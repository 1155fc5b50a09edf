import hashlib

import pytest

from events import BlobCorrupt, BlobMissing, BlobStore


def test_put_get_is_content_addressed(tmp_path):
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"print('hi')\n")
    assert ref.sha256 == hashlib.sha256(b"print('hi')\n").hexdigest() and ref.size == 12
    assert blobs.get(ref) == b"print('hi')\n" and blobs.get(ref.sha256) == b"print('hi')\n"
    assert blobs.put(b"print('hi')\n") == ref  # written once
    assert blobs.has(ref.sha256) and list(tmp_path.rglob(".tmp-*")) == []


@pytest.mark.faults
def test_a_damaged_blob_is_an_error_never_data(tmp_path):
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"the recipe")
    path = blobs.path_of(ref.sha256)
    path.write_bytes(b"the recipE")
    with pytest.raises(BlobCorrupt, match=ref.sha256):
        blobs.get(ref)


def test_missing_blob(tmp_path):
    with pytest.raises(BlobMissing):
        BlobStore(tmp_path).get("a" * 64)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "a" * 63, "", "a" * 63 + "/", None])
def test_blob_names_must_be_digests(tmp_path, bad):
    with pytest.raises(ValueError, match="not a sha256"):
        BlobStore(tmp_path).get(bad)
