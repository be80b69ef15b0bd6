// Server-Sent Events read with fetch(), so that the Authorization header is sent
// (the browser's EventSource cannot send headers).
//
// new EventStream(path, {lastEventId, onEvent, onState}).start() reads the
// stream, calls onEvent(envelope, sseId) for every event, and reconnects after
// the server's `retry:` delay with Last-Event-ID, so nothing is missed or seen
// twice. onState("live") when connected, onState("down") when not: the page
// then polls until the stream is back. close() ends it for good.

import { authHeaders, notifyUnauthorized } from "./api.js";

const DEFAULT_RETRY_MS = 2000;
const MAX_RETRY_MS = 15000;

export class EventStream {
  constructor(path, { lastEventId = "", onEvent = () => {}, onState = () => {} } = {}) {
    this.path = path;
    this.lastEventId = lastEventId ? String(lastEventId) : "";
    this.onEvent = onEvent;
    this.onState = onState;
    this.retry = DEFAULT_RETRY_MS;
    this.failures = 0;
    this.closed = false;
    this.controller = null;
  }

  start() {
    this.loop();
    return this;
  }

  close() {
    this.closed = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.closed) {
      try {
        await this.connect();
      } catch (err) {
        if (this.closed) return;
        this.failures += 1;
      }
      if (this.closed) return;
      this.onState("down");
      const backoff = Math.min(MAX_RETRY_MS, this.retry * Math.max(1, this.failures));
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }

  async connect() {
    this.controller = new AbortController();
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    const response = await fetch(this.path, {
      headers, cache: "no-store", signal: this.controller.signal,
    });
    if (response.status === 401) {
      const body = await response.json().catch(() => null);
      notifyUnauthorized(body && body.detail);
      throw new Error("unauthorized");
    }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    this.failures = 0;
    this.onState("live");
    await this.read(response.body);
  }

  /** Read `text/event-stream` until the response ends. */
  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let pending = { id: null, type: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const raw of lines) {
        const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
        if (line === "") {
          this.dispatch(pending);
          pending = { id: null, type: "message", data: [] };
        } else {
          this.field(pending, line);
        }
      }
    }
  }

  field(pending, line) {
    if (line.startsWith(":")) return; // a comment: the server's keep-alive ping
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "id") pending.id = value;
    else if (name === "event") pending.type = value;
    else if (name === "data") pending.data.push(value);
    else if (name === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  dispatch(pending) {
    if (pending.id !== null) this.lastEventId = pending.id;
    if (pending.data.length === 0) return;
    let envelope;
    try {
      envelope = JSON.parse(pending.data.join("\n"));
    } catch {
      return; // not an event envelope
    }
    try {
      this.onEvent(envelope, pending.id);
    } catch (err) {
      console.error("apart: handling an event failed", err);
    }
  }
}
