"""`autorecipe check`: what a user gets wrong in an environment is found before any trial, each
problem naming the field and the file; a spec that cannot even be built says where, in a line."""

import dataclasses
import sys
import textwrap

import pytest
from click.testing import CliRunner

from autorecipe.check_env import check, source_of
from autorecipe.cli import main
from environments import registry
from environments.spec import Budget, Edit, Specialist, Surface, Technique

DRYRUN = registry.get("dryrun")
SOURCE = source_of("dryrun")


def _errors(spec, **kw):
    return check(spec, SOURCE, data=False, **kw)


def test_every_known_environment_passes():
    for name in [*registry.names(), "examples.polyfit:SPEC"]:
        report = check(registry.get(name), source_of(name), data=False)
        assert report.ok, report.errors


def test_a_budget_for_a_phase_that_does_not_exist_is_named_with_its_file():
    micro = DRYRUN.tiers["micro"]
    spec = dataclasses.replace(DRYRUN, tiers={"micro": dataclasses.replace(micro, budgets={"trian": Budget(5)})})
    errors = _errors(spec).errors
    assert any("tiers['micro'].budgets" in e and "'trian' names no phase" in e for e in errors), errors
    assert any("phase 'train' has no budget" in e for e in errors), errors
    assert all(e.startswith(SOURCE) and SOURCE.endswith("dryrun/__init__.py") for e in errors)


def test_a_region_that_exists_in_no_file_is_an_error():
    spec = dataclasses.replace(DRYRUN, specialists=(
        Specialist("alpha", Surface(files=("knobs.py",), regions=("alhpa",)), "typo"),))
    errors = _errors(spec).errors
    assert any("specialists['alpha'].surface.regions" in e and "# region alhpa" in e for e in errors), errors


def test_an_evaluator_that_does_not_import_or_takes_the_wrong_arguments_is_an_error():
    errors = _errors(dataclasses.replace(DRYRUN, evaluator="no_such_pkg.evaluate:evaluate")).errors
    assert any(e.split(": ", 1)[1].startswith("evaluator:") and "does not import" in e and "PYTHONPATH" in e
               for e in errors), errors
    errors = _errors(dataclasses.replace(DRYRUN, evaluator="os.path:join")).errors  # imports: wrong signature
    assert errors == []  # join(*paths) accepts four arguments: the signature check is about binding
    errors = _errors(dataclasses.replace(DRYRUN, evaluator="os.path:basename")).errors
    assert any("must take (executed, blobs, data, tier)" in e for e in errors), errors


def test_a_technique_whose_search_text_matches_nothing_is_an_error_or_with_lenient_a_warning():
    broken = Technique("wider", "alpha", "WIDTH {value}", (Edit("knobs.py", "WIDHT = 32", "WIDTH = {value}"),),
                       values=("48",))
    spec = dataclasses.replace(DRYRUN, techniques=DRYRUN.techniques + (broken,))
    report = _errors(spec)
    assert any("techniques['wider'].edits[0] with value '48'" in e and "matches nothing" in e for e in report.errors)
    lenient = _errors(spec, lenient=True)
    assert lenient.ok and any("matches nothing" in w for w in lenient.warnings)


def test_outputs_named_with_the_out_prefix_and_bad_fields_are_errors():
    spec = dataclasses.replace(DRYRUN, outputs=("out/knobs.py",), direction="lower", metric="")
    errors = _errors(spec).errors
    assert any("outputs" in e and "without the out/ prefix" in e for e in errors)
    assert any("direction" in e and "minimize" in e for e in errors)
    assert any(": metric:" in e for e in errors)


def test_the_data_is_prepared_and_its_train_files_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTORECIPE_DATA", str(tmp_path / "data"))
    spec = dataclasses.replace(DRYRUN, train_data=("points.npz",))
    errors = check(spec, SOURCE).errors
    assert any("train_data" in e and "points.npz" in e for e in errors), errors
    assert (tmp_path / "data" / "dryrun" / "PREPARED").is_file()


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """A folder on sys.path for a user's own environment module."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("broken_env")]:
        del sys.modules[name]


def test_a_spec_missing_a_field_is_one_line_naming_the_file_and_line(user_package):
    (user_package / "broken_env.py").write_text(textwrap.dedent("""\
        from pathlib import Path
        from environments.spec import EnvironmentSpec

        SPEC = EnvironmentSpec(name="broken", description="", root=Path(__file__).parent)
        """))
    result = CliRunner().invoke(main, ["check", "broken_env:SPEC"])
    assert result.exit_code != 0
    out = result.output.strip()
    assert "Traceback" not in out and len(out.splitlines()) <= 2, out
    assert "broken_env.py:4" in out and "missing" in out and "TypeError" in out


def test_the_check_command_lists_every_problem_and_exits_1(user_package):
    (user_package / "broken_env2.py").write_text(textwrap.dedent("""\
        import dataclasses
        from environments import registry
        from environments.spec import Budget

        d = registry.get("dryrun")
        SPEC = dataclasses.replace(d, evaluator="nowhere:evaluate",
                                   tiers={"micro": dataclasses.replace(d.tiers["micro"], budgets={"trian": Budget(5)})})
        """))
    result = CliRunner().invoke(main, ["check", "broken_env2:SPEC", "--no-data"])
    assert result.exit_code == 1
    assert "3 problem(s)" in result.output and "trian" in result.output and "nowhere" in result.output
    assert "broken_env2.py" in result.output
    ok = CliRunner().invoke(main, ["check", "dryrun", "--no-data"])
    assert ok.exit_code == 0 and "dryrun: ok" in ok.output


def test_run_and_trial_check_first_and_spend_nothing(user_package, tmp_path):
    (user_package / "broken_env3.py").write_text(textwrap.dedent("""\
        import dataclasses
        from environments import registry

        SPEC = dataclasses.replace(registry.get("dryrun"), evaluator="nowhere:evaluate")
        """))
    for args in (["run", str(tmp_path / "run"), "--env", "broken_env3:SPEC"], ["trial", "broken_env3:SPEC"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code != 0 and "nowhere" in result.output and "nothing was run" in result.output
    assert not (tmp_path / "run").exists()


def test_recipe_and_harness_files_that_leave_their_folder_or_are_one_string_are_errors(tmp_path):
    """check said ok to recipe_files ('../etc/x.py',), which the trial runner then refused with a
    bare ValueError; and recipe_files='train.py' (a string) gave an error per character."""
    outside = tmp_path / "etc" / "x.py"
    outside.parent.mkdir()
    outside.write_text("x = 1\n")
    for field_name, bad in (("recipe_files", ("../etc/x.py",)), ("recipe_files", (str(outside),)),
                            ("harness_files", ("../../etc/x.py",))):
        errors = _errors(dataclasses.replace(DRYRUN, **{field_name: bad})).errors
        assert any(f"{field_name}: {bad[0]!r} must be a path relative to its folder" in e for e in errors), errors
    errors = _errors(dataclasses.replace(DRYRUN, recipe_files="knobs.py")).errors
    assert any("'knobs.py' must be a tuple of file names" in e for e in errors), errors
    assert not any("'k': no file" in e for e in errors), errors
