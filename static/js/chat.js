// The chat panel (watch page, pop-out window, OBS overlay): live messages, sending,
// moderation, the viewer count. An ES module (<script type="module">, no build step).
//
// chat.js is the page's entry for the stream socket: it takes the page's single StreamSocket
// from stream-socket.js (`pageSocket()`, shared with reactions.js), adds its listeners and
// connects it. The transport (reconnect, heartbeat, backfill) is stream-socket.js's; this file
// only renders what the socket's events carry.
//
// Limits, frame types and close codes come from the server (the "chat-config" json_script
// after the panel), never copied here.
// Message text reaches the page only as text nodes and textContent, never as HTML.
import { pageSocket } from "./stream-socket.js";

const panel = document.getElementById("chat-panel");
const socket = pageSocket();
if (panel && socket) {
  mountChat(panel, socket, socket.config);
  socket.connect();
}

function mountChat(panel, socket, config) {
  const frames = config.frames;
  const max = config.max_length;
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
  const keep = 300; // messages kept on screen
  const fadeAfter = 30000; // overlay: how long a message stays up
  let lastId = 0;

  function say(text, kind) {
    if (!notice) return; // the overlay shows no notices
    notice.textContent = text || "";
    notice.className = "chat-notice" + (kind ? " " + kind : "");
    notice.hidden = !text;
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
      ["Delete", { type: frames.chat_delete, id: message.id }],
      ["Pin", { type: frames.chat_pin, id: message.id }],
    ];
    // The server refuses to time out the streamer or yourself; don't offer it.
    if (name.toLowerCase() !== streamer && name.toLowerCase() !== viewer) {
      actions.push(
        ["Timeout 10 min", { type: frames.chat_timeout, username: name, seconds: 600 }, `@${name} is timed out for 10 minutes.`],
        ["Ban", { type: frames.chat_ban, username: name }, `@${name} is banned from this chat.`, `Ban @${name} from this chat?`],
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
        if (socket.send(frame) && done) say(done, "info"); // an error frame replaces it if refused
      });
      menu.append(button);
    }
    return menu;
  }

  const clear = panel.querySelector("[data-chat-clear]");
  if (clear && canModerate) {
    clear.addEventListener("click", () => {
      if (window.confirm("Clear the chat for everyone?")) socket.send({ type: frames.chat_clear });
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

  // --- What the socket says -------------------------------------------------------------

  function on(type, handle) {
    socket.addEventListener(type, (event) => handle(event.detail));
  }

  on("open", () => say(""));
  on("close", ({ retrying }) => say(retrying ? "Reconnecting…" : "This chat is not available.", retrying ? "info" : "error"));
  on("refused", () => say("Not connected to the chat; try again in a moment.", "error"));
  // Sent on every connect; after a reconnect the socket then backfills what is still missing.
  on(frames.chat_history, (frame) => {
    if (lastId > 0) reconcile(frame.messages);
    frame.messages.forEach((message) => add(message, true));
    if (frame.pinned) pin(frame.pinned);
    if (frame.modes) modes(frame.modes, true);
  });
  on(frames.chat_message, (frame) => add(frame, Boolean(frame.backfill)));
  on(frames.chat_deleted, (frame) => removeMessage(frame.id));
  on(frames.chat_cleared, (frame) => cleared(Number(frame.up_to) || lastId));
  on(frames.chat_pinned, (frame) => pin(frame.message));
  on(frames.chat_mode, (frame) => modes(frame, false));
  on(frames.viewers, (frame) => {
    if (viewerCount) viewerCount.textContent = String(frame.count);
  });
  on(frames.stream_status, (frame) => {
    if (frame.status !== "live") say("The broadcast has ended.", "info");
  });
  on(frames.error, (frame) => say(frame.detail, "error"));

  // --- The pop-out: a small window of its own (a new tab if popups are blocked) ----------

  const popout = panel.querySelector("[data-popout]");
  if (popout) {
    popout.addEventListener("click", (event) => {
      const opened = window.open(popout.href, `chat-${streamId}`, "popup,width=400,height=700");
      if (opened) event.preventDefault();
    });
  }

  // --- Sending ----------------------------------------------------------------------------

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
      if (!content || !socket.connected) return;
      if (content.length > max) return say(`At most ${max} characters.`, "error");
      say(""); // a refusal (slow mode, timeout, rate limit) comes back as an error frame
      socket.send({ type: frames.chat_send, content });
      input.value = "";
      counter.textContent = `0/${max}`;
      scrollDown();
    });
  }
}
