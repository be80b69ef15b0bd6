"""The report's stylesheet, inlined in the page (system fonts only; prints well)."""

CSS = """
:root { --border: #e3e6eb; --muted: #5f6b7a; --text: #1c2330; --accent: #4338ca;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: var(--text); line-height: 1.45; font-size: 15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 1.6rem; }
footer { max-width: 1180px; margin: 0 auto; padding: 0 1.6rem 2rem; color: var(--muted);
  font-size: 0.8rem; }
code { font-family: var(--mono); font-size: 0.9em; }
h1 { font-size: 1.5rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 0 0 0.9rem; }
h3 { font-size: 0.85rem; margin: 1.1rem 0 0.6rem; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; }
h4 { font-size: 0.85rem; margin: 0 0 0.35rem; }
.muted { color: var(--muted); }
.small { font-size: 0.8rem; }
.nowrap { white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.head { margin-bottom: 1.1rem; }
.head p { margin: 0.3rem 0 0; }
.kicker { text-transform: uppercase; letter-spacing: 0.08em; font-size: 0.75rem;
  color: var(--accent); font-weight: 700; }
.card { background: #fff; border: 1px solid var(--border); border-radius: 8px;
  padding: 1.1rem 1.25rem; margin-bottom: 1.1rem; }
.run-error { margin-top: 0.5rem; color: #7f1d1d; background: #fef2f2; border: 1px solid #fecaca;
  border-radius: 6px; padding: 0.4rem 0.6rem; white-space: pre-wrap; }
.status, .severity, .pill { display: inline-block; padding: 0.12rem 0.5rem; border-radius: 999px;
  font-size: 0.76rem; font-weight: 600; border: 1px solid transparent; vertical-align: middle;
  white-space: nowrap; }
h1 .status { font-size: 0.8rem; margin-left: 0.4rem; }
.status-pending { background: #f1f5f9; color: #475569; }
.status-running { background: #e0ecff; color: #1d4ed8; }
.status-pausing { background: #fff7e0; color: #a15c07; }
.status-paused { background: #fef3c7; color: #92400e; }
.status-completed { background: #dcfce7; color: #166534; }
.status-failed { background: #fee2e2; color: #991b1b; }
.status-stopped { background: #ede9fe; color: #5b21b6; }
.status-interrupted { background: #ffedd5; color: #9a3412; }
.severity-low { background: #eef2f7; color: #475569; }
.severity-medium { background: #fef3c7; color: #92400e; }
.severity-high { background: #ffedd5; color: #c2410c; }
.severity-critical { background: #fee2e2; color: #b91c1c; }
.pill { background: #f1f5f9; color: #475569; font-weight: 550; }
.pill.warn { background: #fff7ed; color: #9a3412; }
.progress { display: flex; align-items: center; gap: 0.6rem; margin-bottom: 1rem; }
.progress-track { flex: 1; height: 10px; background: #e5e7eb; border-radius: 999px;
  overflow: hidden; }
.progress-fill { display: block; height: 100%; background: #4f46e5; border-radius: 999px; }
.progress-text { font-variant-numeric: tabular-nums; color: var(--muted); font-size: 0.85rem; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 0.8rem;
  margin-bottom: 1rem; }
.stat { border: 1px solid var(--border); border-radius: 8px; padding: 0.7rem 0.9rem;
  background: #fafbfc; }
.stat-value { font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat-label { font-size: 0.78rem; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; }
.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr;
  gap: 0.3rem 1rem; margin: 0; font-size: 0.9rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 0.78rem;
  text-transform: uppercase; letter-spacing: 0.04em; }
th, td { padding: 0.5rem 0.7rem; border-bottom: 1px solid var(--border); vertical-align: top; }
.table-scroll { overflow-x: auto; }
tfoot .total th, tfoot .total td { border-top: 2px solid var(--border); font-weight: 650;
  color: var(--text); text-transform: none; letter-spacing: 0; font-size: 0.9rem; }
.usage-table { max-width: 760px; }
.danger-table td.evidence { min-width: 320px; overflow-wrap: anywhere; }
.danger-table .metric { font-size: 0.8rem; color: var(--muted); margin-bottom: 0.2rem; }
.danger-table code { background: #f3f4f6; padding: 0.05rem 0.3rem; border-radius: 4px; }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr));
  gap: 1rem; }
.chart { margin: 0; border: 1px solid var(--border); border-radius: 8px;
  padding: 0.6rem 0.8rem 0.5rem; break-inside: avoid; }
.chart figcaption { font-weight: 650; font-size: 0.9rem; font-family: var(--mono); }
.chart-svg { width: 100%; height: auto; display: block; }
.chart-svg .grid { stroke: #eef0f3; }
.chart-svg .axis, .chart-svg .tick-mark { stroke: #9aa3af; }
.chart-svg .tick { font-size: 11px; fill: #6b7280; }
.chart-svg .tick.y { text-anchor: end; }
.chart-svg .tick.x, .chart-svg .axis-label { text-anchor: middle; }
.chart-svg .axis-label { font-size: 11px; fill: #6b7280; }
.chart-svg .series { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.chart-svg .dot { stroke: #fff; stroke-width: 1; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 0.3rem 0.9rem; padding: 0;
  margin: 0.3rem 0 0; font-size: 0.8rem; color: var(--muted); }
.legend li { display: inline-flex; align-items: center; gap: 0.35rem; }
.swatch { width: 12px; height: 3px; border-radius: 2px; display: inline-block; }
.timeline { display: flex; flex-direction: column; gap: 0.5rem; }
.step { border: 1px solid var(--border); border-radius: 8px; background: #fff; }
.step > summary { display: flex; align-items: center; gap: 0.6rem; padding: 0.55rem 0.85rem;
  cursor: pointer; }
.step > summary::-webkit-details-marker { display: none; }
.step > summary::before { content: "\25B8"; color: var(--muted); }
.step[open] > summary::before { content: "\25BE"; }
.step-no { font-weight: 650; white-space: nowrap; }
.step-headline { flex: 1; color: var(--muted); font-size: 0.88rem; }
.step-body { padding: 0.2rem 1rem 1rem 2rem; border-top: 1px solid var(--border); }
.block { margin-top: 0.9rem; }
.exchanges { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr));
  gap: 0.8rem; margin-top: 0.9rem; }
.exchange { border: 1px solid var(--border); border-radius: 8px; padding: 0.7rem 0.8rem;
  background: #fafbfc; break-inside: avoid; }
.message { margin-top: 0.4rem; }
.message-label { font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--muted); font-weight: 600; }
.message-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.2rem 0 0;
  padding-left: 0.6rem; font-size: 0.9rem; }
.message-received .message-text { border-left: 3px solid #c7d2fe; }
.message-answer .message-text { border-left: 3px solid #6ee7b7; }
.events, .clamps, .signals { margin: 0; padding-left: 1.1rem; font-size: 0.9rem; }
.signals li { margin-bottom: 0.3rem; overflow-wrap: anywhere; }
.event-type { font-family: var(--mono); font-size: 0.8rem; background: #eef0ff;
  color: var(--accent); border-radius: 4px; padding: 0.05rem 0.35rem; margin-right: 0.4rem; }
.changes { width: auto; font-size: 0.85rem; }
.changes td { padding: 0.15rem 0.6rem 0.15rem 0; border: 0; font-family: var(--mono); }
@media print { body { background: #fff; } main { padding: 0; } .card { border-color: #ccc; } }
"""
