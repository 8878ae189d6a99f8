"""PDF progress report of one patient over a date range, rendered server-side with matplotlib
(Agg, no display): page 1 summary, comparison table and interventions; then the trend charts.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from dorsi.server.web.catalog import METRICS
from dorsi.server.web.views import PatientReport

A4_IN = (8.27, 11.69)
VERDICT_COLOURS = {"better": "#1e7b34", "worse": "#b3261e"}


def _fmt(value: float | None, decimals: int, scale: float, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * scale:{'+' if signed else ''}.{decimals}f}"


def _summary_page(report: PatientReport) -> Figure:
    fig = plt.figure(figsize=A4_IN)
    p = report.patient
    fig.text(0.07, 0.95, "dorsi progress report", fontsize=18, weight="bold")
    fig.text(
        0.07,
        0.925,
        f"{p.display_name} ({p.id}) · affected side {p.affected_side}"
        + (f" · {p.brace_type}" if p.brace_type else ""),
        fontsize=11,
    )
    fig.text(
        0.07,
        0.905,
        f"Period {report.first} – {report.last} (UTC days) · generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        fontsize=9,
        color="#555",
    )
    fig.text(
        0.07,
        0.875,
        f"Baseline {report.baseline[0]} – {report.baseline[1]}   ·   "
        f"recent {report.recent[0]} – {report.recent[1]}",
        fontsize=10,
    )
    ax = fig.add_axes((0.07, 0.45, 0.86, 0.41))
    ax.axis("off")
    rows, colours = [], []
    for row in report.comparison:
        m = row.metric
        rows.append(
            [
                f"{m.label} ({m.unit})",
                _fmt(row.baseline, m.decimals, m.scale),
                _fmt(row.recent, m.decimals, m.scale),
                _fmt(row.change, m.decimals, m.scale, signed=True),
                row.verdict,
            ]
        )
        colours.append(VERDICT_COLOURS.get(row.verdict, "#333333"))
    table = ax.table(
        cellText=rows,
        colLabels=["Metric", "Baseline", "Recent", "Change", ""],
        loc="upper left",
        colWidths=[0.38, 0.12, 0.12, 0.12, 0.26],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.5)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#d8dde3")
        if r == 0:
            cell.set_facecolor("#eef1f4")
            cell.set_text_props(weight="bold")
        elif c == 4:
            cell.set_text_props(color=colours[r - 1], weight="bold", ha="left")
            cell.PAD = 0.04
        elif c == 0:
            cell.set_text_props(ha="left")
            cell.PAD = 0.02
    y = 0.42
    fig.text(0.07, y, "Interventions", fontsize=12, weight="bold")
    for e in report.events or []:
        y -= 0.022
        fig.text(0.09, y, f"{e.day}  {e.kind}" + (f" — {e.note}" if e.note else ""), fontsize=10)
    if not report.events:
        y -= 0.022
        fig.text(0.09, y, "None recorded.", fontsize=10)
    y -= 0.04
    fig.text(
        0.07,
        y,
        "Recovery trends since " + str(report.trend_since or "–") + " (trend, not a diagnosis)",
        fontsize=12,
        weight="bold",
    )
    for m in METRICS:
        t = report.trends.get(m.key)
        if t is None:
            continue
        y -= 0.02
        fig.text(
            0.09,
            y,
            f"{m.label}: {t.status} — {t.text} "
            f"({t.slope_per_30d * m.scale:+.{m.decimals}f} {m.unit} per 30 days)",
            fontsize=9,
        )
    return fig


def _chart_pages(report: PatientReport) -> list[Figure]:
    figures = []
    days = report.series.days
    per_page = 6
    for start in range(0, len(METRICS), per_page):
        fig, axes = plt.subplots(per_page, 1, figsize=A4_IN, sharex=True)
        for ax, m in zip(axes, METRICS[start : start + per_page], strict=False):
            values = [None if v is None else v * m.scale for v in report.series.values[m.key]]
            xs = [d for d, v in zip(days, values, strict=True) if v is not None]
            ys = [v for v in values if v is not None]
            if m.band:
                lo = report.series.p10[m.key]
                hi = report.series.p90[m.key]
                band = [
                    (d, a * m.scale, b * m.scale)
                    for d, a, b in zip(days, lo, hi, strict=True)
                    if a is not None and b is not None
                ]
                if band:
                    ax.fill_between(
                        [b[0] for b in band],
                        [b[1] for b in band],
                        [b[2] for b in band],
                        color="#1f5fa8",
                        alpha=0.12,
                        linewidth=0,
                        label="p10–p90",
                    )
            ax.plot(
                xs,
                ys,
                color="#1f5fa8",
                linewidth=1.2,
                marker="." if len(xs) < 60 else None,
                label="daily mean",
            )
            t = report.trends.get(m.key)
            if t is not None:
                ax.plot(
                    t.days,
                    [v * m.scale for v in t.fit],
                    color="#e07b00",
                    linestyle="--",
                    linewidth=1.5,
                    label=f"trend ({t.status})",
                )
                ax.fill_between(
                    t.days,
                    [v * m.scale for v in t.low],
                    [v * m.scale for v in t.high],
                    color="#e07b00",
                    alpha=0.12,
                    linewidth=0,
                )
            for e in report.events:
                if report.first <= e.day <= report.last:
                    ax.axvline(e.day, color="#c62828", linewidth=1.2)
            for a, b, _ in report.milestones:
                if a <= report.last and b >= report.first:
                    ax.axvspan(
                        max(a, report.first),
                        min(b, report.last),
                        color="#2ea043",
                        alpha=0.08,
                    )
            ax.set_title(f"{m.label} ({m.unit})", fontsize=10, loc="left")
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            ax.set_xlim(report.first, report.last)
            ax.legend(fontsize=7, loc="upper right", frameon=False)
        for ax in axes[len(METRICS[start : start + per_page]) :]:
            ax.axis("off")
        axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
        fig.suptitle(
            f"{report.patient.display_name} — daily trends {report.first} – {report.last}",
            fontsize=11,
        )
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        figures.append(fig)
    return figures


def render_report(report: PatientReport) -> bytes:
    """The report as PDF bytes (A4 portrait)."""
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": f"dorsi progress report {report.patient.id}"}) as pdf:
        for fig in [_summary_page(report), *_chart_pages(report)]:
            pdf.savefig(fig)
            plt.close(fig)
    return buffer.getvalue()
