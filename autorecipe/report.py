"""`autorecipe report RUN_DIR`: what a run did, as files a person can open.

    best_vs_trials.png    every judged trial's score (failures marked along the bottom), the best
                          so far, the baseline and its noise-margin band, against trials judged
    best_vs_compute.png   the same against CPU/GPU-seconds spent on trials
    statuses.png          status breakdown per agent
    predicted_vs_realized.png   the delta a proposal expected against the one it got (only when
                          some proposal stated one and its parent was valid)
    lineage.png           the lineage tree, coloured by status
    results.tsv           autoresearch's five columns
    surface_audit.tsv     per agent: trials, and how many diffs stayed in the agent's own surface
    surface_touches.tsv   per trial: the surface its agent owns, the pieces (file:region) its diff
                          touched, whose surfaces those are, and whether it stayed in its own
    report.md             the tables above, with the figures linked

Everything is a fold of the log; nothing is measured again.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from autorecipe.surface_audit import per_agent, per_agent_tsv, touches_tsv, trial_touches  # noqa: E402
from environments import registry  # noqa: E402
from environments.spec import Surface  # noqa: E402
from events import RunDir, RunState  # noqa: E402
from events.colors import STATUS_COLORS, status_color  # noqa: E402
from events.export import autoresearch_tsv  # noqa: E402
from events.projections.lineage import preorder  # noqa: E402
from events.ranking import goal_word  # noqa: E402

COLORS = STATUS_COLORS  # one colour per status, the dashboard's too


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    rd = RunDir(run_dir).require()
    out = Path(out) if out else rd.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    state = RunState().apply_all(rd.reader().iter_records())
    rows = list(state.trials.rows.values())
    judged = sorted((r for r in rows if r.evaluated_offset is not None), key=lambda r: r.evaluated_offset)
    metric = state.trials.keep_rule.metric
    _best_curve(state, judged, metric, out)
    _statuses(judged, out)
    predicted = _predicted(judged, metric, out)
    _lineage(state, out)
    (out / "results.tsv").write_text(autoresearch_tsv(state))
    surfaces = _surfaces(state)
    touches = trial_touches(state, rd.blobs(), surfaces)
    audit = per_agent(touches)
    (out / "surface_audit.tsv").write_text(per_agent_tsv(audit))
    (out / "surface_touches.tsv").write_text(touches_tsv(touches, surfaces))
    (out / "report.md").write_text(_markdown(state, judged, audit, metric, predicted))
    return out


def _best_curve(state: RunState, judged, metric: str, out: Path) -> None:
    rule = state.trials.keep_rule
    base = next((r for r in state.trials.rows.values() if r.parent_id is None), None)
    xs, comp, ys, best, spent = [], [], [], None, 0.0
    every = []  # (trials judged, compute, score or None, status)
    for i, r in enumerate(judged, 1):
        spent += r.cpu_s + r.gpu_s
        if r.status == "keep":
            best = r.score
        every.append((i, spent, r.score, r.status))
        if best is not None:
            xs.append(i)
            comp.append(spent)
            ys.append(best)
    for name, col, x, label in (("best_vs_trials.png", 0, xs, "trials judged"),
                                ("best_vs_compute.png", 1, comp, "trial compute (CPU + GPU seconds)")):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for status in sorted({e[3] for e in every}):
            pts = [e for e in every if e[3] == status]
            scored = [e for e in pts if e[2] is not None and e[2] == e[2]]
            if scored:
                ax.scatter([e[col] for e in scored], [e[2] for e in scored], s=9, color=status_color(status),
                           alpha=0.7, label=f"{status} ({len(pts)})", zorder=2)
            else:  # no score to place it by: a tick along the bottom, so failures still show
                ax.scatter([e[col] for e in pts], [0.02] * len(pts), transform=ax.get_xaxis_transform(), marker="|",
                           s=40, color=status_color(status), label=f"{status} ({len(pts)})", zorder=2)
        if base is not None and base.score is not None and base.score == base.score:
            ax.axhline(base.score, color="#333", ls="--", lw=1, label=f"baseline {base.score:.4f}")
            if rule.noise_margin:
                ax.axhspan(base.score - rule.noise_margin, base.score + rule.noise_margin, color="#333", alpha=0.08,
                           label=f"noise margin ±{rule.noise_margin:g}")
        if x:
            ax.step(x, ys, where="post", color=COLORS["keep"], lw=2, label="best so far", zorder=3)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} ({goal_word(rule.direction)} is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", ncol=2)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)


def _statuses(judged, out: Path) -> None:
    by_agent: dict[str, Counter] = defaultdict(Counter)
    for r in judged:
        by_agent[r.agent][r.status] += 1
    agents = sorted(by_agent)
    statuses = sorted({s for c in by_agent.values() for s in c}, key=lambda s: (s not in COLORS, s))
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * max(1, len(agents))))
    left = [0] * len(agents)
    for s in statuses:
        vals = [by_agent[a][s] for a in agents]
        ax.barh(agents, vals, left=left, label=s, color=COLORS.get(s))
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("trials")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "statuses.png", dpi=110)
    plt.close(fig)


def _predicted(judged, metric: str, out: Path) -> bool:
    """The figure, when there is something to draw (False: no proposal both stated an expected
    delta and got a realized one)."""
    pts = [(r.expected_delta, r.realized_delta, r.status) for r in judged
           if r.expected_delta is not None and r.realized_delta is not None]
    (out / "predicted_vs_realized.png").unlink(missing_ok=True)
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, c=[status_color(p[2]) for p in pts])
    lo, hi = min(min(p[:2]) for p in pts), max(max(p[:2]) for p in pts)
    ax.plot([lo, hi], [lo, hi], color="#999", lw=1)
    ax.set_xlabel(f"expected Δ {metric}")
    ax.set_ylabel(f"realized Δ {metric} (vs parent)")
    fig.tight_layout()
    fig.savefig(out / "predicted_vs_realized.png", dpi=110)
    plt.close(fig)
    return True


def _lineage(state: RunState, out: Path) -> None:
    nodes = preorder(state.trials.rows)
    fig, ax = plt.subplots(figsize=(9, 1 + 0.22 * len(nodes)))
    y = {r.trial_id: -i for i, (r, _) in enumerate(nodes)}
    for r, _ in nodes:
        if r.parent_id in y:
            ax.plot([r.depth - 1, r.depth - 1, r.depth], [y[r.parent_id], y[r.trial_id], y[r.trial_id]],
                    color="#ccc", lw=0.8)
        status = r.status or r.phase
        ax.scatter([r.depth], [y[r.trial_id]], color=status_color(status), s=16, zorder=3)
        score = "" if r.score is None else f" {r.score:.4f}"
        ax.text(r.depth + 0.15, y[r.trial_id], f"{r.trial_id} [{r.agent}] {status}{score}  {hypothesis_label(r.hypothesis)}",
                va="center", fontsize=7)
    ax.set_xlim(-0.5, max((r.depth for r, _ in nodes), default=0) + 6)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "lineage.png", dpi=110)
    plt.close(fig)


def hypothesis_label(text: str, width: int = 60) -> str:
    """A hypothesis shortened at a word boundary, with an ellipsis when cut."""
    return textwrap.shorten(" ".join(text.split()), width, placeholder=" …") if text.strip() else ""


def _surfaces(state: RunState) -> dict[str, Surface]:
    """Each specialist's surface in the run's environment; none when the environment is unknown
    here (the audit is then empty rather than wrong)."""
    try:
        return {s.name: s.surface for s in registry.for_run(state.run.config).specialists}
    except KeyError:
        return {}


def surface_audit(state: RunState, rd: RunDir) -> dict[str, tuple[int, int]]:
    """Per agent: (trials with a diff, how many changed only the agent's own surface), recomputed
    from each trial's code against its parent's (the reference system's architecture-domain audit)."""
    return per_agent(trial_touches(state, rd.blobs(), _surfaces(state)))


def _markdown(state: RunState, judged, audit, metric: str, predicted: bool = True) -> str:
    best = state.trials.best
    counts = Counter(r.status for r in judged)
    lines = [f"# Run {state.run.run_id}", "",
             f"{state.run.environment} ({state.run.tier}), {len(state.trials.rows)} trials, stopped: "
             f"{state.run.stopped or 'no'}. Best {metric}: "
             + (f"{best.score:.6f} ({best.trial_id}, {best.agent})" if best else "none") + ".", "",
             "| status | trials |", "|---|---:|"]
    lines += [f"| {s} | {n} |" for s, n in counts.most_common()]
    lines += ["", "Surface audit (diffs that stayed in their agent's surface):", "",
              "| agent | trials with a diff | in surface |", "|---|---:|---:|"]
    lines += [f"| {a} | {n} | {i} ({i / n:.0%}) |" for a, (n, i) in sorted(audit.items()) if n]
    lines += ["", "Which surfaces each trial's diff touched: [surface_touches.tsv](surface_touches.tsv)."]
    lines += ["", "![best vs trials](best_vs_trials.png)", "![best vs compute](best_vs_compute.png)",
              "![statuses](statuses.png)",
              *(["![predicted vs realized](predicted_vs_realized.png)"] if predicted else
                ["(No predicted-vs-realized figure: no proposal both stated an expected delta and had a valid "
                 "parent.)"]),
              "![lineage](lineage.png)", ""]
    return "\n".join(lines)
