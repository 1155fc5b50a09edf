"""`replay`'s text stays bounded whatever the depth of the best chain: an ordinary chain is shown
whole, each link indented by its depth; a deep one shows its root end, a count of the links left
out and its best end."""

from click.testing import CliRunner

from autorecipe.cli import main
from autorecipe.render import CHAIN_HEAD, CHAIN_LINES
from events import RunDir
from tests.conftest import lifecycle, new, run_started


def chain_run(path, depth: int):
    """A run whose every trial improves on its parent: the best chain is `depth` links long."""
    with RunDir(path).store(fsync=False) as store:
        store.append([new(run_started(), "run")])
        batch, parent = [], None
        for i in range(depth):
            tid = f"t{i:06d}"
            batch += lifecycle(tid, 10.0 - i * 1e-3, parent)
            parent = tid
            if len(batch) >= 4000:
                store.append(batch)
                batch = []
        store.append(batch)
    return path


def chain_text(path) -> list[str]:
    result = CliRunner().invoke(main, ["replay", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("best lineage (root → best)") + 1
    return lines[start:lines.index("", start)]


def test_an_ordinary_chain_is_shown_whole_each_link_indented_by_its_depth(tmp_path):
    lines = chain_text(chain_run(tmp_path / "run", 12))
    assert len(lines) == 12
    for depth, line in enumerate(lines):
        assert line.startswith("  " + "  " * depth + f"t{depth:06d} [opt] ")


def test_a_deep_chain_shows_both_ends_and_counts_the_middle(tmp_path):
    shallow = CliRunner().invoke(main, ["replay", str(chain_run(tmp_path / "shallow", CHAIN_LINES + 1))]).output
    lines = chain_text(chain_run(tmp_path / "deep", 3000))
    assert len(lines) == CHAIN_LINES
    assert lines[0].startswith("  t000000 [opt]") and lines[CHAIN_HEAD - 1].strip().startswith(f"t{CHAIN_HEAD - 1:06d}")
    left_out = 3000 - CHAIN_LINES + 1
    assert lines[CHAIN_HEAD].strip() == f"... {left_out:,} more links (depth {CHAIN_HEAD} to {CHAIN_HEAD + left_out - 1:,}) ..."
    assert lines[CHAIN_HEAD + 1].strip().startswith(f"t{CHAIN_HEAD + left_out:06d}")
    assert lines[-1].strip().startswith("t002999 [opt]")  # the best itself
    assert max(len(line) for line in lines) < 2 * CHAIN_LINES + 120  # indentation capped with the lines
    deep = CliRunner().invoke(main, ["replay", str(tmp_path / "deep")]).output
    assert len(deep) < 8_000 and len(deep) - len(shallow) < 200  # counts grow a few digits, nothing else


def test_the_json_chain_is_bounded_too_and_says_where_links_were_left_out(tmp_path):
    import json

    def summary(depth: int) -> dict:
        result = CliRunner().invoke(main, ["replay", str(chain_run(tmp_path / str(depth), depth)), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    whole = summary(12)
    assert whole["best_chain"] == [f"t{i:06d}" for i in range(12)]
    assert (whole["best_chain_length"], whole["best_chain_gap"]) == (12, None)
    deep = summary(3000)
    ids, gap = deep["best_chain"], deep["best_chain_gap"]
    assert deep["best_chain_length"] == 3000 and gap == CHAIN_HEAD and len(ids) == CHAIN_LINES - 1
    assert ids[:gap] == [f"t{i:06d}" for i in range(CHAIN_HEAD)]  # the root end
    assert ids[gap:] == [f"t{i:06d}" for i in range(3000 - len(ids) + gap, 3000)]  # the best end, the best last
    assert ids[-1] == deep["best"]["trial_id"]
