// The player embed (/embed/<username>/): the page's stream socket without a chat panel.
// It counts this viewer (the streamer's analytics see the site that frames the player), and
// ladder.js and playback.js listen to it as on the watch page. This module connects it, shows
// the viewer count, and says when the broadcast ends. The video itself is player.js's.
import { pageSocket } from "./stream-socket.js";

const socket = pageSocket();
if (socket) {
  const frames = socket.frames;
  const count = document.getElementById("viewer-count");
  const status = document.getElementById("player-status");
  socket.addEventListener(frames.viewers, (event) => {
    if (count) count.textContent = String(event.detail.count);
  });
  socket.addEventListener(frames.stream_status, (event) => {
    if (event.detail.status === "live" || !status) return;
    status.textContent = "The broadcast has ended.";
    status.hidden = false;
  });
  socket.connect();
}
