"""The one order of trials: best score first, equal scores in the order the log judged them."""

from dataclasses import dataclass

from events.ranking import DIRECTIONS, better, gain_sign, goal_word, improvement, ranked


@dataclass
class Row:
    name: str
    score: float
    evaluated_offset: int


def test_equal_scores_rank_by_judgement_order_in_both_directions():
    rows = [Row("late", 1.0, 9), Row("worst", 3.0, 1), Row("early", 1.0, 2)]
    assert [r.name for r in ranked(rows, "minimize")] == ["early", "late", "worst"]
    rows = [Row("late", 3.0, 9), Row("worst", 1.0, 1), Row("early", 3.0, 2)]
    assert [r.name for r in ranked(rows, "maximize")] == ["early", "late", "worst"]


def test_better_beats_by_more_than_the_margin():
    assert better(1.0, 2.0, "minimize") and not better(2.0, 1.0, "minimize")
    assert better(2.0, 1.0, "maximize") and not better(1.0, 1.0, "maximize")
    assert not better(1.0, 1.5, "minimize", margin=0.5) and better(1.0, 1.6, "minimize", margin=0.5)


def test_improvement_is_positive_when_better():
    assert improvement(1.0, 3.0, "minimize") == 2.0 and improvement(3.0, 1.0, "maximize") == 2.0
    assert gain_sign("minimize") == -1.0 and goal_word("minimize") == "lower" and goal_word("maximize") == "higher"
    assert DIRECTIONS == ("minimize", "maximize")
