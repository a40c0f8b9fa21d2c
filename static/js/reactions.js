// Reactions on the watch page: the reaction buttons send one, and every reaction on the
// broadcast floats up over the player for a moment. An ES module (no build step).
//
// It listens to the page's single StreamSocket (`pageSocket()` from stream-socket.js, which
// chat.js connects); it does not connect it. The emoji come from the server's config
// (config.reactions, the "chat-config" json_script), never from a map of our own.
// Pages without a player or buttons (the pop-out, the OBS overlay) simply get nothing.
import { pageSocket } from "./stream-socket.js";

const socket = pageSocket();
if (socket) {
  const { frames, reactions } = socket.config;
  const layer = document.getElementById("reaction-layer");

  document.querySelectorAll("[data-reaction]").forEach((button) => {
    button.addEventListener("click", () => socket.send({ type: frames.reaction_send, reaction: button.dataset.reaction }));
  });

  // Frames come coalesced (at most 4 a second): `added` says how many of each kind the
  // last moment brought. A bubble each, up to MAX_BUBBLES a frame, spread over the moment.
  const MAX_BUBBLES = 12;
  const float = (emoji, delay) => {
    setTimeout(() => {
      const bubble = document.createElement("span");
      bubble.className = "reaction-bubble";
      bubble.textContent = emoji;
      bubble.style.left = `${10 + Math.random() * 80}%`;
      layer.appendChild(bubble);
      setTimeout(() => bubble.remove(), 2000);
    }, delay);
  };

  if (layer) {
    socket.addEventListener(frames.reaction, (event) => {
      const added = event.detail.added || { [event.detail.reaction]: 1 };
      const bubbles = Object.entries(added).flatMap(([kind, n]) =>
        reactions[kind] ? Array(Math.max(0, Math.min(n, MAX_BUBBLES))).fill(reactions[kind]) : [],
      );
      bubbles.slice(0, MAX_BUBBLES).forEach((emoji, i) => float(emoji, i * 20));
    });
  }
}
