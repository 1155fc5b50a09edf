"""The environment contract (tests/test_env_contract.py) on golf-mini, in a file of its own."""

from tests.test_env_contract import (  # noqa: F401 (collected here)
    pytest_generate_tests,
    test_each_fault_gets_exactly_its_status_and_evidence,
    test_known_good_edits_beat_the_baseline,
    test_the_baseline_is_valid_within_its_budgets,
    test_the_evaluator_is_pure,
)

ENVS = ("golf-mini",)
