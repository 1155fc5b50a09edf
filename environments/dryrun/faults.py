"""dryrun's fault recipes: each gets exactly this status, with this evidence."""

from environments.spec import Edit

R = "knobs.py"
FAULTS = {
    "too_wide": ("size_blocked", (Edit(R, "WIDTH = 32", "WIDTH = 64"),), "over by 42,400"),
    "knob_missing": ("crash", (Edit(R, "B = 1.0", "C = 1.0"),), "does not set b"),
    "phase_fails": ("crash", (Edit(R, "A = 0.0", "A = 0.0\nimport sys\nsys.exit(3)"),), "phase train failed"),
}
