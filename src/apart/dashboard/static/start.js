// "Start a run" (#/new): a scenario as YAML (typed, pasted, or read from a local
// file in the browser) and the optional settings of POST /api/v1/runs.

import { api } from "./api.js";
import { el, flash, replace } from "./dom.js";

const PROVIDERS = [
  ["", "as in the scenario"],
  ["scripted", "scripted (offline)"],
  ["openai", "openai"],
  ["anthropic", "anthropic"],
  ["gemini", "gemini"],
  ["grok", "grok"],
  ["ollama", "ollama"],
];
const RUN_ID = "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}";

function field(id, label, input, hint = "") {
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return el("div", { class: "field" },
    el("label", { for: id }, label), input,
    hint ? el("small", { id: hintId, class: "muted" }, hint) : null);
}

function integer(value) {
  return value.trim() === "" ? undefined : Number.parseInt(value, 10);
}

/** The request body of the form's values (empty fields left out). */
function body(form, scenarioName) {
  const text = form.scenario.value;
  const values = {
    scenario: text.trim() ? text : undefined,
    scenario_path: text.trim() ? undefined : form.scenario_path.value.trim() || undefined,
    scenario_name: scenarioName || undefined,
    run_id: form.run_id.value.trim() || undefined,
    seed: integer(form.seed.value),
    max_steps: integer(form.max_steps.value),
    provider: form.provider.value || undefined,
    priority: form.priority.value,
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

export function startPage(root) {
  let scenarioName = "";
  const error = el("div", { class: "form-error", role: "alert", hidden: true });
  const textarea = el("textarea", { id: "scenario", name: "scenario", rows: 18,
    spellcheck: "false", autocomplete: "off",
    placeholder: "max_steps: 10\nengine:\n  provider: scripted\n  ...\nagents:\n  - name: Alpha\n    ..." });
  const file = el("input", { id: "scenario-file", type: "file", accept: ".yaml,.yml,text/yaml,application/x-yaml" });
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    textarea.value = await chosen.text();
    scenarioName = chosen.name.replace(/\.(ya?ml)$/i, "");
    error.hidden = true;
  });
  textarea.addEventListener("input", () => {
    error.hidden = true;
  });
  const submit = el("button", { type: "submit", class: "button primary" }, "Start run");
  const form = el("form", { class: "card start-form", novalidate: false },
    field("scenario-file", "Scenario file", file,
      "Read in this browser; nothing is uploaded until you start the run."),
    field("scenario", "Scenario (YAML)", textarea),
    field("scenario-path", "…or a scenario file on the server", el("input", {
      id: "scenario-path", name: "scenario_path", placeholder: "demo.yaml", autocomplete: "off",
    }), "Relative to the server's scenarios directory (APART_SCENARIOS_DIR); used when the box above is empty."),
    el("div", { class: "grid-fields" },
      field("run-id", "Run id (optional)", el("input", { id: "run-id", name: "run_id",
        pattern: RUN_ID, maxlength: 64, placeholder: "generated", autocomplete: "off" }),
      "Letters, digits, _ . -"),
      field("seed", "Seed (optional)", el("input", { id: "seed", name: "seed", type: "number",
        step: 1, placeholder: "scenario's" })),
      field("max-steps", "Max steps (optional)", el("input", { id: "max-steps",
        name: "max_steps", type: "number", min: 1, step: 1, placeholder: "scenario's" })),
      field("provider", "Provider", el("select", { id: "provider", name: "provider" },
        PROVIDERS.map(([value, label]) => el("option", { value }, label))),
      "scripted plays every role offline"),
      field("priority", "Priority", el("select", { id: "priority", name: "priority" },
        ["normal", "high", "low"].map((p) => el("option", { value: p }, p))))),
    error,
    el("div", { class: "form-actions" }, submit,
      el("a", { class: "button ghost", href: "#/" }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!form.reportValidity()) return;
    if (!form.scenario.value.trim() && !form.scenario_path.value.trim()) {
      replace(error, "Give a scenario: paste its YAML, choose a file, or name a file on the server.");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const answer = await api.start(body(form, scenarioName));
      const link = el("a", { href: `#/runs/${encodeURIComponent(answer.run_id)}` }, "open its page");
      flash(`${answer.message} — `, "ok", link);
      window.location.hash = "#/";
    } catch (err) {
      replace(error, el("strong", {}, "The server refused the run: "),
        el("span", { class: "form-error-detail" }, err.message));
      error.hidden = false;
      error.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Start run";
    }
  });
  error.tabIndex = -1;

  root.append(
    el("div", { class: "page-head" }, el("h1", {}, "Start a run"),
      el("p", { class: "muted" }, "The scenario is validated by the server before the run is created; a worker then plays it.")),
    form);
  return () => {};
}
