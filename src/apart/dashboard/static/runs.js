// The runs list (#/ or #/?status=running): status, progress, danger count, cost,
// controls; live over the all-runs event stream, polling while it is down.

import { api } from "./api.js";
import { runControls } from "./controls.js";
import {
  ACTIVE, STATUSES, el, flash, formatCost, progressBar, replace, showConnection, statusBadge,
  timeEl,
} from "./dom.js";
import { EventStream } from "./sse.js";

const POLL_MS = 3000; // the stream is down: read the list again this often
const ACTIVE_REFRESH_MS = 5000; // re-read active runs (a dead worker shows as interrupted)
const REFRESH_DELAY_MS = 200; // events of one run within this delay cause one read
const DETAIL_CONCURRENCY = 4;
/** Events after which a run not listed may belong in the list (started, paused, ended...). */
const STATUS_EVENTS = new Set([
  "simulation_started", "simulation_resumed", "pause_requested", "simulation_paused",
  "simulation_completed", "simulation_failed", "simulation_stopped", "simulation_interrupted",
]);
const COLUMNS = ["Run", "Scenario", "Status", "Progress", "Danger", "Cost", "Created", "Actions"];

function reasonOf(run) {
  if (run.error) return run.error;
  if (run.status === "paused" && run.pauseReason) return `reason: ${run.pauseReason}`;
  return "";
}

class RunsPage {
  constructor(root, query) {
    this.root = root;
    this.filter = query.get("status") || "";
    this.rows = new Map();
    this.timers = new Map();
    this.nextCursor = null;
    this.streamState = "connecting";
    this.closed = false;
  }

  mount() {
    const select = el("select", { id: "status-filter", onchange: (e) => {
      window.location.hash = e.target.value ? `#/?status=${e.target.value}` : "#/";
    } }, el("option", { value: "" }, "all"), STATUSES.map((s) => el("option", { value: s }, s)));
    select.value = this.filter;
    this.tbody = el("tbody");
    this.empty = el("p", { class: "empty", hidden: true });
    this.more = el("button", { type: "button", class: "button ghost", hidden: true,
      onclick: () => this.loadMore() }, "Load more runs");
    this.root.append(
      el("div", { class: "page-head" },
        el("h1", {}, "Runs"),
        el("div", { class: "head-actions" },
          el("label", { for: "status-filter" }, "Status"), select,
          el("a", { class: "button primary", href: "#/new" }, "Start a run"))),
      el("div", { class: "card table-card" },
        el("table", { class: "runs-table" },
          el("thead", {}, el("tr", {}, COLUMNS.map((c) => el("th", { scope: "col" }, c)))),
          this.tbody),
        this.empty, this.more));
    this.stream = new EventStream("/api/v1/events", {
      onEvent: (envelope) => this.onEvent(envelope),
      onState: (state) => this.onStreamState(state),
    }).start();
    this.activeTimer = setInterval(() => this.refreshActive(), ACTIVE_REFRESH_MS);
    this.load();
  }

  close() {
    this.closed = true;
    this.stream.close();
    clearInterval(this.activeTimer);
    clearInterval(this.pollTimer);
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  // -- reading -----------------------------------------------------------------------

  async load() {
    try {
      const page = await api.runs(this.filter || null, null);
      if (this.closed) return;
      const seen = new Set(page.runs.map((r) => r.runId));
      for (const [id, row] of this.rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          this.rows.delete(id);
        }
      }
      page.runs.forEach((run, index) => this.upsert(run, index));
      this.nextCursor = page.nextCursor;
      this.renderFooter();
      this.readDetails(page.runs);
    } catch (err) {
      this.showError(err);
    }
  }

  async loadMore() {
    try {
      const page = await api.runs(this.filter || null, this.nextCursor);
      page.runs.forEach((run) => this.upsert(run));
      this.nextCursor = page.nextCursor;
      this.renderFooter();
      this.readDetails(page.runs);
    } catch (err) {
      flash(err.message, "error");
    }
  }

  /** Read each run's detail (cost is there); a finished run's cost never changes. */
  async readDetails(runs) {
    const queue = runs.filter((r) => {
      const row = this.rows.get(r.runId);
      return row && !(row.detail && !ACTIVE.has(row.detail.status) && row.detail.status === r.status);
    }).map((r) => r.runId);
    const worker = async () => {
      while (queue.length && !this.closed) await this.refresh(queue.shift());
    };
    await Promise.all(Array.from({ length: DETAIL_CONCURRENCY }, worker));
  }

  async refresh(runId) {
    try {
      const detail = await api.run(runId);
      if (this.closed) return;
      const row = this.rows.get(runId);
      if (row) {
        row.detail = detail;
        row.run = detail;
        this.render(row);
      }
    } catch (err) {
      if (err.status === 404) this.remove(runId);
    }
  }

  refreshActive() {
    for (const [id, row] of this.rows) if (ACTIVE.has(row.run.status)) this.schedule(id);
  }

  schedule(runId) {
    if (this.timers.has(runId)) return;
    this.timers.set(runId, setTimeout(() => {
      this.timers.delete(runId);
      this.refresh(runId);
    }, REFRESH_DELAY_MS));
  }

  // -- live --------------------------------------------------------------------------

  onEvent(envelope) {
    const row = this.rows.get(envelope.run_id);
    if (!row) {
      if (STATUS_EVENTS.has(envelope.event_type)) this.scheduleReload();
      return;
    }
    if (envelope.event_type === "step_completed" && envelope.step !== null
        && envelope.step > (row.run.currentStep ?? -1)) {
      row.run = { ...row.run, currentStep: envelope.step };
      this.render(row);
    }
    this.schedule(envelope.run_id);
  }

  scheduleReload() {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      this.load();
    }, REFRESH_DELAY_MS);
  }

  onStreamState(state) {
    const wasDown = this.streamState === "down";
    this.streamState = state;
    if (state === "live") {
      showConnection("live");
      clearInterval(this.pollTimer);
      this.pollTimer = null;
      if (wasDown) this.load();
    } else if (!this.pollTimer) {
      showConnection("polling");
      this.pollTimer = setInterval(() => this.load(), POLL_MS);
    }
  }

  // -- drawing -----------------------------------------------------------------------

  upsert(run, index = null) {
    let row = this.rows.get(run.runId);
    if (!row) {
      row = this.createRow(run);
      this.rows.set(run.runId, row);
    }
    row.run = { ...row.run, ...run };
    const position = index === null ? null : this.tbody.children[index];
    if (position !== row.tr) this.tbody.insertBefore(row.tr, position || null);
    this.render(row);
  }

  createRow(run) {
    const cells = {};
    for (const name of ["run", "scenario", "status", "progress", "danger", "cost", "created", "actions"]) {
      cells[name] = el("td", { class: `col-${name}` });
    }
    const tr = el("tr", { "data-run-id": run.runId }, Object.values(cells));
    const href = `#/runs/${encodeURIComponent(run.runId)}`;
    cells.run.append(el("a", { class: "run-link", href }, run.runId));
    const row = { tr, cells, run, detail: null };
    row.controls = runControls(run.runId, (status) => {
      if (status) {
        row.run = { ...row.run, status };
        this.render(row);
      }
      this.schedule(run.runId);
    }, { compact: true });
    cells.actions.append(row.controls.node);
    return row;
  }

  render(row) {
    const { run, cells } = row;
    cells.scenario.textContent = run.scenario;
    const reason = reasonOf(run);
    replace(cells.status, statusBadge(run.status),
      reason ? el("div", { class: "reason", title: reason }, reason) : null);
    replace(cells.progress, progressBar(run.currentStep, run.totalSteps,
      `steps of run ${run.runId}`));
    replace(cells.danger, el("span", {
      class: `danger-count${run.dangerCount > 0 ? " has-danger" : ""}`,
      title: `${run.dangerCount} danger signal${run.dangerCount === 1 ? "" : "s"}`,
    }, String(run.dangerCount)));
    cells.cost.textContent = row.detail ? formatCost(row.detail.usage && row.detail.usage.cost_usd) : "…";
    replace(cells.created, timeEl(run.createdAt));
    row.controls.update(run.status);
  }

  renderFooter() {
    const none = this.rows.size === 0;
    this.empty.hidden = !none;
    this.empty.textContent = this.filter
      ? `No ${this.filter} runs.`
      : "No runs yet. Start one with “Start a run”, or from a terminal: apart run scenarios/demo.yaml";
    this.more.hidden = !this.nextCursor;
  }

  remove(runId) {
    const row = this.rows.get(runId);
    if (row) row.tr.remove();
    this.rows.delete(runId);
    this.renderFooter();
  }

  showError(err) {
    this.empty.hidden = false;
    this.empty.textContent = `Cannot list the runs: ${err.message}`;
  }
}

/** Draw the runs list into `root`; returns the function that tears it down. */
export function runsPage(root, query) {
  const page = new RunsPage(root, query);
  page.mount();
  return () => page.close();
}
