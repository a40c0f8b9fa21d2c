// The stream socket's transport: one WebSocket to /ws/streams/<id>/, reconnecting with
// backoff, beating to stay counted, catching up on missed chat, and telling listeners.
// No rendering here: chat.js and reactions.js listen to it.
//
// Imported (never loaded with a <script> tag of its own) by chat.js and reactions.js as
// "./stream-socket.js", so the page has one instance of this module and `pageSocket()`
// gives both the page's single StreamSocket. chat.js connects it once its listeners are on.
//
// Events (all CustomEvents):
//   "open"                   connected; detail: { reconnect } (true after a reconnect)
//   "close"                  the socket closed; detail: { code, retrying, delay }
//   "refused"                send() was called while closed; detail: the frame not sent
//   <frame type>             one per frame from the server ("chat.message", "viewers", ...),
//                            detail: the frame. After a reconnect the server sends
//                            "chat.history" again; chat messages missed between that history
//                            and now are fetched and dispatched as "chat.message" frames
//                            with `backfill: true`. Chat messages are dispatched once per id.
//
// What the server and the scripts must agree on (frame types, close codes, heartbeat, ...)
// comes from the server: {{ chat_config|json_script:"chat-config" }} after the chat panel.

export function chatConfig() {
  const script = document.getElementById("chat-config");
  return script ? JSON.parse(script.textContent) : null;
}

export class StreamSocket extends EventTarget {
  constructor({ stream, config, overlay = false, referrer = "" }) {
    super();
    this.referrer = referrer; // where the viewer came from (the page's server worked it out)
    this.stream = stream;
    this.config = config;
    this.frames = config.frames;
    this.overlay = overlay; // an OBS overlay is not a viewer: it does not count
    this.socket = null;
    this.lastId = 0; // the newest chat message dispatched
    this.retry = 0;
    this.opened = false;
    this.heartbeat = null;
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    if (this.socket) return; // connecting, connected, or waiting to reconnect
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = this.overlay ? "?overlay=1" : `?${new URLSearchParams({ vid: visitorId(), ref: this.referrer })}`;
    const socket = (this.socket = new WebSocket(`${scheme}://${location.host}/ws/streams/${this.stream}/${query}`));
    socket.addEventListener("open", () => {
      this.retry = 0;
      // Well inside the server's presence TTL, or this viewer drops out of the count.
      const beat = JSON.stringify({ type: this.frames.heartbeat });
      this.heartbeat = setInterval(() => this.connected && socket.send(beat), this.config.heartbeat_seconds * 1000);
      this.emit("open", { reconnect: this.opened });
      this.opened = true;
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      clearInterval(this.heartbeat);
      if (event.code === this.config.close.not_found) {
        this.emit("close", { code: event.code, retrying: false, delay: null });
        return; // no such broadcast (or not for this viewer): never reconnect; this.socket stays set
      }
      // try_again (the server cannot subscribe us right now) and any other close: back off.
      this.retry = Math.min(this.retry + 1, 6);
      const delay = 500 * 2 ** this.retry;
      this.emit("close", { code: event.code, retrying: true, delay });
      setTimeout(() => {
        this.socket = null;
        this.connect();
      }, delay); // the history sent on connect, and the backfill, fill the gap
    });
  }

  // Sends a frame; while not connected it is refused (false, and a "refused" event).
  send(frame) {
    if (!this.connected) {
      this.emit("refused", frame);
      return false;
    }
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  receive(frame) {
    const frames = this.frames;
    if (frame.type === frames.chat_message) {
      if (frame.id <= this.lastId) return; // already dispatched (backfill and live overlap)
      this.lastId = frame.id;
    } else if (frame.type === frames.chat_history) {
      const missed = this.lastId > 0; // a reconnect after messages were shown
      for (const message of frame.messages) this.lastId = Math.max(this.lastId, message.id);
      this.emit(frame.type, frame);
      if (missed) this.backfill();
      return;
    }
    this.emit(frame.type, frame);
  }

  // After a reconnect: what the socket's history and live frames may not have covered.
  async backfill() {
    let response;
    try {
      response = await fetch(`/api/v1/streams/${this.stream}/chat/?after=${this.lastId}`, { credentials: "same-origin" });
    } catch (error) {
      return; // offline again: the next reconnect tries again
    }
    if (!response.ok) return;
    for (const message of await response.json()) {
      this.receive({ type: this.frames.chat_message, ...message, backfill: true });
    }
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

// A random id for this browser, kept in localStorage: the streamer's analytics count a
// logged-out viewer with two tabs once among unique viewers (the server stores it hashed).
function visitorId() {
  try {
    let id = localStorage.getItem("socialflow.vid");
    if (!id) {
      id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      localStorage.setItem("socialflow.vid", id);
    }
    return id;
  } catch (error) {
    return ""; // storage blocked: this viewer counts once per socket
  }
}

// The page's one StreamSocket, for the chat panel on it, or for the player embed's
// #stream-socket (null without either). Created by the first caller, not connected: chat.js
// (embed.js on the player embed) connects it after adding its listeners. The OBS overlay
// and the chat embed are read-only: they do not count as viewers.
let page;
export function pageSocket() {
  if (page !== undefined) return page;
  const panel = document.getElementById("chat-panel") || document.getElementById("stream-socket");
  const config = chatConfig();
  const overlay = Boolean(panel) && (panel.dataset.overlay === "true" || panel.dataset.readonly === "true");
  page =
    panel && config
      ? new StreamSocket({ stream: panel.dataset.stream, config, overlay, referrer: panel.dataset.referrer || "" })
      : null;
  return page;
}
