"""The technical report: one self-contained HTML file (inline SVG and CSS, no script, no network).

Written by the analysis job to `<warehouse>/<report folder>/analysis_<start>_<end>.html` and copied to
`analysis_latest.html`. Sections (their `id`s are checked by the tests): data quality first, methods,
map, baselines, presence vs demand by hour of week, weekly trends with designation dates, effect
estimates (forest plots), displacement, stop-search and events, calls vs crime, how to read.
No line names or ranks an officer: every figure is an aggregate over areas.
"""
from __future__ import annotations

import html
import logging
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely import wkt

log = logging.getLogger(__name__)

SECTIONS = [("data-quality", "1. Data quality: read this first"), ("methods", "2. Methods in plain words"),
            ("map", "3. Map of the areas and rings"), ("baselines", "4. Where officers are: baselines"),
            ("presence-demand", "5. Presence vs demand by hour of the week"),
            ("trends", "6. Impact vs comparison areas week by week"), ("effects", "7. Effect estimates"),
            ("displacement", "8. Displacement and diffusion"), ("events", "9. Stop-search, crime and incidents"),
            ("calls-crime", "10. Calls for service vs recorded crime"), ("how-to-read", "11. How to read this report")]
COLOURS = {"impact": "#c0392b", "comparison": "#2471a3"}
CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1300px;color:#222;line-height:1.4}
h1{font-size:26px}h2{border-bottom:2px solid #444;padding-top:12px;font-size:20px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #bbb;padding:3px 7px;text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}
.read{background:#f4f6f7;border-left:4px solid #7f8c8d;padding:6px 12px;margin:8px 0;font-size:14px}
.caveat{background:#fdf2e9;border-left:4px solid #e67e22;padding:6px 12px}svg{background:#fff;border:1px solid #ddd}
.small{font-size:12px;color:#555}"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: object, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.{digits}f}"
    return _e(value)


def table_html(frame: pd.DataFrame, columns: list[str], digits: int = 2, limit: int = 60) -> str:
    """A small HTML table of `columns` (at most `limit` rows)."""
    if frame.empty:
        return "<p class='small'>(no rows)</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c], digits)}</td>" for c in columns) + "</tr>"
                   for _, r in frame.head(limit).iterrows())
    more = f"<p class='small'>{len(frame) - limit} more rows in the table.</p>" if len(frame) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def map_svg(zones: pd.DataFrame, width: int = 900, height: int = 620) -> str:
    """Areas (filled by status) and their rings (outlined) from BNG WKT, north up, with a 1 km scale bar."""
    geoms = [wkt.loads(w) for w in zones["geometry_wkt"]]
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pad = 200.0
    scale = min((width - 20) / (maxx - minx + 2 * pad), (height - 40) / (maxy - miny + 2 * pad))

    def path(g) -> str:
        parts = []
        for poly in getattr(g, "geoms", [g]):
            for ring in [poly.exterior, *poly.interiors]:
                pts = " ".join(f"{(x - minx + pad) * scale + 10:.1f},{height - 30 - (y - miny + pad) * scale:.1f}" for x, y in ring.coords)
                parts.append(f"M{pts}Z")
        return " ".join(parts)

    out = [f"<svg id='map-svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>"]
    order = zones.assign(g=geoms, o=zones["zone_type"].map({"ring_250_500": 0, "ring_0_250": 1, "area": 2})).sort_values("o")
    for _, z in order.iterrows():
        colour = COLOURS.get(z["area_status"], "#777")
        if z["zone_type"] == "area":
            style = f"fill='{colour}' fill-opacity='0.75' stroke='#222' stroke-width='0.6'"
        else:
            op = "0.18" if z["zone_type"] == "ring_0_250" else "0.08"
            style = f"fill='{colour}' fill-opacity='{op}' stroke='{colour}' stroke-width='0.4' fill-rule='evenodd'"
        out.append(f"<path d='{path(z['g'])}' {style}><title>{_e(z['zone_id'])}</title></path>")
        if z["zone_type"] == "area":
            c = z["g"].representative_point()
            out.append(f"<text x='{(c.x - minx + pad) * scale + 10:.1f}' y='{height - 30 - (c.y - miny + pad) * scale - 6:.1f}' "
                       f"font-size='9' text-anchor='middle'>{_e(z['area_id'])}</text>")
    bar = 1000 * scale
    out.append(f"<line x1='20' y1='{height - 12}' x2='{20 + bar:.1f}' y2='{height - 12}' stroke='#000' stroke-width='3'/>"
               f"<text x='{25 + bar:.1f}' y='{height - 8}' font-size='11'>1 km (British National Grid)</text>")
    out.append(f"<text x='{width - 330}' y='18' font-size='12' fill='{COLOURS['impact']}'>&#9632; Impact Area</text>"
               f"<text x='{width - 230}' y='18' font-size='12' fill='{COLOURS['comparison']}'>&#9632; comparison area</text>"
               f"<text x='{width - 330}' y='34' font-size='11'>pale bands: 0-250 m and 250-500 m rings</text></svg>")
    return "".join(out)


def line_svg(series: dict[str, tuple[list[float], list[float], str, str]], width: int = 1200, height: int = 260,
             x_label: str = "", y_label: str = "", vlines: list[tuple[float, str]] | None = None,
             x_ticks: list[tuple[float, str]] | None = None, svg_id: str = "") -> str:
    """Lines `name -> (x, y, colour, dash)` on shared axes, optional vertical markers and x tick labels."""
    xs = [x for s in series.values() for x in s[0]]
    ys = [y for s in series.values() for y in s[1] if y is not None and not math.isnan(y)]
    if not xs or not ys:
        return "<p class='small'>(nothing to plot)</p>"
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y1 = max(ys) * 1.1 or 1.0
    L, R, T, B = 60, 20, 20, 40
    X = lambda x: L + (x - x0) / (x1 - x0) * (width - L - R)   # noqa: E731
    Y = lambda y: height - B - y / y1 * (height - T - B)      # noqa: E731
    out = [f"<svg id='{svg_id}' width='{width}' height='{height}' viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>",
           f"<line x1='{L}' y1='{height - B}' x2='{width - R}' y2='{height - B}' stroke='#000'/>",
           f"<line x1='{L}' y1='{T}' x2='{L}' y2='{height - B}' stroke='#000'/>"]
    for k in range(5):
        v = y1 * k / 4
        out.append(f"<text x='{L - 4}' y='{Y(v) + 4:.1f}' font-size='10' text-anchor='end'>{v:,.3g}</text>"
                   f"<line x1='{L}' y1='{Y(v):.1f}' x2='{width - R}' y2='{Y(v):.1f}' stroke='#eee'/>")
    for x, label in x_ticks or []:
        out.append(f"<text x='{X(x):.1f}' y='{height - B + 14}' font-size='10' text-anchor='middle'>{_e(label)}</text>")
    for x, label in vlines or []:
        out.append(f"<line x1='{X(x):.1f}' y1='{T}' x2='{X(x):.1f}' y2='{height - B}' stroke='#555' stroke-dasharray='4,3'/>"
                   f"<text x='{X(x) + 3:.1f}' y='{T + 10}' font-size='10'>{_e(label)}</text>")
    for i, (name, (x, y, colour, dash)) in enumerate(series.items()):
        pts = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in zip(x, y) if b is not None and not math.isnan(b))
        out.append(f"<polyline points='{pts}' fill='none' stroke='{colour}' stroke-width='1.6' stroke-dasharray='{dash}'/>")
        out.append(f"<text x='{L + 10 + 230 * i}' y='{height - 6}' font-size='11' fill='{colour}'>&#8212; {_e(name)}</text>")
    out.append(f"<text x='12' y='{T - 6}' font-size='11'>{_e(y_label)}</text>"
               f"<text x='{width - R}' y='{height - B + 28}' font-size='11' text-anchor='end'>{_e(x_label)}</text></svg>")
    return "".join(out)


def forest_svg(rows: pd.DataFrame, label: str, est: str, lo: str, hi: str, ref: float, log_scale: bool,
               width: int = 900, svg_id: str = "", colour: str = "#333") -> str:
    """Point estimates with interval whiskers, one row each, and a reference line (1 for IRRs, 0 otherwise)."""
    rows = rows.dropna(subset=[est, lo, hi])
    if rows.empty:
        return "<p class='small'>(no estimates)</p>"
    h = 30 + 22 * len(rows)
    f = (lambda v: math.log(max(v, 1e-6))) if log_scale else (lambda v: v)
    vals = [f(v) for v in list(rows[lo]) + list(rows[hi]) + [ref]]
    a, b = min(vals), max(vals)
    a, b = (a - 0.05 * (b - a + 1e-9), b + 0.05 * (b - a + 1e-9))
    # label column as wide as the longest label (11 px text: about 6.3 px a character), within limits
    L, R = max(200, min(600, int(6.3 * max(len(str(v)) for v in rows[label])) + 16)), 90
    width = max(width, L + R + 420)
    X = lambda v: L + (f(v) - a) / (b - a) * (width - L - R)   # noqa: E731
    out = [f"<svg id='{svg_id}' width='{width}' height='{h}' viewBox='0 0 {width} {h}' xmlns='http://www.w3.org/2000/svg'>",
           f"<line x1='{X(ref):.1f}' y1='10' x2='{X(ref):.1f}' y2='{h - 14}' stroke='#888' stroke-dasharray='3,3'/>",
           f"<text x='{X(ref):.1f}' y='{h - 2}' font-size='10' text-anchor='middle'>{ref:g}</text>"]
    for i, (_, r) in enumerate(rows.iterrows()):
        y = 22 + 22 * i
        out.append(f"<text x='{L - 8}' y='{y + 4}' font-size='11' text-anchor='end'>{_e(r[label])}</text>"
                   f"<line x1='{X(r[lo]):.1f}' y1='{y}' x2='{X(r[hi]):.1f}' y2='{y}' stroke='{colour}' stroke-width='1.5'/>"
                   f"<circle cx='{X(r[est]):.1f}' cy='{y}' r='4' fill='{colour}'/>"
                   f"<text x='{width - R + 6}' y='{y + 4}' font-size='10'>{r[est]:.2f} [{r[lo]:.2f}, {r[hi]:.2f}]</text>")
    out.append("</svg>")
    return "".join(out)


def _read(text: str) -> str:
    return f"<div class='read'><b>How to read:</b> {text}</div>"


def build_report(start: date, end: date, run_id: str, results: dict[str, pd.DataFrame], zones: pd.DataFrame,
                 week: pd.DataFrame, how: pd.DataFrame, designation: pd.DataFrame) -> str:
    """The report's HTML text from the job's result frames and panels."""
    dq, base = results["analysis_data_quality"], results["analysis_baselines"]
    models, disp = results["analysis_models"], results["analysis_displacement"]
    calls, ev, align = results["analysis_calls_crime"], results["analysis_events"], results["analysis_alignment"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Impact Areas: technical report {start} to {end}</title>"
             f"<style>{CSS}</style></head><body><h1>Does putting officers in Impact Areas work?</h1>"
             f"<p>Technical report for local dates {start} to {end} (run {_e(run_id)}). Advisory; about deployments, "
             f"never about individual officers: no figure names or ranks an officer, and resource cells of fewer than five officers are suppressed.</p>"
             "<nav>" + " &middot; ".join(f"<a href='#{s}'>{_e(t)}</a>" for s, t in SECTIONS) + "</nav>"]

    def section(sid: str, body: str) -> None:
        title = dict(SECTIONS)[sid]
        parts.append(f"<section id='{sid}'><h2>{_e(title)}</h2>{body}</section>")

    section("data-quality", "<div class='caveat'>These caveats limit every figure below. Presence is only as good as the radio fixes; "
            "events only as good as their recorded positions and times.</div>"
            + table_html(dq, ["check", "source", "group_key", "value", "n", "share"], 3, 80)
            + _read("fixes per hour per shift: a radio reporting every 30-240 s gives 15-120; lower means presence is missed. "
                    "A gap over 10 minutes is time an officer may have been in an area unseen. Quarantined rows never reached the analysis. "
                    "Wide dwell bounds mean the visit's length is uncertain; incidents with no attending visit are calls where the "
                    "assigned officer's radio was not seen in the area."))
    section("methods", "<ul>"
            "<li><b>Baselines</b>: officer-minutes (sum over officers) and patrol-minutes (minutes with anyone present) per area, per km&sup2; and per week, from the hourly presence marts.</li>"
            "<li><b>Right place, right time</b>: for each area, the 168 hours of the week ranked by presence and by demand (harm-weighted crime plus incidents); a Spearman rank correlation and the share of presence in the hours holding the top half of demand.</li>"
            "<li><b>Presence and crime</b>: Poisson and negative binomial regressions of crime counts on ln(1 + patrolling officer-hours per day), with area and time fixed effects (each area compared with itself, each week with itself) and standard errors clustered by area. The coefficient is an elasticity: -0.3 means 10% more presence goes with about 3% less crime.</li>"
            "<li><b>Difference-in-differences</b>: Impact Areas against comparison areas before and after each area's own designation date, with an estimator valid when areas are designated at different times (the imputation event study of Borusyak, Jaravel and Spiess: what each Impact Area would have had without designation is predicted from comparison areas and its own earlier weeks). Weeks before designation test the parallel-trends assumption: they should be near an IRR of 1.</li>"
            "<li><b>Displacement</b>: the Weighted Displacement Quotient (Bowers and Johnson 2003) and the Weighted Displacement Difference with its confidence interval (Wheeler and Ratcliffe 2018) for the 0-250 m and 250-500 m rings, with comparison areas as control; and the same question as a regression term (ring x after designation).</li>"
            "<li><b>Calls vs crime</b>: Pearson and Spearman correlations of weekly calls and crimes per area with confidence intervals, cross-correlations at -4..+4 weeks, and crimes per call.</li>"
            "</ul><p class='small'>Statistics from statsmodels, scipy and pyfixest where they provide them; WDQ and WDD are implemented here and tested against published cases (docs/analysis.md).</p>")
    section("map", map_svg(zones) + _read("each filled shape is an area (red: Impact, blue: comparison); the pale bands around it are its "
                                          "0-250 m and 250-500 m rings, where displaced crime would appear. Rings exclude every area."))
    status = base[base["breakdown"] == "status"]
    shares = base[base["breakdown"] == "location_share"]
    section("baselines", table_html(status, ["area_status", "zone_type", "officer_minutes_per_week", "patrol_minutes_per_week",
                                             "officer_minutes_per_km2_week", "zone_km2"], 1)
            + table_html(shares, ["area_status", "zone_type", "officer_minutes", "share_of_presence"], 3)
            + _read("Impact and comparison groups side by side; the second table is the share of all on-duty officer time "
                    "(first to last radio fix of each shift) spent in each kind of zone, and elsewhere."))
    # presence vs demand by hour of week
    zone_status = zones.set_index("zone_id")["area_status"]
    area_zones = set(zones[zones["zone_type"] == "area"]["zone_id"])
    h = how[how["zone_id"].isin(area_zones)].assign(area_status=lambda d: d["zone_id"].map(zone_status))
    h = h.assign(demand=h["crime_harm"] + h["incidents"]).groupby(["area_status", "hour_of_week"], as_index=False)[["officer_minutes", "demand"]].sum()
    series = {}
    for st, g in h.groupby("area_status"):
        g = g.set_index("hour_of_week").reindex(range(168), fill_value=0)
        for col, dash, name in (("officer_minutes", "", "presence"), ("demand", "5,3", "demand")):
            tot = g[col].sum() or 1.0
            series[f"{st} {name} (% of week)"] = (list(range(168)), list(100 * g[col] / tot), COLOURS.get(st, "#777"), dash)
    ticks = [(24 * i + 12, d) for i, d in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])]
    section("presence-demand", line_svg(series, x_label="hour of the week (local time)", y_label="% of the week's total",
                                        x_ticks=ticks, vlines=[(24 * i, "") for i in range(1, 7)], svg_id="how-svg")
            + table_html(align[align["scope"].str.startswith("group_mean")], ["scope", "area_status", "n_hours", "spearman_rho",
                                                                              "spearman_ci_low", "spearman_ci_high", "share_presence_in_top_half_demand",
                                                                              "share_ci_low", "share_ci_high"], 3)
            + _read("solid lines: where in the week officers are; dashed: where demand is. Lines that rise and fall together mean "
                    "presence follows demand. A rank correlation near 1 is good alignment; a share of presence in the top-demand hours "
                    "above the share of hours those take means presence is targeted (n_hours is the number of areas in group rows)."))
    # weekly trends
    wk = week[week["zone_type"] == "area"].groupby(["area_status", "week_index", "week_start"], as_index=False)[["crimes", "patrolling_officer_minutes", "days"]].sum()
    n_areas = week[week["zone_type"] == "area"].groupby("area_status")["zone_id"].nunique()
    wk["crimes_per_area_day"] = wk["crimes"] / wk["days"]
    wk["patrol_hours_per_area_day"] = wk["patrolling_officer_minutes"] / 60 / wk["days"]
    starts = sorted(wk["week_start"].unique())
    dates = sorted({pd.Timestamp(d) for d in designation["designated_from"].dropna()})
    vl = [((d - pd.Timestamp(starts[0])).days / 7.0, f"designation {d.date()}") for d in dates]
    tk = [(i, str(pd.Timestamp(s).date())) for i, s in enumerate(starts)]
    mk = lambda col: {f"{st}": ([(pd.Timestamp(s) - pd.Timestamp(starts[0])).days / 7.0 for s in g["week_start"]], list(g[col]),  # noqa: E731
                                COLOURS.get(st, "#777"), "") for st, g in wk.groupby("area_status")}
    section("trends", "<p>Crimes per area per day</p>" + line_svg(mk("crimes_per_area_day"), y_label="crimes / area / day", vlines=vl,
                                                                  x_ticks=tk, svg_id="trend-crime-svg")
            + "<p>Patrolling officer-hours per area per day</p>" + line_svg(mk("patrol_hours_per_area_day"), y_label="officer-hours / area / day",
                                                                           vlines=vl, x_ticks=tk, svg_id="trend-presence-svg")
            + f"<p class='small'>Areas: {', '.join(f'{k} {v}' for k, v in n_areas.items())}. Weeks start on Monday (local).</p>"
            + _read("the dashed lines are the designation dates (areas are designated in waves). Before them the two groups should move "
                    "together (parallel trends); after them Impact Areas should show more presence and, if it works, less crime."))
    pm = models[models["term"].astype(str).str.startswith("log_patrol_hours") & models["estimate"].notna()].copy()
    pm["label"] = (pm["model"] + " · " + pm["outcome"]
                   + pm["subset"].map(lambda v: "" if v == "all" else f" · {v}")
                   + pm["term"].map(lambda v: "" if v == "log_patrol_hours" else f" · {v}"))
    # the interval at the configured confidence, as the models table states it (log of the IRR bounds)
    pm["lo"], pm["hi"] = np.log(pm["irr_ci_low"].astype(float)), np.log(pm["irr_ci_high"].astype(float))
    did = models[(models["model"] == "staggered_did") & models["irr"].notna()].copy()
    did["label"] = did["outcome"] + ": " + did["event_time"].map(lambda v: "overall" if pd.isna(v) else f"week {int(v):+d}")
    failed = models[models["note"].notna()][["model", "outcome", "subset", "note"]]
    section("effects", "<p>Presence elasticity of crime and crime-type calls (coefficient of log(1 + proactive patrolling "
            "officer-hours) and 95% interval; the all-roles row includes response time, which follows crime)</p>"
            + forest_svg(pm, "label", "estimate", "lo", "hi", 0.0, False, svg_id="forest-presence-svg")
            + "<p>Difference-in-differences: IRR of Impact vs comparison by week since designation (95% interval)</p>"
            + forest_svg(did, "label", "irr", "irr_ci_low", "irr_ci_high", 1.0, True, svg_id="forest-did-svg", colour=COLOURS["impact"])
            + table_html(models[models["estimate"].notna()], ["model", "outcome", "subset", "term", "event_time", "estimate", "std_error",
                                                              "irr", "irr_ci_low", "irr_ci_high", "p_value", "n_obs"], 3, 80)
            + (("<p>Not estimated:</p>" + table_html(failed, list(failed.columns))) if len(failed) else "")
            + _read("a dot left of the reference line with its whole whisker left of it is a reduction the data support at 95%; a whisker "
                    "crossing the line means no effect can be told from noise. Before-designation weeks (negative) should straddle 1: if "
                    "they do not, the groups were already diverging and the DiD is not trustworthy."))
    wq = disp[disp["measure"] == "wdq_wdd"]
    section("displacement", forest_svg(wq[wq["scope"] == "overall"].assign(label=lambda d: "overall " + d["buffer_zone"]),
                                       "label", "wdd", "ci_low", "ci_high", 0.0, False, svg_id="forest-wdd-svg")
            + table_html(wq, ["scope", "buffer_zone", "a0", "a1", "b0", "b1", "c0", "c1", "success_measure", "buffer_measure",
                              "wdq", "total_net_effect", "wdd", "ci_low", "ci_high"], 2, 50)
            + table_html(disp[disp["measure"] == "regression"], ["buffer_zone", "estimate", "std_error", "irr", "irr_ci_low", "irr_ci_high", "p_value"], 3)
            + _read("success measure below 0: crime fell in the Impact Area relative to control. WDQ below 0: some crime moved into the "
                    "ring (displacement); above 0: the ring also improved (diffusion of benefits); near 0: neither. The total net effect "
                    "counts crimes prevented net of displacement. WDD below 0 with its interval below 0 is a net reduction. Per-area "
                    "figures rest on few crimes: read the overall row first."))
    al = ev[ev["measure"].isin(["search_crime_hour_spearman", "share_searches_in_top_half_crime_hours"])]
    summ = ev[(ev["period"] != "window") & ev["measure"].isin(["crimes", "crime_harm", "search_find_rate"]) & (ev["zone_type"] == "area")]
    section("events", table_html(summ, ["area_status", "period", "measure", "value", "n"], 2)
            + table_html(al.groupby(["area_status", "measure"], as_index=False)["value"].mean(), ["area_status", "measure", "value"], 3)
            + _read("crimes and harm before and after designation per group (comparison areas split at the first designation date); "
                    "find rate: share of searches whose outcome was linked to their object. The second table: mean over areas of the rank "
                    "correlation between searches and crimes by hour of the week, and the share of searches in the hours holding the top half "
                    "of crime: are searches made where and when crime is?"))
    cc = calls[calls["kind"] == "cross_correlation"]
    xs = {st: (list(g["lag"].astype(float)), list(g["pearson_r"]), COLOURS.get(st, "#333"), "") for st, g in cc.groupby("area_status")}
    section("calls-crime", table_html(calls[calls["kind"] == "correlation"], ["area_status", "n", "pearson_r", "pearson_ci_low", "pearson_ci_high",
                                                                              "spearman_rho", "spearman_ci_low", "spearman_ci_high"], 3)
            + line_svg(xs, x_label="lag (weeks): crimes at t + lag vs calls at t", y_label="r", svg_id="xcorr-svg",
                       x_ticks=[(float(v), str(int(v))) for v in sorted(cc["lag"].dropna().unique())])
            + table_html(calls[(calls["kind"] == "conversion") & calls["area_id"].isna()], ["area_status", "call_category", "calls", "crimes", "crimes_per_call"], 3)
            + _read("a high correlation means calls track recorded crime, so calls can stand in for crime where crime data lag. The "
                    "cross-correlation's peak at lag 0 means they move in the same week. Crimes per call is the share of calls of a type "
                    "that became a recorded crime of that type."))
    section("how-to-read", "<p>Every estimate comes with a 95% interval: the range of effects the data are consistent with. Read "
            "intervals, not stars. Effects in a short window with few areas are imprecise; a null here means 'not shown', not 'no "
            "effect'. The models assume that, apart from designation, Impact and comparison areas would have moved in parallel, and that "
            "radio fixes measure presence equally well in both. Incidence-rate ratios (IRR) below 1 are reductions: 0.8 is 20% fewer. "
            "Tables behind every figure are in the warehouse (analysis_* tables), with the window and the method in every row.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(warehouse: str, folder: str, start: date, end: date, run_id: str, results: dict[str, pd.DataFrame],
                 zones: pd.DataFrame, week: pd.DataFrame, how: pd.DataFrame, designation: pd.DataFrame) -> Path:
    """Write `analysis_<start>_<end>.html` and `analysis_latest.html` under `<warehouse>/<folder>`; returns the first."""
    if "://" in warehouse and not warehouse.startswith("file:"):
        raise ValueError(f"the report is written to a local folder; warehouse {warehouse} is remote: set report.folder to a local path")
    base = Path(folder) if Path(folder).is_absolute() else Path(warehouse.removeprefix("file:")) / folder
    base.mkdir(parents=True, exist_ok=True)
    text = build_report(start, end, run_id, results, zones, week, how, designation)
    path = base / f"analysis_{start}_{end}.html"
    path.write_text(text, encoding="utf-8")
    (base / "analysis_latest.html").write_text(text, encoding="utf-8")
    log.info("report written to %s (%d bytes)", path, len(text))
    return path
