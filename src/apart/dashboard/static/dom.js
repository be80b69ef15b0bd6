// Building the page safely, and formatting values for people.
//
// Every text from the server (LLM answers, names, errors) goes into the page as
// a text node or an attribute value set through the DOM: never as HTML. No
// string is ever parsed as markup anywhere in the dashboard.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Append children (nodes, strings, numbers; null/false are skipped) to `node`. */
export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** Replace the children of `node` (null/false children are skipped, unlike replaceChildren). */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** An HTML element: el("button", {type: "button", onclick: f}, "Pause"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  return append(node, children);
}

/** An SVG element, same arguments as el(). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  return append(node, children);
}

// -- formatting ----------------------------------------------------------------------

const TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit",
});

/** An ISO time as local date and time, or "–". */
export function formatTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : TIME.format(date);
}

/** A <time> element: local time shown, the ISO value as its datetime and tooltip. */
export function timeEl(iso) {
  if (!iso) return el("span", { class: "muted" }, "–");
  return el("time", { datetime: iso, title: iso }, formatTime(iso));
}

/** US dollars: "$0", "$0.0042", "$12.50". */
export function formatCost(usd) {
  if (usd === null || usd === undefined || Number.isNaN(Number(usd))) return "–";
  const value = Number(usd);
  if (value === 0) return "$0";
  if (Math.abs(value) < 0.01) return `$${value.toPrecision(2)}`;
  return `$${value.toFixed(2)}`;
}

/** An integer with thousands separators. */
export function formatCount(value) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString();
}

/** A variable's value, short: numbers trimmed, lists and mappings summarised. */
export function formatValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) return `[${value.length} item${value.length === 1 ? "" : "s"}]`;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// -- shared bits of the page -----------------------------------------------------------

export const STATUSES = [
  "pending", "running", "pausing", "paused", "completed", "failed", "stopped", "interrupted",
];
/** Statuses in which a worker may still change the run. */
export const ACTIVE = new Set(["pending", "running", "pausing"]);

/** The status as a coloured badge; the text is the server's status, as given. */
export function statusBadge(status) {
  return el("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function severityBadge(severity) {
  return el("span", { class: `severity severity-${severity}` }, severity);
}

/** A progress bar for step k of N (k null: not started). */
export function progressBar(current, total, label) {
  const done = current === null || current === undefined ? 0 : current;
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const fill = el("span", { class: "progress-fill" });
  fill.style.width = `${(ratio * 100).toFixed(1)}%`;
  const text = `${current === null || current === undefined ? "–" : current}/${total}`;
  return el("div", { class: "progress" },
    el("div", {
      class: "progress-track", role: "progressbar", "aria-valuemin": 0,
      "aria-valuemax": total, "aria-valuenow": done, "aria-label": label || "steps done",
    }, fill),
    el("span", { class: "progress-text", "data-role": "step" }, text));
}

/** Show a message at the top of the page (kind: "ok", "error" or "info"). */
export function flash(message, kind = "info", extra = null) {
  const area = document.getElementById("flash");
  if (!area) return;
  const close = el("button", {
    type: "button", class: "flash-close", "aria-label": "Dismiss message",
    onclick: () => item.remove(),
  }, "×");
  const item = el("div", { class: `flash flash-${kind}`, role: kind === "error" ? "alert" : "status",
    "data-created": Date.now() },
    el("span", { class: "flash-text" }, message), extra, close);
  area.append(item);
  while (area.children.length > 4) area.firstElementChild.remove();
  if (kind !== "error") setTimeout(() => item.remove(), 8000);
}

/** Drop the messages older than `ms` (when another page is opened). */
export function clearFlashes(ms = 1500) {
  for (const item of document.querySelectorAll("#flash .flash")) {
    if (Date.now() - Number(item.dataset.created) > ms) item.remove();
  }
}

/** Tell the header how live data reaches the page: "live", "polling" or "connecting". */
export function showConnection(state) {
  const node = document.getElementById("connection");
  if (!node) return;
  const text = { live: "live", polling: "polling every few seconds", connecting: "connecting…" };
  node.hidden = state === "idle";
  node.dataset.state = state;
  node.textContent = text[state] || state;
  node.title = state === "live"
    ? "Updates arrive as they happen (Server-Sent Events)"
    : "The event stream is unavailable: the page asks the server again every few seconds";
}

/** A section with a heading: section("Danger signals", {id: "danger"}, ...children). */
export function section(title, attrs = {}, ...children) {
  const id = attrs.id ? `${attrs.id}-title` : null;
  return el("section", { ...attrs, class: `card ${attrs.class || ""}`.trim(),
    "aria-labelledby": id },
  el("h2", { id }, title), children);
}
