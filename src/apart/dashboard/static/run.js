// The run page (#/runs/<id>): status and controls, progress, variable charts,
// danger signals, usage and cost, and the step timeline; live while the run
// runs (its event stream: a saved step is read with /steps?from=), polling the
// API while the stream is down.

import { api } from "./api.js";
import { runControls } from "./controls.js";
import {
  ACTIVE, el, formatCost, formatCount, progressBar, replace, section, showConnection, statusBadge,
  timeEl,
} from "./dom.js";
import { chartsPanel, dangerTable, mergeSignals, SEVERITIES, usageTable } from "./panels.js";
import { EventStream } from "./sse.js";
import { Timeline } from "./timeline.js";

const POLL_MS = 2000;
const ACTIVE_REFRESH_MS = 5000;
const DETAIL_DELAY_MS = 250;
const STEPS_DELAY_MS = 100;

function stat(label, value, role) {
  return el("div", { class: "stat" }, el("div", { class: "stat-value", "data-role": role }, value),
    el("div", { class: "stat-label" }, label));
}

function fact(term, value) {
  return [el("dt", {}, term), el("dd", {}, value)];
}

class RunPage {
  constructor(root, runId) {
    this.root = root;
    this.runId = runId;
    this.detail = null;
    this.steps = new Map();
    this.timers = {};
    this.closed = false;
    this.minimum = "low";
    this.timeline = new Timeline();
  }

  async mount() {
    this.root.append(el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" },
      el("a", { href: "#/" }, "Runs"), " / ", el("span", {}, this.runId)));
    this.status = el("p", { class: "muted" }, "Loading…");
    this.root.append(this.status);
    try {
      this.detail = await api.run(this.runId);
      this.addSteps((await api.steps(this.runId)).steps);
    } catch (err) {
      this.status.textContent = err.status === 404
        ? `There is no run ${this.runId}.` : `Cannot read run ${this.runId}: ${err.message}`;
      this.status.className = "form-error";
      return;
    }
    if (this.closed) return;
    this.status.remove();
    this.build();
    this.renderDetail();
    this.renderSteps();
    this.stream = new EventStream(`/api/v1/runs/${encodeURIComponent(this.runId)}/events`, {
      lastEventId: this.detail.lastEventId || "",
      onEvent: (envelope) => this.onEvent(envelope),
      onState: (state) => this.onStreamState(state),
    }).start();
    this.timers.active = setInterval(() => {
      if (ACTIVE.has(this.detail.status)) this.later("detail", DETAIL_DELAY_MS);
    }, ACTIVE_REFRESH_MS);
  }

  close() {
    this.closed = true;
    if (this.stream) this.stream.close();
    for (const timer of Object.values(this.timers)) {
      clearTimeout(timer);
      clearInterval(timer);
    }
  }

  // -- layout ------------------------------------------------------------------------

  build() {
    this.controls = runControls(this.runId, (status) => {
      if (status) {
        this.detail = { ...this.detail, status };
        this.renderDetail();
      }
      this.later("detail", 0);
    });
    this.head = el("div", { class: "run-head" });
    this.overview = el("div", { class: "overview" });
    this.charts = el("div", { class: "charts" });
    this.danger = el("div", {});
    this.usage = el("div", {});
    const severity = el("select", { id: "severity-filter", onchange: (e) => {
      this.minimum = e.target.value;
      this.renderDanger();
    } }, SEVERITIES.map((s) => el("option", { value: s }, s === "low" ? "all" : `${s} or more`)));
    this.dangerTitle = el("span", { "data-role": "danger-total" });
    const jump = (id) => () => document.getElementById(id)?.scrollIntoView({ behavior: "smooth" });
    this.root.append(
      el("div", { class: "page-head run-title" }, this.head, this.controls.node),
      el("nav", { class: "in-page", "aria-label": "Sections of this run" },
        ["overview", "variables", "danger", "usage", "timeline"].map((id) =>
          el("button", { type: "button", class: "link", onclick: jump(id) }, id))),
      section("Overview", { id: "overview" }, this.overview),
      section("Variables", { id: "variables" }, this.charts),
      section("Danger signals", { id: "danger" },
        el("div", { class: "section-tools" }, this.dangerTitle,
          el("label", { for: "severity-filter" }, "Severity"), severity),
        this.danger),
      section("Usage and cost", { id: "usage" }, this.usage),
      section("Timeline", { id: "timeline" },
        el("div", { class: "section-tools" },
          el("button", { type: "button", class: "button ghost small",
            onclick: () => this.timeline.setAll(true) }, "Expand all"),
          el("button", { type: "button", class: "button ghost small",
            onclick: () => this.timeline.setAll(false) }, "Collapse all")),
        this.timeline.node));
  }

  renderDetail() {
    const d = this.detail;
    const reason = d.error ? el("div", { class: "run-error", role: "note" }, d.error)
      : d.pauseReason && (d.status === "paused" || d.status === "pausing")
        ? el("div", { class: "reason" }, `pause reason: ${d.pauseReason}`) : null;
    const pending = d.pauseRequest && d.status === "pausing"
      ? el("div", { class: "reason" }, `${d.pauseRequest} pause requested: waiting for the worker`) : null;
    replace(this.head, 
      el("h1", {}, d.runId, " ", statusBadge(d.status)),
      el("p", { class: "muted" }, "scenario ", el("strong", { class: "scenario-name" }, d.scenario),
        ` · seed ${d.seed} · ${d.priority} priority`),
      reason, pending);
    this.controls.update(d.status);
    const usage = d.usage || {};
    const tokens = (usage.input_tokens || 0) + (usage.output_tokens || 0);
    replace(this.overview, 
      progressBar(d.currentStep, d.maxSteps, `steps of run ${d.runId}`),
      el("div", { class: "stats" },
        stat("steps done", `${d.currentStep ?? "–"} / ${d.maxSteps}`, "steps"),
        stat("danger signals", formatCount(d.dangerCount), "danger-count"),
        stat("cost", formatCost(usage.cost_usd), "cost"),
        stat("tokens", formatCount(tokens), "tokens"),
        stat("LLM calls", formatCount(usage.calls || 0), "calls")),
      el("dl", { class: "facts" },
        fact("Agents", (d.agentNames || []).join(", ") || "–"),
        fact("Created", timeEl(d.createdAt)), fact("Started", timeEl(d.startedAt)),
        fact("Paused", timeEl(d.pausedAt)), fact("Finished", timeEl(d.completedAt)),
        fact("Checkpoint", d.saveFrequency === 1 ? "every step" : `every ${d.saveFrequency} steps`),
        fact("Provider", d.providerOverride || "as in the scenario")));
    replace(this.usage, usageTable(usage));
    this.renderDanger();
  }

  renderSteps() {
    const steps = this.sortedSteps();
    replace(this.charts, chartsPanel(steps));
    this.renderDanger();
  }

  renderDanger() {
    if (!this.danger || !this.detail) return;
    const signals = mergeSignals(this.sortedSteps(), this.detail.dangerSignals);
    const counts = SEVERITIES.map((s) => [s, signals.filter((x) => x.severity === s).length])
      .filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(" · ");
    this.dangerTitle.textContent = `${formatCount(this.detail.dangerCount)} in total` +
      (counts ? ` — ${counts}` : "") +
      (signals.length < this.detail.dangerCount ? ` (${signals.length} listed: the saved steps')` : "");
    replace(this.danger, dangerTable(signals, this.minimum));
  }

  sortedSteps() {
    return [...this.steps.values()].sort((a, b) => a.step - b.step);
  }

  // -- data --------------------------------------------------------------------------

  addSteps(steps) {
    const fresh = steps.filter((s) => JSON.stringify(this.steps.get(s.step)) !== JSON.stringify(s));
    for (const step of fresh) this.steps.set(step.step, step);
    if (fresh.length) this.timeline.update(fresh, this.steps);
    return fresh.length;
  }

  lastStep() {
    return this.steps.size ? Math.max(...this.steps.keys()) : -1;
  }

  later(what, delay) {
    if (this.timers[what]) return;
    this.timers[what] = setTimeout(async () => {
      this.timers[what] = null;
      if (what === "detail") await this.readDetail();
      else await this.readSteps();
    }, delay);
  }

  async readDetail() {
    try {
      this.detail = await api.run(this.runId);
      if (!this.closed) this.renderDetail();
    } catch (err) {
      if (err.status === 404) this.head.append(el("div", { class: "run-error" }, "This run was deleted."));
    }
  }

  async readSteps() {
    try {
      const answer = await api.steps(this.runId, this.lastStep() + 1);
      if (!this.closed && this.addSteps(answer.steps)) this.renderSteps();
    } catch {
      // the next event or poll reads them again
    }
  }

  onEvent(envelope) {
    if (envelope.event_type === "step_completed" || envelope.event_type === "danger_signal") {
      this.later("steps", STEPS_DELAY_MS);
    }
    this.later("detail", DETAIL_DELAY_MS);
  }

  onStreamState(state) {
    if (state === "live") {
      showConnection("live");
      clearInterval(this.timers.poll);
      this.timers.poll = null;
      return;
    }
    showConnection("polling");
    if (!this.timers.poll) {
      this.timers.poll = setInterval(() => {
        this.later("detail", 0);
        this.later("steps", 0);
      }, POLL_MS);
    }
  }
}

/** Draw run `runId` into `root`; returns the function that tears it down. */
export function runPage(root, runId) {
  const page = new RunPage(root, runId);
  page.mount();
  return () => page.close();
}
