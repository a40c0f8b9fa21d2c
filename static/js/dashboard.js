// Dashboard: reveal and copy the OBS settings. Works without this script too (select + copy).
document.addEventListener("click", (event) => {
  const reveal = event.target.closest("[data-reveal]");
  if (reveal) {
    const input = document.getElementById(reveal.dataset.reveal);
    const shown = input.type === "text";
    input.type = shown ? "password" : "text";
    reveal.textContent = shown ? "Show" : "Hide";
    reveal.setAttribute("aria-pressed", String(!shown));
    return;
  }
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const input = document.getElementById(copy.dataset.copy);
    const done = () => {
      const label = copy.textContent;
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done);
    } else {
      const type = input.type;
      input.type = "text";
      input.select();
      document.execCommand("copy");
      input.type = type;
      done();
    }
  }
});

// While a broadcast is live, the dashboard listens on its stream socket (as an overlay: not
// counted as a viewer). A stream.health frame (the streamer's only: "This server could not
// keep up with 1080p…") shows at once above the card; health, ladder and status frames
// refresh the card without waiting for its 3-s poll.
(function () {
  const card = document.getElementById("broadcast-status");
  const alertBox = document.getElementById("health-alert");
  if (!card || !window.WebSocket) return;
  const frames = JSON.parse(card.dataset.frames || "{}");
  const NOT_FOUND = 4404;
  let socket = null;
  let streamId = null;
  let retry = 0;

  // The live panel: the transcoder's reading every 5 s (stream.health with metrics) and
  // the viewer count.
  const panel = document.getElementById("live-panel");
  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = value;
  }
  const kbps = (value) => (value == null ? "–" : value >= 1000 ? `${(value / 1000).toFixed(1)} Mbit/s` : `${Math.round(value)} kbit/s`);
  function showReading(frame) {
    const m = frame.metrics;
    panel.hidden = false;
    text("live-ingest", kbps(m.ingest_kbps));
    text("live-output", kbps(m.bitrate_kbps));
    text("live-fps", m.fps == null ? "–" : `${m.fps.toFixed(0)}${m.source_fps ? ` of ${m.source_fps}` : ""}`);
    text("live-speed", m.speed == null ? "–" : `${m.speed.toFixed(2)}x`);
    const badge = document.getElementById("live-health");
    badge.textContent = { good: "Healthy", warning: "Warning", bad: "Falling behind" }[frame.status] || frame.status;
    badge.dataset.status = frame.status;
    const reason = document.getElementById("live-reason");
    reason.textContent = frame.reason || "";
    reason.hidden = !frame.reason;
  }

  function refresh() {
    if (window.htmx) window.htmx.trigger(card, "refresh");
  }

  function connect(id) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const current = (socket = new WebSocket(`${scheme}://${location.host}/ws/streams/${id}/?overlay=1`));
    current.addEventListener("open", () => { retry = 0; });
    current.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === frames.health && frame.metrics) {
        showReading(frame); // every 5 s: the live panel only
      } else if (frame.type === frames.health) {
        alertBox.textContent = frame.status === "good" ? "" : frame.reason;
        alertBox.hidden = frame.status === "good";
        alertBox.dataset.status = frame.status;
        refresh();
      } else if (frame.type === frames.viewers) {
        panel.hidden = false;
        text("live-viewers", String(frame.count));
      } else if (frame.type === frames.ladder || frame.type === frames.status) {
        refresh();
      }
    });
    current.addEventListener("close", (event) => {
      if (socket !== current) return; // replaced: another broadcast
      socket = null;
      if (event.code === NOT_FOUND || streamId !== id) return;
      retry = Math.min(retry + 1, 6);
      setTimeout(() => { if (streamId === id && !socket) connect(id); }, 500 * 2 ** retry);
    });
  }

  function follow() {
    const live = card.querySelector("[data-live-stream]");
    const id = live ? live.dataset.liveStream : null;
    if (id === streamId) return;
    streamId = id;
    if (socket) socket.close();
    socket = null;
    if (!id) {
      alertBox.hidden = true;
      panel.hidden = true;
      return;
    }
    connect(id);
  }

  follow();
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target === card) follow();
  });
})();
