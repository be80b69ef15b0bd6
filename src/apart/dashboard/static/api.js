// The REST API of this server (/api/v1), with the bearer token when one is needed.
//
// Errors are ApiError with the API's own sentence ({"detail": ...}) as message.
// A 401 also fires the "apart:unauthorized" window event: the page then asks
// for the token, which lives in sessionStorage (this tab only).

const TOKEN_KEY = "apart.token";

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lasts until the page is reloaded
  }
}

/** Headers with Authorization when a token is set. */
export function authHeaders(headers = {}) {
  const token = getToken();
  return token ? { ...headers, Authorization: `Bearer ${token}` } : { ...headers };
}

export function notifyUnauthorized(detail) {
  window.dispatchEvent(new CustomEvent("apart:unauthorized", { detail: detail || "" }));
}

function describe(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (status === 0) return "the server did not answer";
  return `the server answered HTTP ${status}`;
}

/** One request; resolves with the JSON answer, rejects with an ApiError. */
export async function request(method, path, { query = null, body = undefined } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = authHeaders({ Accept: "application/json" });
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `cannot reach the apart server at ${window.location.origin} ` +
      `(${err.message}); is \`apart server\` running?`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401) notifyUnauthorized(data && data.detail);
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data), data);
  return data;
}

const run = (id) => `/api/v1/runs/${encodeURIComponent(id)}`;

export const api = {
  runs: (status, cursor, limit = 50) =>
    request("GET", "/api/v1/runs", { query: { status, cursor, limit } }),
  run: (id) => request("GET", run(id)),
  steps: (id, from = null) => request("GET", `${run(id)}/steps`, { query: { from } }),
  start: (body) => request("POST", "/api/v1/runs", { body }),
  pause: (id, force = false) =>
    request("POST", `${run(id)}/pause`, { query: { force: force ? "true" : "false" } }),
  resume: (id) => request("POST", `${run(id)}/resume`),
  stop: (id) => request("POST", `${run(id)}/stop`),
};
