// The chat panel (watch page, pop-out window, OBS overlay): live messages over the stream
// socket, sending, moderation, the viewer count.
// Message text reaches the page only as text nodes and textContent, never as HTML.
(function () {
  const panel = document.getElementById("chat-panel");
  if (!panel) return;
  const streamId = panel.dataset.stream;
  const streamer = (panel.dataset.streamer || "").toLowerCase();
  const viewer = (panel.dataset.viewer || "").toLowerCase();
  const overlay = panel.dataset.overlay === "true";
  const canModerate = panel.dataset.canModerate === "true" && !overlay;
  const list = panel.querySelector(".chat-messages");
  const more = panel.querySelector(".chat-more");
  const pinned = panel.querySelector(".chat-pinned");
  const form = panel.querySelector("form");
  const input = form && form.querySelector("textarea");
  const counter = panel.querySelector(".chat-counter");
  const notice = panel.querySelector(".chat-notice");
  const viewerCount = document.getElementById("viewer-count");
  const max = 500;
  const keep = 300; // messages kept on screen
  const fadeAfter = 30000; // overlay: how long a message stays up
  let socket = null;
  let lastId = 0;
  let retry = 0;
  let heartbeat = null;

  function say(text, kind) {
    if (!notice) return; // the overlay shows no notices
    notice.textContent = text || "";
    notice.className = "chat-notice" + (kind ? " " + kind : "");
    notice.hidden = !text;
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      say("Not connected to the chat; try again in a moment.", "error");
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  // --- Auto-scroll: follow new messages unless the reader has scrolled up ---------------

  let stickToBottom = true;

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
    stickToBottom = true;
    if (more) more.hidden = true;
  }

  list.addEventListener("scroll", () => {
    stickToBottom = nearBottom();
    if (stickToBottom && more) more.hidden = true;
  });
  if (more) more.addEventListener("click", scrollDown);
  // The list shrinks when a notice or a pinned message shows up: keep the newest in view.
  if (window.ResizeObserver) new ResizeObserver(() => stickToBottom && scrollDown()).observe(list);

  function shown(item) {
    while (list.children.length > keep) list.removeChild(list.firstChild);
    if (stickToBottom) scrollDown();
    else if (more) more.hidden = false;
    if (overlay) {
      setTimeout(() => {
        item.classList.add("faded");
        setTimeout(() => item.remove(), 1000);
      }, fadeAfter);
    }
  }

  // --- Message text: @mentions and http(s) links, built as DOM nodes --------------------

  const tokens = /https?:\/\/[^\s<>"]+|@\w{1,30}/gi;
  const trailing = /[.,!?;:'")\]]+$/; // "see https://example.com." links without the dot

  function link(raw) {
    const text = raw.replace(trailing, "");
    let url;
    try {
      url = new URL(text);
    } catch (error) {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    const a = document.createElement("a");
    a.href = url.href;
    a.textContent = text;
    a.rel = "nofollow noopener noreferrer ugc";
    a.target = "_blank";
    return { node: a, length: text.length };
  }

  function mention(content, token, start) {
    // Not inside a word or an e-mail address, and the whole name (usernames are \w+).
    if (start > 0 && /[\w@]/.test(content[start - 1])) return null;
    if (/\w/.test(content.charAt(start + token.length))) return null;
    const span = document.createElement("span");
    span.className = "mention";
    span.textContent = token;
    const name = token.slice(1).toLowerCase();
    if (name === viewer) span.classList.add("mention-me");
    return { node: span, length: token.length, name };
  }

  // The nodes of a message's text, and the (lowercase) usernames it mentions.
  function render(content) {
    const nodes = [];
    const mentioned = new Set();
    let done = 0;
    for (const match of content.matchAll(tokens)) {
      const start = match.index;
      if (start < done) continue;
      const found = match[0][0] === "@" ? mention(content, match[0], start) : link(match[0]);
      if (!found) continue;
      if (start > done) nodes.push(document.createTextNode(content.slice(done, start)));
      nodes.push(found.node);
      if (found.name) mentioned.add(found.name);
      done = start + found.length;
    }
    if (done < content.length) nodes.push(document.createTextNode(content.slice(done)));
    return { nodes, mentioned };
  }

  function author(message) {
    const who = document.createElement("strong");
    who.textContent = message.user.display_name || message.user.username;
    who.title = "@" + message.user.username;
    return who;
  }

  // --- Messages -------------------------------------------------------------------------

  function add(message, fromHistory) {
    if (message.id <= lastId) return; // already shown (history and backfill overlap)
    lastId = message.id;
    if (overlay && fromHistory && Date.now() - Date.parse(message.created_at) > fadeAfter) return;
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    item.dataset.user = message.user.username;
    const { nodes, mentioned } = render(message.content);
    const text = document.createElement("span");
    text.className = "chat-text";
    text.append(" ", ...nodes);
    item.append(author(message), text);
    if (streamer && mentioned.has(streamer)) item.classList.add("mentions-streamer");
    if (viewer && mentioned.has(viewer)) item.classList.add("mentions-me");
    if (canModerate) {
      item.tabIndex = 0; // focusing a message shows its menu, as hovering does
      item.append(moderationMenu(message));
    }
    list.appendChild(item);
    shown(item);
  }

  function system(text) {
    const item = document.createElement("li");
    item.className = "chat-system";
    item.textContent = text;
    list.appendChild(item);
    shown(item);
  }

  function removeMessage(id) {
    const item = list.querySelector(`li[data-id="${Number(id)}"]`);
    if (item) item.remove();
    if (pinned && pinned.dataset.id === String(id)) pinned.hidden = true;
  }

  function cleared(upTo) {
    for (const item of Array.from(list.children)) {
      if (!item.dataset.id || Number(item.dataset.id) <= upTo) item.remove();
    }
    if (pinned && Number(pinned.dataset.id) <= upTo) pinned.hidden = true;
    lastId = Math.max(lastId, upTo);
    system("Chat was cleared by a moderator");
  }

  function pin(message) {
    if (!pinned) return;
    pinned.replaceChildren();
    const label = document.createElement("span");
    label.className = "chat-pinned-label";
    label.textContent = "Pinned";
    const text = document.createElement("span");
    text.append(" ", ...render(message.content).nodes);
    pinned.append(label, " ", author(message), text);
    pinned.dataset.id = String(message.id);
    pinned.hidden = false;
  }

  // After a reconnect: what was deleted (or cleared) meanwhile is missing from the history.
  function reconcile(messages) {
    const ids = new Set(messages.map((m) => m.id));
    const oldest = messages.length ? messages[0].id : 0;
    list.querySelectorAll("li[data-id]").forEach((item) => {
      const id = Number(item.dataset.id);
      if (id >= oldest && !ids.has(id)) item.remove();
    });
  }

  // --- Moderation (streamer and moderators) ---------------------------------------------

  function moderationMenu(message) {
    const name = message.user.username;
    const menu = document.createElement("span");
    menu.className = "chat-mod";
    menu.setAttribute("role", "group");
    menu.setAttribute("aria-label", "Moderate @" + name);
    const actions = [
      ["Delete", { type: "chat.delete", id: message.id }],
      ["Pin", { type: "chat.pin", id: message.id }],
    ];
    // The server refuses to time out the streamer or yourself; don't offer it.
    if (name.toLowerCase() !== streamer && name.toLowerCase() !== viewer) {
      actions.push(
        ["Timeout 10 min", { type: "chat.timeout", username: name, seconds: 600 }, `@${name} is timed out for 10 minutes.`],
        ["Ban", { type: "chat.ban", username: name }, `@${name} is banned from this chat.`, `Ban @${name} from this chat?`],
      );
    }
    for (const [label, frame, done, question] of actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.action = frame.type;
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        if (question && !window.confirm(question)) return;
        if (send(frame) && done) say(done, "info"); // an error frame replaces it if refused
      });
      menu.append(button);
    }
    return menu;
  }

  const clear = panel.querySelector("[data-chat-clear]");
  if (clear && canModerate) {
    clear.addEventListener("click", () => {
      if (window.confirm("Clear the chat for everyone?")) send({ type: "chat.clear" });
    });
  }

  // Chat modes, said in words (on joining only when one is on).
  function modes(m, joining) {
    const on = [];
    if (m.slow_mode_seconds) on.push(`slow mode (one message every ${m.slow_mode_seconds} s)`);
    if (m.followers_only) on.push(m.follow_min_minutes ? `followers of ${m.follow_min_minutes} min or more only` : "followers only");
    if (m.emote_only) on.push("emoji only");
    if (on.length) say("Chat: " + on.join(", ") + ".", "info");
    else if (!joining) say("Chat modes are off.", "info");
  }

  // --- The socket -----------------------------------------------------------------------

  async function backfill() {
    if (!lastId) return;
    const response = await fetch(`/api/v1/streams/${streamId}/chat/?after=${lastId}`, { credentials: "same-origin" });
    if (response.ok) (await response.json()).forEach((message) => add(message, true));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The overlay is not a viewer: it does not count in the viewer count.
    socket = new WebSocket(`${scheme}://${location.host}/ws/streams/${streamId}/${overlay ? "?overlay=1" : ""}`);
    socket.addEventListener("open", () => {
      retry = 0;
      say("");
      heartbeat = setInterval(() => socket.send(JSON.stringify({ type: "heartbeat" })), 20000);
    });
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "chat.history") {
        const missed = lastId > 0;
        if (missed) reconcile(frame.messages);
        frame.messages.forEach((message) => add(message, true));
        if (frame.pinned) pin(frame.pinned);
        if (frame.modes) modes(frame.modes, true);
        if (missed) backfill();
      } else if (frame.type === "chat.message") add(frame, false);
      else if (frame.type === "chat.deleted") removeMessage(frame.id);
      else if (frame.type === "chat.cleared") cleared(Number(frame.up_to) || lastId);
      else if (frame.type === "chat.pinned") pin(frame.message);
      else if (frame.type === "chat.mode") modes(frame, false);
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
    button.addEventListener("click", () => send({ type: "reaction.send", reaction: button.dataset.reaction }));
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

  // The pop-out: a small window of its own (a new tab if popups are blocked).
  const popout = panel.querySelector("[data-popout]");
  if (popout) {
    popout.addEventListener("click", (event) => {
      const opened = window.open(popout.href, `chat-${streamId}`, "popup,width=400,height=700");
      if (opened) event.preventDefault();
    });
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
      say(""); // a refusal (slow mode, timeout, rate limit) comes back as an error frame
      socket.send(JSON.stringify({ type: "chat.send", content }));
      input.value = "";
      counter.textContent = `0/${max}`;
      scrollDown();
    });
  }
  connect();
})();
