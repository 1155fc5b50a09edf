"""How a Parameter Golf record counts its code bytes (harness: staged with pg_run.py; the adapter
imports the same file, so the rule chosen at launch and the bytes counted in a trial agree).

The README counts "code bytes plus compressed model bytes", code being train_gpt.py. Records
count it three ways, and each rule here reproduces one of them:

  raw              the file's bytes (the baseline, train_gpt.py:1073, and the March records)
  lzma-raw         the file is a self-extracting wrapper, `import lzma as L,base64 as B` +
                   `exec(L.decompress(B.b85decode("..."),format=L.FORMAT_RAW,filters=[{"id":
                   L.FILTER_LZMA2}]))` (2026-04-03 .. 2026-04-09 records, the README's example
                   among them): the recipe is the unpacked source and its bytes are those of the
                   wrapper around it, repacked here (LZMA2 preset 9e, as the published system's
                   multi_agent_pg/tools/pack_submission.py; within 12 bytes of every shipped wrapper)
  pyminify+lzma    the record's own `_compressed_code_size` (2026-04-10 on, e.g.
  pyminify+brotli  2026-04-27_SmearGateBOSFix.../train_gpt.py:2459-2470): `pyminify FLAGS -`, then
                   lzma.compress (or brotli quality 11), base85, a two-line exec wrapper; the
                   record falls back to the raw source when pyminify is missing or fails, and so
                   does this.

Only the standard library (and brotli, for that one rule) is used: this runs inside trials.
"""

from __future__ import annotations

import ast
import base64
import lzma
import re
import subprocess

RULES = ("raw", "lzma-raw", "pyminify+lzma", "pyminify+brotli")
DEFAULT_FLAGS = ("--no-rename-locals", "--no-hoist-literals", "--remove-literal-statements")
_RAW_FILTERS = [{"id": lzma.FILTER_LZMA2}]
_WRAPPER = re.compile(rb"\A(?:#[^\n]*\n)*import lzma as L,base64 as B\n(?:__\w+__=\d+\n)?"
                      rb"exec\(L\.decompress\(B\.b85decode\(")


def unpack(src: bytes) -> bytes | None:
    """The source inside a self-extracting lzma+base85 train_gpt.py, or None if it is not one."""
    if not _WRAPPER.match(src):
        return None
    tree = ast.parse(src)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "exec")
    decompress = call.args[0]
    blob = ast.literal_eval(decompress.args[0].args[0])
    raw = any(k.arg == "format" for k in decompress.keywords)
    how = {"format": lzma.FORMAT_RAW, "filters": _RAW_FILTERS} if raw else {}
    return lzma.decompress(base64.b85decode(blob), **how)


def detect(src: bytes) -> tuple[str, tuple[str, ...]]:
    """The record's own rule and its pyminify flags, from the shipped train_gpt.py."""
    if unpack(src) is not None:
        return "lzma-raw", ()
    text = src.decode("utf-8", "replace")
    if "def _compressed_code_size" not in text:
        return "raw", ()
    body = text[text.index("def _compressed_code_size"):][:3000]
    flags = re.search(r'\["pyminify",((?:\s*"[^"]*",)*)\s*"-"\]', body)
    found = tuple(re.findall(r'"([^"]*)"', flags[1])) if flags else DEFAULT_FLAGS
    return ("pyminify+brotli" if "brotli.compress(" in body else "pyminify+lzma"), found


def counted_bytes(code: bytes, rule: str, flags: tuple[str, ...] = DEFAULT_FLAGS, pyminify: str = "pyminify") -> int:
    if rule == "raw":
        return len(code)
    if rule == "lzma-raw":
        packed = lzma.compress(code, format=lzma.FORMAT_RAW,
                               filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}])
        return len(b'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("' + base64.b85encode(packed)
                   + b'"),format=L.FORMAT_RAW,filters=[{"id":L.FILTER_LZMA2}]))\n')
    if rule not in RULES:
        raise ValueError(f"unknown code rule {rule!r}; one of {', '.join(RULES)}")
    try:
        minified = subprocess.run([pyminify, *flags, "-"], input=code, capture_output=True, check=True,
                                  timeout=120).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        minified = code
    if rule == "pyminify+brotli":
        import brotli

        body = base64.b85encode(brotli.compress(minified, quality=11))
        return len(b'import brotli as B,base64 as b\nexec(B.decompress(b.b85decode("' + body + b'")))\n')
    body = base64.b85encode(lzma.compress(minified))
    return len(b'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("' + body + b'")))\n')
