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

  if (layer) {
    socket.addEventListener(frames.reaction, (event) => {
      const emoji = reactions[event.detail.reaction];
      if (!emoji) return; // a kind this page does not know
      const bubble = document.createElement("span");
      bubble.className = "reaction-bubble";
      bubble.textContent = emoji;
      bubble.style.left = `${10 + Math.random() * 80}%`;
      layer.appendChild(bubble);
      setTimeout(() => bubble.remove(), 2000);
    });
  }
}
