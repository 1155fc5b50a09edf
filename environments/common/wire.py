"""What crosses between a judge and the recipe's model server: arrays in the npy format (no
pickle, ever), each framed by its length, over two pipes. Staged into every trial's harness
folder (the server's side) and imported by the judges (theirs); numpy is all it needs."""

import io
import os
import struct

import numpy as np

MAX_BYTES = 1 << 30  # a reply larger than this is refused, not read


class WireError(Exception):
    pass


def send(f, array) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    data = buf.getvalue()
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


def _exactly(f, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            raise WireError(f"the other side closed the pipe after {got} of {n} bytes")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def receive(f, max_bytes: int = MAX_BYTES):
    """The next array, or None when the other side closed the pipe between two arrays."""
    head = f.read(8)
    if not head:
        return None
    if len(head) < 8:
        head += _exactly(f, 8 - len(head))
    (n,) = struct.unpack("<Q", head)
    if n > max_bytes:
        raise WireError(f"an array of {n:,} bytes, over the {max_bytes:,}-byte limit")
    try:
        return np.load(io.BytesIO(_exactly(f, n)), allow_pickle=False)
    except ValueError as exc:
        raise WireError(f"not an npy array: {exc}") from None


def server_pipes():
    """The model server's ends: (requests from the judge, replies to it)."""
    return (os.fdopen(int(os.environ["AUTORECIPE_JUDGE_IN"]), "rb", buffering=0),
            os.fdopen(int(os.environ["AUTORECIPE_JUDGE_OUT"]), "wb", buffering=0))


def judge_pipes():
    """The judge's ends: (requests to the server, replies from it)."""
    return (os.fdopen(int(os.environ["AUTORECIPE_JUDGE_TO"]), "wb", buffering=0),
            os.fdopen(int(os.environ["AUTORECIPE_JUDGE_FROM"]), "rb", buffering=0))


def serve(hello, logprobs) -> int:
    """The model server's loop: send `hello` (what the judge needs to know of the model), then
    answer each array of token windows with `logprobs(windows)`, until the judge closes the pipe.
    Returns how many requests were answered."""
    requests, replies = server_pipes()
    send(replies, hello)
    n = 0
    while True:
        windows = receive(requests)
        if windows is None:
            return n
        send(replies, logprobs(windows))
        n += 1
