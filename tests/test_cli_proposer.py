"""`run --proposer`: the offline library runs dry (dryrun's after about 20 trials), the random
proposer does not, so `run --help`'s `--env dryrun --runner zero --proposer random --trials 500`
runs every trial it asks for."""

from click.testing import CliRunner

from actors.local_loop import run_local
from autorecipe import cli_run
from autorecipe.cli import main
from autorecipe.launch import default_proposers
from environments import registry
from events import replay


def config_of(monkeypatch, *args):
    seen = {}

    def capture(run_dir, config, **kw):
        seen["config"] = config
        raise cli_run.LaunchError("captured")

    monkeypatch.setattr(cli_run, "launch", capture)
    result = CliRunner().invoke(main, ["run", "--env", "dryrun", "--runner", "zero", *args])
    return seen.get("config"), result


def test_the_proposer_flag_reaches_the_run_configuration(monkeypatch, tmp_path):
    assert config_of(monkeypatch, str(tmp_path / "a"))[0].proposer == "library"
    assert config_of(monkeypatch, str(tmp_path / "b"), "--proposer", "random")[0].proposer == "random"
    config, result = config_of(monkeypatch, str(tmp_path / "c"), "--proposer", "random", "--llm", "vllm:m")
    assert config is None and result.exit_code == 2 and "--proposer random is an offline proposer" in result.output


def test_the_library_runs_dry_and_the_random_proposer_does_not(monkeypatch, tmp_path):
    spec = registry.get("dryrun")
    for proposer in ("library", "random"):
        config, _ = config_of(monkeypatch, str(tmp_path / proposer), "--proposer", proposer, "--trials", "60")
        config.fsync = False
        run_local(tmp_path / proposer, spec, config, default_proposers(config, ["alpha", "beta"]), executors=2)
    library, random = replay(tmp_path / "library"), replay(tmp_path / "random")
    assert library.run.stopped == "exhausted" and len(library.trials.rows) - 1 < 60
    assert random.run.stopped == "trial_budget" and len(random.trials.rows) - 1 == 60
