"""Edits applied exactly, diffs and hashes recorded, and where a change landed."""

import pytest

from agents.changes import EditError, code_sha256, make_change, surface_violations
from environments import registry
from environments.spec import Edit, Surface

RECIPE = {"r.py": b"# region opt\nLR = 1\n# endregion opt\n\n# region arch\nWIDTH = 8\n# endregion arch\nX = 0\n"}


def test_a_change_has_a_unified_diff_and_the_hashes_of_both_sides():
    ch = make_change(RECIPE, [Edit("r.py", "LR = 1", "LR = 2")])
    assert ch.code["r.py"].count(b"LR = 2") == 1
    assert "--- a/r.py\n+++ b/r.py\n" in ch.diff and "-LR = 1\n+LR = 2\n" in ch.diff
    assert ch.parent_sha256 == code_sha256(RECIPE) != ch.child_sha256 == code_sha256(ch.code)
    assert ch.touched == {"r.py": ("opt",)}


@pytest.mark.parametrize("edits, message", [
    ([Edit("r.py", "LR = 9", "LR = 2")], "does not occur"),
    ([Edit("r.py", "\n", "\n\n")], "occurs"),
    ([Edit("nope.py", "a", "b")], "no such recipe file"),
    ([Edit("r.py", "LR = 1", "LR = (")], "not valid Python"),
    ([Edit("r.py", "LR = 1", "LR = 1")], "change nothing"),
    ([], "no edits"),
])
def test_an_edit_that_cannot_apply_is_refused_whole(edits, message):
    with pytest.raises(EditError, match=message):
        make_change(RECIPE, edits)
    if edits and "nothing" not in message:  # a good edit first does not make it partly applied
        with pytest.raises(EditError, match=message):
            make_change(RECIPE, [Edit("r.py", "WIDTH = 8", "WIDTH = 9")] + edits)


def test_surface_violations_name_the_region_that_was_changed():
    inside = make_change(RECIPE, [Edit("r.py", "WIDTH = 8", "WIDTH = 16")])
    outside = make_change(RECIPE, [Edit("r.py", "X = 0", "X = 1")])
    marker = make_change(RECIPE, [Edit("r.py", "# endregion opt\n", "WD = 0\n# endregion opt\n")])
    arch = Surface(files=("r.py",), regions=("arch",))
    opt = Surface(files=("r.py",), regions=("opt",))
    assert surface_violations(inside, arch) == []
    assert "opt" in surface_violations(inside, opt)[0] and "arch" in surface_violations(inside, opt)[0]
    assert "outside every region" in surface_violations(outside, arch)[0]
    assert surface_violations(marker, opt) == []  # inserted inside opt, before its end marker
    assert surface_violations(inside, Surface(files=("other.py",)))[0].startswith("r.py is not in")


def test_every_technique_of_every_environment_applies_to_its_baseline():
    from agents.library import Arm

    for name in registry.names():
        spec = registry.get(name)
        for t in spec.techniques:
            owner = spec.specialist(t.specialist)
            for v in t.values:
                ch = make_change(spec.baseline_code(), Arm(t, v).edits())
                assert surface_violations(ch, owner.surface) == [], (name, t.name, v)
