"""What the miniatures' judges share: reading the model server's replies with checks, the
normalisation and causality measures, and writing the judge's result. A judge runs as the
executor's user in its own process, outside the trial's sandbox; it never imports recipe code
and reads nothing the recipe wrote except arrays in the npy format."""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

VOCAB = 257


class Refused(Exception):
    """The server broke the protocol: the judge says so in its result, and the verdict is a crash."""


def ask(pipes, windows: np.ndarray) -> np.ndarray:
    """Log-probabilities for each position of each window, checked for shape and finiteness."""
    to, back = pipes
    try:
        wire.send(to, windows.astype(np.int64))
    except BrokenPipeError:
        raise Refused("the model server closed its pipe (it exited or crashed)") from None
    try:
        lp = wire.receive(back, max_bytes=windows.size * VOCAB * 8 + 4096)
    except wire.WireError as exc:
        raise Refused(f"model server: {exc}") from None
    if lp is None:
        raise Refused("the model server closed its pipe before answering")
    if lp.shape != (*windows.shape, VOCAB) or lp.dtype.kind != "f":
        raise Refused(f"model server answered an array of shape {lp.shape} and type {lp.dtype}, "
                      f"expected {(*windows.shape, VOCAB)} floats")
    lp = lp.astype(np.float64)
    if not np.isfinite(lp).all():
        raise Refused("model server answered log-probabilities that are not finite")
    return lp


def hello(pipes) -> np.ndarray:
    try:
        got = wire.receive(pipes[1], max_bytes=4096)
    except wire.WireError as exc:
        raise Refused(f"model server: {exc}") from None
    if got is None:
        raise Refused("the model server exited before it said hello (did the model load?)")
    return got


def logsumexp_error(lp: np.ndarray) -> float:
    m = lp.max(-1, keepdims=True)
    return float(np.abs((m + np.log(np.exp(lp - m).sum(-1, keepdims=True)))).max()) if lp.size else 0.0


def normalized(lp: np.ndarray) -> np.ndarray:
    """`lp` made to sum to one at every position: what is scored. The normalization probe lets a
    distribution be off by its tolerance (float error), and a server that added that much to
    every log-probability would otherwise be paid for it in every scored token."""
    m = lp.max(-1, keepdims=True)
    return lp - (m + np.log(np.exp(lp - m).sum(-1, keepdims=True)))


def rng() -> np.random.Generator:
    """An order the recipe cannot predict (it never sees this process). The judges of one attempt's
    repeats draw the same one: the runner gives them all one seed, drawn for the attempt and given
    to no recipe process."""
    seed = os.environ.get("AUTORECIPE_JUDGE_SEED")
    return np.random.default_rng(int(seed, 16) if seed else int.from_bytes(os.urandom(8), "little"))


def write(result: dict, name: str) -> None:
    with open(name, "w") as f:
        json.dump(result, f)


def run(main, name: str) -> None:
    """Run `main(pipes)` and write what it returns, or the server's refusal, to `name`."""
    pipes = wire.judge_pipes()
    try:
        result = main(pipes)
    except Refused as exc:
        result = {"error": str(exc)}
    finally:
        pipes[0].close()  # the server's end-of-requests: it exits
    write(result, name)
