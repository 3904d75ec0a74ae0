"""scripts/report --html and scripts/compare --html: one self-contained HTML page.

The page opens from disk with no network: plotly.js (from Debian's python3-plotly,
which ships the browser build) is inlined into it, and the
figures are a JSON object in the page, read from the results file here. Plotly,
because it is the plotting library Debian packages with a standalone browser build
(hover, zoom, legend toggles and restyling without a server), and the same library
the Python world's dashboards use, so its charts look familiar.

What the page shows, per workload: step time against peak RSS with the Pareto front
(hover gives every figure of a point); for one cell at a time (the picker), the
recorded step's live bytes stacked by kind with RSS and the allocator's reserved
bytes drawn over them, phases marked; other cells' RSS and live totals laid over it
(the overlay checkboxes); the fit results. The page keeps in `window.memstrat` what
it drew, for the browser test.
"""
import glob
import html
import json
import os

from . import steps, strategy
from .analysis import pareto_front
from .figure import machine_line
from .results import ResultsError, workload_label
from .units import MIB

# Debian's python3-plotly ships plotly.js (2.6.3 in Debian 12, not minified: 8.7 MB) here.
PLOTLY_CANDIDATES = [
    "/usr/share/python3-plotly/plotly.js",
    "/usr/lib/python3/dist-packages/plotly/package_data/plotly.min.js",
]


def plotly_js():
    """The text of plotly.min.js, and where it came from."""
    paths = [os.environ["MEMSTRAT_PLOTLY_JS"]] if os.environ.get("MEMSTRAT_PLOTLY_JS") else PLOTLY_CANDIDATES
    for path in paths:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read(), path
    for path in glob.glob("/usr/lib/python3*/*-packages/plotly/package_data/plotly.min.js"):
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    raise ResultsError("plotly.js not found (tried " + ", ".join(paths) + "): install Debian's python3-plotly "
                       "(scripts/setup.sh --report), or set MEMSTRAT_PLOTLY_JS to the file")


def _round(values, digits=3):
    return [None if v is None else round(v, digits) for v in values]


def _cell_data(cell):
    figures = {key: cell.get(key) for key in ("step_ms", "step_ms_p10", "step_ms_p90", "samples_per_s",
                                              "overhead_ratio", "fragmentation")}
    for key in ("peak_rss_bytes", "baseline_rss_bytes", "peak_live_bytes", "retained_bytes",
                "predicted_peak_rss_bytes", "allocator_reserved_bytes"):
        figures[key.replace("_bytes", "_mib")] = cell.get_mib(key)
    d = {"name": cell.name, "strategy": cell.strategy, "colour": strategy.colour(cell.strategy),
         "status": cell.status, "reason": cell.reason, "unstable": bool(cell.unstable), "figures": figures}
    t = cell.step_timeline()
    if t is not None:
        s = steps.series(t)
        d["step"] = {"t_ms": _round(s["t_ms"]), "live_mib": {k: _round(v) for k, v in s["live_mib"].items()},
                     "total_mib": _round(s["total_mib"]), "rss_mib": _round(s["rss_mib"]),
                     "reserved_mib": None if s["reserved_mib"] is None else _round(s["reserved_mib"]),
                     "phases": s["phases"], "step_ms": s["step_ms"], "events": t["events"],
                     "recording_ms": t.get("recording_ms")}
    return d


def report_data(results):
    """Everything the page draws, as one JSON-able object."""
    workloads = []
    for workload, cells in results.workloads().items():
        points = [(c.get_mib("peak_rss_bytes"), c.get("step_ms"), c) for c in cells
                  if c.ok and c.get("step_ms") is not None and c.get("peak_rss_bytes") is not None]
        front = [p[2].name for p in pareto_front(points)] if points else []
        workloads.append({"label": workload_label(workload), "cells": [_cell_data(c) for c in cells],
                          "front": front})
    fit = None
    if results.fit and results.fit.get("results"):
        f = results.fit
        fit = {"workload": f.get("model", "?") + (f", {f['image']}×{f['image']} images" if f.get("image") else ""),
               "budget_mib": (f.get("budget_bytes") or 0) / MIB, "source": os.path.basename(results.fit_source or ""),
               "results": [{"strategy": strategy.label(e["alloc"], e.get("tech", "none")),
                            "colour": strategy.colour(strategy.label(e["alloc"], e.get("tech", "none"))),
                            "max_batch": e["max_batch"], "predicted_batch": e.get("predicted_batch"),
                            "failed_batch": (e.get("failed") or {}).get("batch"),
                            "failed_status": (e.get("failed") or {}).get("status"),
                            "step_ms": e.get("step_ms"), "peak_rss_mib": (e.get("peak_rss_bytes") or 0) / MIB or None}
                           for e in sorted(f["results"], key=lambda e: -e["max_batch"])]}
    return {"machine": machine_line(results.context), "source": os.path.basename(results.path),
            "kinds": list(steps.KIND_COLOURS), "kind_colours": steps.KIND_COLOURS, "workloads": workloads,
            "fit": fit}


def compare_data(a, b, rows, only_a, only_b):
    """What scripts/compare --html draws: every common cell's ratios with their intervals."""
    out = []
    for r in rows:
        out.append({"cell": r["cell"], "strategy": r["strategy"], "status": r.get("status"),
                    "time_ratio": r.get("time_ratio"), "low": r.get("low"), "high": r.get("high"),
                    "peak_ratio": r.get("peak_ratio"), "verdict": r.get("verdict"), "flags": r.get("flags") or ""})
    return {"a": os.path.basename(a.path), "b": os.path.basename(b.path), "machine_a": machine_line(a.context),
            "machine_b": machine_line(b.context), "rows": out, "only_a": only_a, "only_b": only_b}


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } .muted { color: #666; }
.picker { margin: .5em 0; } .picker label { margin-right: 1em; white-space: nowrap; display: inline-block; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ddd; padding: 2px 6px; }
td.n { text-align: right; } .chart { width: 100%; }
"""

REPORT_JS = r"""
const D = JSON.parse(document.getElementById('memstrat-data').textContent);
window.memstrat = {charts: {}, errors: []};
const CONFIG = {displaylogo: false, responsive: true};
function fmt(v, d) { return v === null || v === undefined ? '–' : v.toFixed(d === undefined ? 1 : d); }
function draw(id, traces, layout) {
  Plotly.react(id, traces, layout, CONFIG);
  window.memstrat.charts[id] = traces.length;
}
function hover(c) {
  const f = c.figures;
  return `<b>${c.strategy}</b><br>step ${fmt(f.step_ms)} ms (p10–p90 ${fmt(f.step_ms_p10)}–${fmt(f.step_ms_p90)})` +
    `<br>peak RSS ${fmt(f.peak_rss_mib)} MiB, baseline ${fmt(f.baseline_rss_mib)}<br>peak live ${fmt(f.peak_live_mib)} MiB` +
    `, overhead ×${fmt(f.overhead_ratio, 2)}<br>predicted peak RSS ${fmt(f.predicted_peak_rss_mib)} MiB` +
    (c.unstable ? '<br><i>unstable time</i>' : '') + '<extra></extra>';
}
function pareto(w, i) {
  const ok = w.cells.filter(c => c.status === 'ok' && c.figures.step_ms !== null && c.figures.peak_rss_mib !== null);
  const traces = ok.map(c => ({x: [c.figures.peak_rss_mib], y: [c.figures.step_ms], name: c.strategy, mode: 'markers',
    type: 'scatter', hovertemplate: hover(c), marker: {size: 11, color: c.unstable ? '#fff' : c.colour,
    line: {color: c.unstable ? c.colour : '#222', width: c.unstable ? 2 : 0.6}}}));
  const front = w.front.map(n => ok.find(c => c.name === n)).filter(Boolean);
  traces.push({x: front.map(c => c.figures.peak_rss_mib), y: front.map(c => c.figures.step_ms), name: 'Pareto front',
    mode: 'lines', line: {shape: 'hv', color: '#444'}, hoverinfo: 'skip', type: 'scatter'});
  draw('pareto-' + i, traces, {title: {text: w.label, x: 0}, height: 460, margin: {t: 40},
    xaxis: {title: 'peak RSS (MiB), less is better'}, yaxis: {title: 'step time (ms), less is better'}});
}
function stepTraces(c, overlay) {
  const s = c.step, traces = [];
  if (!overlay) {
    for (const k of D.kinds) {
      traces.push({x: s.t_ms, y: s.live_mib[k], name: k, stackgroup: 'live', mode: 'lines', line: {width: 0, shape: 'hv'},
        fillcolor: D.kind_colours[k], type: 'scatter', hovertemplate: `${k}: %{y:.1f} MiB<extra></extra>`});
    }
    traces.push({x: s.t_ms, y: s.rss_mib, name: 'RSS', mode: 'lines', type: 'scatter',
      line: {color: '#000', width: 2.2, shape: 'hv'}, hovertemplate: 'RSS %{y:.1f} MiB at %{x:.1f} ms<extra></extra>'});
    if (s.reserved_mib) traces.push({x: s.t_ms, y: s.reserved_mib, name: 'allocator reserved', mode: 'lines',
      type: 'scatter', line: {color: '#000', width: 1.6, dash: 'dot', shape: 'hv'},
      hovertemplate: 'reserved %{y:.1f} MiB<extra></extra>'});
  } else {
    // Another strategy laid over: time scaled to the first one's step, so phases line up.
    traces.push({x: s.t_ms, y: s.rss_mib, name: 'RSS: ' + c.strategy, mode: 'lines', type: 'scatter',
      line: {color: c.colour, width: 2, shape: 'hv'}, hovertemplate: c.strategy + ': RSS %{y:.1f} MiB<extra></extra>'});
    traces.push({x: s.t_ms, y: s.total_mib, name: 'live: ' + c.strategy, mode: 'lines', type: 'scatter',
      line: {color: c.colour, width: 1, dash: 'dash', shape: 'hv'},
      hovertemplate: c.strategy + ': live %{y:.1f} MiB<extra></extra>'});
  }
  return traces;
}
function normalised(c) {
  const s = c.step, scale = 100 / s.step_ms;
  return Object.assign({}, c, {step: Object.assign({}, s, {t_ms: s.t_ms.map(t => t * scale)})});
}
function drawStep(i) {
  const w = D.workloads[i], sel = document.getElementById('cell-' + i);
  const withStep = w.cells.filter(c => c.step);
  const main = withStep.find(c => c.name === sel.value) || withStep[0];
  const others = [...document.querySelectorAll(`#overlay-${i} input:checked`)].map(b => withStep.find(c => c.name === b.value))
    .filter(c => c && c !== main);
  const norm = document.getElementById('norm-' + i).checked || others.length > 0;
  const m = norm ? normalised(main) : main;
  let traces = stepTraces(m, false);
  for (const o of others) traces = traces.concat(stepTraces(normalised(o), true));
  const shapes = m.step.phases.map(([p, t]) => ({type: 'line', x0: norm ? t * 100 / main.step.step_ms : t,
    x1: norm ? t * 100 / main.step.step_ms : t, yref: 'paper', y0: 0, y1: 1, line: {color: '#888', dash: 'dot', width: 1}}));
  const annotations = m.step.phases.map(([p, t]) => ({x: norm ? t * 100 / main.step.step_ms : t, y: 1, yref: 'paper',
    text: p, showarrow: false, xanchor: 'left', font: {size: 11, color: '#555'}}));
  const f = main.figures;
  draw('step-' + i, traces, {title: {text: `${main.strategy}: one step, ${fmt(main.step.step_ms)} ms, ` +
      `${main.step.events} events; peak RSS of the run ${fmt(f.peak_rss_mib)} MiB`, x: 0, font: {size: 14}},
    height: 480, margin: {t: 50}, shapes: shapes, annotations: annotations, hovermode: 'x unified',
    xaxis: {title: norm ? 'time in the step (% of each step)' : 'time in the step (ms)'},
    yaxis: {title: 'MiB', rangemode: 'tozero'}});
}
function setup() {
  document.getElementById('machine').textContent = D.machine;
  document.getElementById('source').textContent = D.source;
  const root = document.getElementById('workloads');
  D.workloads.forEach((w, i) => {
    const sec = document.createElement('section');
    const withStep = w.cells.filter(c => c.step);
    sec.innerHTML = `<h2>${w.label}</h2><div id="pareto-${i}" class="chart"></div>`;
    root.appendChild(sec);
    pareto(w, i);
    if (withStep.length) {
      const div = document.createElement('div');
      div.innerHTML = `<h3>Inside one step</h3><p class="muted">The last measured step of the cell's first run: live ` +
        `bytes the trainer holds, stacked by kind; RSS (solid) and what the allocator reserved (dotted) over them. ` +
        `The gap between the stack and RSS is what the strategy costs, and where in the step it opens.</p>` +
        `<div class="picker">cell <select id="cell-${i}">` +
        withStep.map(c => `<option value="${c.name}">${c.strategy}</option>`).join('') + `</select> ` +
        `<label><input type="checkbox" id="norm-${i}"> time as % of the step</label></div>` +
        `<div class="picker" id="overlay-${i}">lay over: ` + withStep.map(c =>
          `<label><input type="checkbox" value="${c.name}"> ${c.strategy}</label>`).join('') + `</div>` +
        `<div id="step-${i}" class="chart"></div>`;
      sec.appendChild(div);
      div.querySelectorAll('select, input').forEach(e => e.addEventListener('change', () => drawStep(i)));
      drawStep(i);
    }
  });
  if (D.fit) {
    const f = D.fit, sec = document.getElementById('fit');
    sec.innerHTML = `<h2>Largest batch within ${fmt(f.budget_mib, 0)} MiB: ${f.workload}</h2>` +
      `<p class="muted">From ${f.source}. Bar: the batch that trained, confirmed by a run under the budget; ` +
      `diamond: the batch the prediction allowed; cross: the next batch tried above, which did not fit.</p>` +
      `<div id="fit-chart" class="chart"></div>`;
    const r = f.results;
    draw('fit-chart', [
      {type: 'bar', orientation: 'h', y: r.map(e => e.strategy), x: r.map(e => e.max_batch), name: 'trained',
        marker: {color: r.map(e => e.colour)}, hovertemplate: r.map(e => `<b>${e.strategy}</b><br>batch ${e.max_batch}` +
          `<br>step ${fmt(e.step_ms)} ms, peak RSS ${fmt(e.peak_rss_mib)} MiB<extra></extra>`)},
      {type: 'scatter', mode: 'markers', y: r.map(e => e.strategy), x: r.map(e => e.predicted_batch),
        name: 'predicted', marker: {symbol: 'diamond', size: 10, color: '#222'}},
      {type: 'scatter', mode: 'markers', y: r.map(e => e.strategy), x: r.map(e => e.failed_batch),
        name: 'did not fit', marker: {symbol: 'x', size: 10, color: '#c00'},
        hovertemplate: r.map(e => `batch ${e.failed_batch}: ${e.failed_status}<extra></extra>`)}],
      {height: 120 + 26 * r.length, margin: {l: 200, t: 20}, yaxis: {autorange: 'reversed'},
        xaxis: {title: 'batch'}, barmode: 'overlay'});
  }
}
try { setup(); } catch (e) { window.memstrat.errors.push(String(e)); console.error(e); throw e; }
"""

COMPARE_JS = r"""
const D = JSON.parse(document.getElementById('memstrat-data').textContent);
window.memstrat = {charts: {}, errors: []};
function fmt(v, d) { return v === null || v === undefined ? '–' : v.toFixed(d === undefined ? 2 : d); }
document.getElementById('machine').textContent = `A: ${D.a} (${D.machine_a}); B: ${D.b} (${D.machine_b})`;
document.getElementById('source').textContent = D.a + ' against ' + D.b;
const r = D.rows.filter(x => x.time_ratio !== null && x.time_ratio !== undefined);
const traces = [
  {type: 'scatter', mode: 'markers', name: 'step time B ÷ A', y: r.map(x => x.cell), x: r.map(x => x.time_ratio),
    error_x: {type: 'data', symmetric: false, array: r.map(x => x.high - x.time_ratio),
      arrayminus: r.map(x => x.time_ratio - x.low)}, marker: {size: 9, color: '#1f77b4'},
    hovertemplate: r.map(x => `<b>${x.cell}</b><br>time ×${fmt(x.time_ratio)} (${fmt(x.low)}–${fmt(x.high)})` +
      `<br>${x.verdict}${x.flags ? ', ' + x.flags : ''}<extra></extra>`)},
  {type: 'scatter', mode: 'markers', name: 'peak RSS B ÷ A', y: r.map(x => x.cell), x: r.map(x => x.peak_ratio),
    marker: {size: 9, symbol: 'diamond', color: '#d62728'},
    hovertemplate: r.map(x => `<b>${x.cell}</b><br>peak RSS ×${fmt(x.peak_ratio, 3)}<extra></extra>`)}];
Plotly.newPlot('compare-chart', traces, {height: 140 + 24 * r.length, margin: {l: 420, t: 20},
  yaxis: {autorange: 'reversed'}, xaxis: {title: 'B ÷ A (below 1: B faster or smaller)'},
  shapes: [{type: 'line', x0: 1, x1: 1, yref: 'paper', y0: 0, y1: 1, line: {color: '#888', dash: 'dot'}}]},
  {displaylogo: false, responsive: true});
window.memstrat.charts['compare-chart'] = traces.length;
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style>
<script>window.memstratErrors = []; window.addEventListener('error', e => window.memstratErrors.push(String(e.message)));</script>
<script>{plotly}</script></head>
<body><h1>{title}</h1>
<p class="muted">Generated by scripts/{tool} from <code id="source"></code>; every figure is read from it.
Plotly.js inlined from {plotly_source} (no network needed). <span id="machine"></span></p>
{body}
<script type="application/json" id="memstrat-data">{data}</script>
<script>{script}</script>
</body></html>
"""


def _json_for_script(data):
    # "</" would end the script element early: written as "<\\/" inside the JSON's strings.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _page(title, tool, body, data, script):
    js, source = plotly_js()
    return PAGE.format(title=html.escape(title), style=STYLE, plotly=js, tool=tool,
                       plotly_source=html.escape(source), body=body, data=_json_for_script(data), script=script)


def render_report(results):
    c = results.context
    title = f"memstrat results: {c.get('host_name', 'unknown host')}, {str(c.get('date', ''))[:10]}".rstrip(", ")
    body = '<div id="workloads"></div><section id="fit"></section>'
    return _page(title, "report --html", body, report_data(results), REPORT_JS)


def render_compare(a, b, rows, only_a, only_b):
    title = f"memstrat: {os.path.basename(b.path)} against {os.path.basename(a.path)}"
    only = ""
    if only_a or only_b:
        only = "<p>" + "<br>".join(html.escape(f"only in {side}: {', '.join(names)}")
                                   for side, names in (("A", only_a), ("B", only_b)) if names) + "</p>"
    body = '<div id="compare-chart" class="chart"></div>' + only
    return _page(title, "compare --html", body, compare_data(a, b, rows, only_a, only_b), COMPARE_JS)


def write(text, path):
    """Writes the page whole or not at all."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temp, path)
    return path
