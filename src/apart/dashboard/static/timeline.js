// The step timeline of the run page: one collapsible card per saved step with
// each agent's message received and answer, the simulator's events and
// reasoning, variable changes, clamps and the step's danger signals.
// A card's body is built when it is first opened (long runs stay light).

import { el, formatValue, severityBadge } from "./dom.js";
import { SEVERITIES } from "./panels.js";

const SIMULATOR = "simulator";

function worst(signals) {
  return signals.reduce((top, s) =>
    SEVERITIES.indexOf(s.severity) > SEVERITIES.indexOf(top) ? s.severity : top, "low");
}

function messageBlock(label, text, kind) {
  return el("div", { class: `message message-${kind}` },
    el("div", { class: "message-label" }, label),
    text === null || text === undefined
      ? el("p", { class: "muted" }, "not saved (the previous step was not checkpointed)")
      : text === "" ? el("p", { class: "muted" }, "(no message)")
        : el("p", { class: "message-text" }, text));
}

function exchanges(step, previous) {
  const answers = (step.messages || []).filter((m) => m.to === SIMULATOR);
  const told = new Map((previous?.messages || []).filter((m) => m.from === SIMULATOR)
    .map((m) => [m.to, m.content]));
  if (step.step === 0) {
    const briefings = (step.messages || []).filter((m) => m.from === SIMULATOR);
    return el("div", { class: "exchanges" }, briefings.map((m) => el("div", { class: "exchange" },
      el("h4", {}, m.to), messageBlock("First briefing from the simulator", m.content, "received"))));
  }
  return el("div", { class: "exchanges" }, answers.map((m) => el("div", { class: "exchange" },
    el("h4", {}, m.from),
    messageBlock("Received", previous ? (told.get(m.from) ?? "") : null, "received"),
    messageBlock("Answered", m.content, "answer"))));
}

function eventsBlock(events) {
  if (!events || !events.length) return null;
  return el("div", { class: "block" }, el("h4", {}, "Events"),
    el("ul", { class: "events" }, events.map((e) => {
      const type = e && typeof e === "object" ? e.type : null;
      const text = e && typeof e === "object" ? (e.description ?? JSON.stringify(e)) : String(e);
      return el("li", {}, type ? el("span", { class: "event-type" }, type) : null, text);
    })));
}

function changesBlock(changes) {
  if (!changes || !changes.length) return null;
  return el("div", { class: "block" }, el("h4", {}, "Changes"),
    el("table", { class: "changes" }, el("tbody", {}, changes.map((c) => el("tr", {},
      el("td", {}, c.scope === "global" ? c.variable : `${c.scope} · ${c.variable}`),
      el("td", { class: "num" }, formatValue(c.old)), el("td", { "aria-hidden": "true" }, "→"),
      el("td", { class: "num" }, formatValue(c.new)))))));
}

function clampsBlock(clamps) {
  if (!clamps || !clamps.length) return null;
  return el("div", { class: "block" }, el("h4", {}, "Clamped to bounds"),
    el("ul", { class: "clamps" }, clamps.map((c) => el("li", {},
      `${c.scope === "global" ? "" : `${c.scope} · `}${c.variable}: asked ${formatValue(c.requested)}, ` +
      `set to ${formatValue(c.applied)} (${c.bound})`))));
}

function signalsBlock(signals) {
  if (!signals || !signals.length) return null;
  return el("div", { class: "block" }, el("h4", {}, "Danger signals"),
    el("ul", { class: "signals" }, signals.map((s) => el("li", {}, severityBadge(s.severity), " ",
      el("strong", {}, s.category), ` · ${s.agent ?? "world"} · ${s.source}: `, s.evidence))));
}

function stepBody(step, previous) {
  return el("div", { class: "step-body" },
    eventsBlock(step.events),
    exchanges(step, previous),
    el("div", { class: "block" }, el("h4", {}, "Simulator's reasoning"),
      step.reasoning ? el("p", { class: "message-text" }, step.reasoning)
        : el("p", { class: "muted" }, "none given")),
    changesBlock(step.changes), clampsBlock(step.clamps), signalsBlock(step.danger_signals));
}

function summaryLine(step) {
  const signals = step.danger_signals || [];
  const events = step.events || [];
  const headline = events.length && typeof events[0] === "object" ? events[0].description : "";
  return el("summary", {},
    el("span", { class: "step-no" }, step.step === 0 ? "Step 0 · initialisation" : `Step ${step.step}`),
    headline ? el("span", { class: "step-headline" }, headline) : el("span", { class: "spacer" }),
    events.length ? el("span", { class: "pill" }, `${events.length} event${events.length > 1 ? "s" : ""}`) : null,
    step.clamps && step.clamps.length ? el("span", { class: "pill warn" }, `${step.clamps.length} clamped`) : null,
    signals.length ? el("span", { class: `pill severity-${worst(signals)}` },
      `${signals.length} signal${signals.length > 1 ? "s" : ""}`) : null);
}

export class Timeline {
  constructor() {
    this.cards = new Map();
    this.node = el("div", { class: "timeline" });
    this.latestOpen = null;
  }

  /** Add or replace the cards of `steps`; `byStep` holds every step (for "received"). */
  update(steps, byStep) {
    for (const step of steps) {
      const old = this.cards.get(step.step);
      const card = this.card(step, byStep);
      if (old) old.replaceWith(card);
      else this.insert(step.step, card);
      this.cards.set(step.step, card);
    }
    const last = Math.max(...this.cards.keys());
    if (this.latestOpen !== last && this.cards.has(last)) {
      const previous = this.cards.get(this.latestOpen);
      if (previous && previous.dataset.auto === "true") {
        previous.programmatic = true;
        previous.open = false;
      }
      const card = this.cards.get(last);
      card.dataset.auto = "true";
      card.programmatic = true;
      card.open = true;
      this.latestOpen = last;
    }
  }

  insert(number, card) {
    const after = [...this.cards.keys()].filter((k) => k > number).sort((a, b) => a - b)[0];
    this.node.insertBefore(card, after === undefined ? null : this.cards.get(after));
  }

  card(step, byStep) {
    const details = el("details", { class: "step", "data-step": step.step }, summaryLine(step));
    let built = false;
    const build = () => {
      if (built || !details.open) return;
      built = true;
      details.append(stepBody(step, byStep.get(step.step - 1) || null));
    };
    details.addEventListener("toggle", () => {
      if (details.programmatic) details.programmatic = false;
      else details.dataset.auto = "false";
      build();
    });
    details.build = build;
    return details;
  }

  setAll(open) {
    for (const card of this.cards.values()) {
      if (card.open !== open) card.programmatic = true;
      card.open = open;
      card.dataset.auto = "false";
    }
  }
}
