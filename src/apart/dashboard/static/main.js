// The dashboard's entry point: hash routes, the API token panel, navigation.
//
//   #/                 runs list (#/?status=paused filters)
//   #/new              start a run
//   #/runs/<run id>    one run

import { getToken, setToken } from "./api.js";
import { clearFlashes, showConnection } from "./dom.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";
import { startPage } from "./start.js";

let teardown = null;

function parseHash() {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  return { path, query: new URLSearchParams(search) };
}

function route() {
  if (teardown) teardown();
  teardown = null;
  const view = document.getElementById("view");
  view.replaceChildren();
  const { path, query } = parseHash();
  const runMatch = path.match(/^\/runs\/([^/]+)$/);
  let current = "runs";
  clearFlashes();
  showConnection(path === "/new" ? "idle" : "connecting");
  if (runMatch) {
    const runId = decodeURIComponent(runMatch[1]);
    document.title = `${runId} · apart`;
    teardown = runPage(view, runId);
    current = "";
  } else if (path === "/new") {
    document.title = "Start a run · apart";
    teardown = startPage(view);
    current = "new";
  } else {
    document.title = "Runs · apart";
    teardown = runsPage(view, query);
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function setUpToken() {
  const panel = document.getElementById("token-panel");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const reason = document.getElementById("token-reason");
  const button = document.getElementById("token-button");
  const forget = document.getElementById("token-forget");
  const sync = () => {
    button.hidden = !getToken();
    forget.hidden = !getToken();
  };
  const show = (why) => {
    reason.textContent = why || "";
    panel.hidden = false;
    input.focus();
  };
  const use = (token) => {
    setToken(token);
    input.value = "";
    panel.hidden = true;
    sync();
    route();
  };
  window.addEventListener("apart:unauthorized", (event) => {
    const why = event.detail && getToken() ? `The token given was refused: ${event.detail}` : event.detail;
    if (panel.hidden) show(why);
    else if (why) reason.textContent = why;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    use(input.value.trim());
  });
  forget.addEventListener("click", () => use(""));
  button.addEventListener("click", () => (panel.hidden ? show("") : (panel.hidden = true)));
  sync();
}

setUpToken();
window.addEventListener("hashchange", route);
route();
