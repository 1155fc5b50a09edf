"""One colour per trial status, for every view of a run (the dashboard and the report's figures):
keeps green, discards grey, each failure its own hue, unfinished phases muted."""

STATUS_COLORS: dict[str, str] = {
    "keep": "#1a9641",
    "discard": "#9e9e9e",
    "crash": "#d7191c",
    "preflight_crash": "#f46d43",
    "size_blocked": "#2b83ba",
    "train_budget_overrun": "#fdae61",
    "eval_budget_overrun": "#e6ab02",
    "disqualified": "#7b3294",
    "out_of_surface": "#c51b7d",
    "invalid_edit": "#8c510a",
    "harness_abort": "#6a3d9a",
    "runnable": "#bdbdbd",
    "claimed": "#f1c40f",
    "executed": "#e67e22",
    "lost": "#616161",
    "cancelled": "#424242",
}
RUNNING = ("runnable", "claimed", "executed")


def status_color(status: str | None) -> str:
    return STATUS_COLORS.get(status or "", "#000000")
