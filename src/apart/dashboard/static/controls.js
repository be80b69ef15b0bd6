// Pause / force pause / resume / stop buttons for one run.
//
// The buttons never guess the outcome: after a request they report the status
// the server answered (run_status) and the page then reads the run again, so a
// graceful pause shows `pausing` until the worker has really paused.

import { api } from "./api.js";
import { el, flash } from "./dom.js";

const ACTIONS = [
  {
    kind: "pause", label: "Pause", statuses: ["pending", "running"],
    help: "Pause at the end of the step in progress",
    call: (id) => api.pause(id, false),
  },
  {
    kind: "force", label: "Force pause", statuses: ["pending", "running", "pausing"],
    help: "Cancel the LLM calls in flight and pause now (the partial step is discarded)",
    call: (id) => api.pause(id, true),
  },
  {
    kind: "resume", label: "Resume", statuses: ["paused", "interrupted", "failed", "pausing"],
    help: "Continue from the last saved step (while pausing: cancel the pause)",
    call: (id) => api.resume(id),
  },
  {
    kind: "stop", label: "Stop", statuses: ["pending", "running", "pausing", "paused", "interrupted", "failed"],
    help: "Stop the run for good (its saved steps are kept)",
    confirm: (id) => `Stop run ${id} for good? It cannot be resumed afterwards.`,
    call: (id) => api.stop(id),
  },
];

/**
 * Controls for run `runId`. `onAnswer(runStatus)` is called after every request
 * with the status the server answered (null after an error).
 * Returns {node, update(status)}: update enables the buttons that fit the status.
 */
export function runControls(runId, onAnswer, { compact = false } = {}) {
  let status = null;
  let busy = false;
  const buttons = new Map();
  const node = el("div", { class: `controls${compact ? " compact" : ""}`, role: "group",
    "aria-label": `Controls of run ${runId}` });

  function update(newStatus = status) {
    status = newStatus;
    for (const action of ACTIONS) {
      const button = buttons.get(action.kind);
      button.disabled = busy || !action.statuses.includes(status);
    }
    node.setAttribute("aria-busy", busy ? "true" : "false");
    // completed and stopped runs are final: no control applies any more
    node.hidden = status === "completed" || status === "stopped";
  }

  async function perform(action) {
    if (action.confirm && !window.confirm(action.confirm(runId))) return;
    busy = true;
    update();
    let answered = null;
    try {
      const answer = await action.call(runId);
      answered = answer.run_status || null;
      flash(answer.message, "ok");
    } catch (err) {
      flash(err.message, "error");
    } finally {
      busy = false;
      if (answered) status = answered;
      update();
      onAnswer(answered);
    }
  }

  for (const action of ACTIONS) {
    const button = el("button", {
      type: "button", class: `button small action-${action.kind}`, title: action.help,
      "aria-label": `${action.label} run ${runId}`, "data-action": action.kind,
      onclick: () => perform(action),
    }, action.label);
    buttons.set(action.kind, button);
    node.append(button);
  }
  update();
  return { node, update };
}
