"""The driver's rules for actors that fail (autorecipe/driver.py), as pure functions."""

from autorecipe.driver import every_one_gone

ACTORS = {"agent/a": 0, "agent/b": 0, "executor/0": 0, "executor/1": 0, "evaluator/0": 0}


def test_a_role_is_gone_only_when_every_actor_of_it_was_given_up_on():
    assert every_one_gone(ACTORS, set()) is None
    assert every_one_gone(ACTORS, {"executor/0", "agent/a"}) is None
    assert every_one_gone(ACTORS, {"evaluator/0"}) == "evaluator"
    assert every_one_gone(ACTORS, {"executor/0", "executor/1"}) == "executor"
    assert every_one_gone(ACTORS, {"agent/a", "agent/b"}) == "specialist"
