"""cluster.yaml passes the schema check `ray up` runs, and keeps the promises its comments make."""

from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parent.parent / "cluster.yaml"


def test_cluster_yaml_passes_rays_own_validation():
    config = yaml.safe_load(CLUSTER.read_text())
    validate_config(prepare_config(config))  # raises on any schema error, as `ray up` would


def test_only_the_head_hosts_the_event_log_and_auth_is_on_everywhere():
    config = yaml.safe_load(CLUSTER.read_text())
    types = config["available_node_types"]
    holders = [name for name, t in types.items() if t["resources"].get("autorecipe_log")]
    assert holders == [config["head_node_type"]]
    head = " ".join(config["head_start_ray_commands"])
    assert '--resources={"autorecipe_log":1}' in head and "--dashboard-host=127.0.0.1" in head
    for cmd in config["head_start_ray_commands"][1:] + config["worker_start_ray_commands"][1:]:
        assert "RAY_AUTH_MODE=token" in cmd
    assert "~/.ray/auth_token" in config["file_mounts"]
    assert any("ray[default]==2.60.0" in c for c in config["setup_commands"])


def test_the_validation_would_catch_a_broken_file():
    import jsonschema
    import pytest

    config = yaml.safe_load(CLUSTER.read_text())
    config["available_node_types"]["gpu_1x"].pop("node_config")  # required per node type
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_config(prepare_config(config))
