// The chat replay beside a recording: the broadcast's messages appear as playback reaches
// the moment they were sent. Fetched a minute at a time from /api/v1/recordings/<id>/chat/.
// The moment on screen is the frame's wall-clock time (the VOD playlist's program date-time,
// through hls.js), so a stretch lost to a transcoder restart does not shift the chat.
const panel = document.getElementById("replay");
const video = document.getElementById("player");

if (panel && video) {
  const list = panel.querySelector(".chat-messages");
  const empty = panel.querySelector(".replay-empty");
  const url = panel.dataset.chatUrl;
  const startedAt = Date.parse(panel.dataset.startedAt);
  const WINDOW = 60; // seconds per request
  const SHOWN = 150; // messages kept on screen
  const chunks = new Map(); // window start -> Promise<messages>
  let shownUpTo = -1; // offset of the last message on screen
  let lastTime = 0;

  function chunk(start) {
    if (!chunks.has(start)) {
      const query = new URLSearchParams({ from_offset: start, to_offset: start + WINDOW });
      chunks.set(
        start,
        fetch(`${url}?${query}`, { credentials: "same-origin" })
          .then((response) => (response.ok ? response.json() : { messages: [] }))
          .then((body) => body.messages)
          .catch(() => {
            chunks.delete(start); // try again on the next tick
            return [];
          }),
      );
    }
    return chunks.get(start);
  }

  function line(message) {
    const item = document.createElement("li");
    item.dataset.offset = String(message.offset);
    const who = document.createElement("strong");
    who.textContent = message.user.name || message.user.username;
    item.append(who, document.createTextNode(` ${message.content}`)); // text, never HTML
    return item;
  }

  async function render(time, reset) {
    if (reset) {
      list.replaceChildren();
      shownUpTo = Math.max(-1, time - WINDOW);
    }
    const first = Math.floor(Math.max(0, shownUpTo) / WINDOW) * WINDOW;
    const last = Math.floor(time / WINDOW) * WINDOW;
    for (let start = first; start <= last; start += WINDOW) {
      const messages = await chunk(start);
      for (const message of messages) {
        if (message.offset > shownUpTo && message.offset <= time) list.append(line(message));
      }
    }
    shownUpTo = Math.max(shownUpTo, time);
    while (list.children.length > SHOWN) list.firstChild.remove();
    empty.hidden = list.children.length > 0;
    list.scrollTop = list.scrollHeight;
    chunk(last + WINDOW); // the next minute, ahead of time
  }

  let busy = false;
  function offsetNow() {
    const date = window.socialflowPlayer && window.socialflowPlayer.playingDate;
    return date ? Math.max(0, (date.getTime() - startedAt) / 1000) : video.currentTime;
  }

  function tick() {
    if (busy) return;
    const time = offsetNow();
    // A seek (back, or ahead by more than a few seconds) redraws up to the new time.
    const jumped = time < lastTime - 0.5 || time > lastTime + 5;
    lastTime = time;
    busy = true;
    render(time, jumped).finally(() => {
      busy = false;
    });
  }
  video.addEventListener("timeupdate", tick);
  video.addEventListener("seeked", tick);
  render(0, true);
}

// ?t=<seconds>: start there (the analytics page links each highlight to its moment).
const startAt = Number(new URLSearchParams(location.search).get("t"));
if (video && startAt > 0) {
  video.addEventListener(
    "loadedmetadata",
    () => {
      if (video.currentTime < 1) video.currentTime = startAt;
    },
    { once: true },
  );
}
