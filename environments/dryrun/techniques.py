"""dryrun's technique library. The optimum is A=3, B=-1, the widest WIDTH that fits the size
cap once PRECISION is cut."""

from environments.spec import Edit, Technique

R = "knobs.py"
KNOWN_GOOD = {
    "a_two": (Edit(R, "A = 0.0", "A = 2.0"),),
    "b_zero": (Edit(R, "B = 1.0", "B = 0.0"),),
    "a_three_b_minus_one": (Edit(R, "A = 0.0", "A = 3.0"), Edit(R, "B = 1.0", "B = -1.0")),
}
TECHNIQUES = (
    Technique("a", "alpha", "A = {value}", (Edit(R, "A = 0.0", "A = {value}"),), values=("1.0", "2.0", "3.0", "5.0")),
    Technique("width", "alpha", "WIDTH = {value}", (Edit(R, "WIDTH = 32", "WIDTH = {value}"),), values=("48", "64")),
    Technique("precision", "alpha", "PRECISION = {value}", (Edit(R, "PRECISION = 16", "PRECISION = {value}"),),
              values=("8",), tags=("smaller",)),
    Technique("b", "beta", "B = {value}", (Edit(R, "B = 1.0", "B = {value}"),), values=("0.0", "-1.0", "-3.0")),
)
