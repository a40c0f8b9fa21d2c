// The chat panel: live messages over the stream socket, sending, the viewer count.
// Messages are always inserted as text (textContent), never as HTML.
(function () {
  const panel = document.getElementById("chat-panel");
  if (!panel) return;
  const streamId = panel.dataset.stream;
  const list = panel.querySelector(".chat-messages");
  const form = panel.querySelector("form");
  const input = form && form.querySelector("textarea");
  const counter = panel.querySelector(".chat-counter");
  const notice = panel.querySelector(".chat-notice");
  const viewerCount = document.getElementById("viewer-count");
  const max = 500;
  let socket = null;
  let lastId = 0;
  let retry = 0;
  let heartbeat = null;
  let stickToBottom = true;

  list.addEventListener("scroll", () => {
    stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  });

  function say(text, kind) {
    notice.textContent = text || "";
    notice.className = "chat-notice" + (kind ? " " + kind : "");
    notice.hidden = !text;
  }

  function add(message) {
    if (message.id <= lastId) return; // already shown (history and backfill overlap)
    lastId = message.id;
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    const who = document.createElement("strong");
    who.textContent = message.user.display_name || message.user.username;
    who.title = "@" + message.user.username;
    const text = document.createElement("span");
    text.textContent = " " + message.content;
    item.append(who, text);
    list.appendChild(item);
    while (list.children.length > 300) list.removeChild(list.firstChild);
    if (stickToBottom) list.scrollTop = list.scrollHeight;
  }

  async function backfill() {
    if (!lastId) return;
    const response = await fetch(`/api/v1/streams/${streamId}/chat/?after=${lastId}`, { credentials: "same-origin" });
    if (response.ok) (await response.json()).forEach(add);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/streams/${streamId}/`);
    socket.addEventListener("open", () => {
      retry = 0;
      say("");
      heartbeat = setInterval(() => socket.send(JSON.stringify({ type: "heartbeat" })), 20000);
    });
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "chat.history") {
        const missed = lastId > 0;
        frame.messages.forEach(add);
        if (missed) backfill();
      } else if (frame.type === "chat.message") add(frame);
      else if (frame.type === "viewers" && viewerCount) viewerCount.textContent = String(frame.count);
      else if (frame.type === "reaction") float(frame.reaction);
      else if (frame.type === "stream.status" && frame.status !== "live") say("The broadcast has ended.", "info");
      else if (frame.type === "error") say(frame.detail, "error");
    });
    socket.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      if (event.code === 4404) return say("This chat is not available.", "error");
      retry = Math.min(retry + 1, 6);
      say("Reconnecting…", "info");
      setTimeout(connect, 500 * 2 ** retry); // backoff; history + backfill fill the gap
    });
  }

  // Reactions float up over the player for a moment.
  const layer = document.getElementById("reaction-layer");
  const emoji = {};
  document.querySelectorAll("[data-reaction]").forEach((button) => {
    emoji[button.dataset.reaction] = button.textContent;
    button.addEventListener("click", () => {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "reaction.send", reaction: button.dataset.reaction }));
      }
    });
  });
  const fallback = { like: "👍", love: "❤️", fire: "🔥", clap: "👏", wow: "😮" };
  function float(kind) {
    if (!layer) return;
    const bubble = document.createElement("span");
    bubble.className = "reaction-bubble";
    bubble.textContent = emoji[kind] || fallback[kind] || "";
    bubble.style.left = `${10 + Math.random() * 80}%`;
    layer.appendChild(bubble);
    setTimeout(() => bubble.remove(), 2000);
  }

  if (form) {
    input.addEventListener("input", () => {
      counter.textContent = `${input.value.length}/${max}`;
      counter.classList.toggle("over", input.value.length > max);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const content = input.value.trim();
      if (!content || !socket || socket.readyState !== WebSocket.OPEN) return;
      if (content.length > max) return say(`At most ${max} characters.`, "error");
      socket.send(JSON.stringify({ type: "chat.send", content }));
      input.value = "";
      counter.textContent = `0/${max}`;
      stickToBottom = true;
    });
  }
  connect();
})();
