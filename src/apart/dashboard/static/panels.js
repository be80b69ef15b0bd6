// The run page's panels: variable charts, the danger signals table, usage and cost.
// Each takes the data and returns nodes; the run page decides when to redraw.

import { lineChart } from "./chart.js";
import { el, formatCost, formatCount, severityBadge } from "./dom.js";

export const SEVERITIES = ["low", "medium", "high", "critical"];

// -- variables -----------------------------------------------------------------------

function kindOf(value) {
  if (typeof value === "number" && Number.isFinite(value)) return "number";
  if (typeof value === "boolean") return "boolean";
  return null;
}

function addPoint(table, key, step, value) {
  const kind = kindOf(value);
  if (kind === null) return;
  let entry = table.get(key);
  if (!entry) {
    entry = { kind, points: [] };
    table.set(key, entry);
  }
  if (entry.kind === kind) entry.points.push([step, value]);
}

/**
 * The plottable variables of `steps` (oldest first): numbers, and booleans as
 * false/true. {global: Map(name -> {kind, points}), agents: Map(name -> Map(agent -> {kind, points}))}
 */
export function plottable(steps) {
  const global = new Map();
  const agents = new Map();
  for (const step of steps) {
    for (const [name, value] of Object.entries(step.global_vars || {})) {
      addPoint(global, name, step.step, value);
    }
    for (const [agent, vars] of Object.entries(step.agent_vars || {})) {
      for (const [name, value] of Object.entries(vars || {})) {
        if (!agents.has(name)) agents.set(name, new Map());
        addPoint(agents.get(name), agent, step.step, value);
      }
    }
  }
  return { global, agents };
}

/** One chart per global variable, then one per agent variable (a line per agent). */
export function chartsPanel(steps) {
  const { global, agents } = plottable(steps);
  const globalCharts = [...global].map(([name, entry]) => lineChart({
    title: name, id: `global:${name}`, boolean: entry.kind === "boolean",
    series: [{ name, points: entry.points }],
  }));
  const agentCharts = [...agents].map(([name, byAgent]) => {
    const kinds = new Set([...byAgent.values()].map((e) => e.kind));
    return lineChart({
      title: name, id: `agent:${name}`, boolean: kinds.size === 1 && kinds.has("boolean"),
      series: [...byAgent].filter(([, e]) => e.kind !== "boolean" || kinds.size === 1)
        .map(([agent, entry]) => ({ name: agent, points: entry.points })),
    });
  });
  if (!globalCharts.length && !agentCharts.length) {
    return [el("p", { class: "muted" }, steps.length
      ? "This scenario has no numeric or true/false variables to chart."
      : "No saved step yet: charts appear with the first step.")];
  }
  return [
    globalCharts.length ? el("h3", {}, "World (global variables)") : null,
    globalCharts.length ? el("div", { class: "chart-grid", "data-scope": "global" }, globalCharts) : null,
    agentCharts.length ? el("h3", {}, "Per agent (one line per agent)") : null,
    agentCharts.length ? el("div", { class: "chart-grid", "data-scope": "agents" }, agentCharts) : null,
  ];
}

// -- danger signals ------------------------------------------------------------------

function signalKey(s) {
  return JSON.stringify([s.step, s.agent, s.rule, s.category, s.metric, s.source, s.evidence]);
}

/** All signals known: those of the saved steps and the run's latest ones, without repeats, by step. */
export function mergeSignals(steps, latest) {
  const seen = new Map();
  for (const step of steps) for (const s of step.danger_signals || []) seen.set(signalKey(s), s);
  for (const s of latest || []) if (!seen.has(signalKey(s))) seen.set(signalKey(s), s);
  return [...seen.values()].sort((a, b) => a.step - b.step);
}

function measured(s) {
  const parts = [];
  if (s.value !== null && s.value !== undefined) parts.push(`value ${s.value}`);
  if (s.threshold !== null && s.threshold !== undefined) parts.push(`threshold ${s.threshold}`);
  return parts.join(" · ");
}

/** The signals table; `minimum` hides signals below that severity. */
export function dangerTable(signals, minimum = "low") {
  const floor = SEVERITIES.indexOf(minimum);
  const shown = signals.filter((s) => SEVERITIES.indexOf(s.severity) >= floor);
  if (!shown.length) {
    return el("p", { class: "muted empty-danger" }, signals.length
      ? `No signal of severity ${minimum} or more.` : "No danger signal so far.");
  }
  return el("div", { class: "table-scroll danger-scroll" }, el("table", { class: "danger-table" },
    el("thead", {}, el("tr", {}, ["Step", "Agent", "Category", "Severity", "Source", "Evidence"]
      .map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, shown.map((s) => el("tr", { "data-severity": s.severity, "data-rule": s.rule },
      el("td", { class: "num" }, String(s.step)),
      el("td", {}, s.agent === null || s.agent === undefined ? el("span", { class: "muted" }, "world") : s.agent),
      el("td", { class: "nowrap" }, s.category),
      el("td", {}, severityBadge(s.severity)),
      el("td", {}, el("div", {}, s.source), el("div", { class: "muted small" }, s.rule)),
      el("td", { class: "evidence" },
        el("div", { class: "metric" }, el("code", {}, s.metric), measured(s) ? `  ${measured(s)}` : ""),
        el("div", {}, s.evidence)))))));
}

// -- usage ---------------------------------------------------------------------------

/** Totals and one row per role (simulator, each agent, judge). */
export function usageTable(usage) {
  const u = usage || {};
  const roles = Object.entries(u.by_role || {});
  const row = (name, r, total = false) => el("tr", { class: total ? "total" : "" },
    el(total ? "th" : "td", total ? { scope: "row" } : {}, name),
    el("td", { class: "num" }, formatCount(r.calls)),
    el("td", { class: "num" }, formatCount(r.input_tokens)),
    el("td", { class: "num" }, formatCount(r.output_tokens)),
    el("td", { class: "num" }, formatCost(r.cost_usd)));
  return el("div", { class: "table-scroll" }, el("table", { class: "usage-table" },
    el("thead", {}, el("tr", {}, ["Role", "Calls", "Input tokens", "Output tokens", "Cost"]
      .map((c, i) => el("th", { scope: "col", class: i ? "num" : "" }, c)))),
    el("tbody", {}, roles.map(([name, r]) => row(name, r))),
    el("tfoot", {}, row("Total", u, true))));
}
