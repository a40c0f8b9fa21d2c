// The watch page follows ladder changes live: when the transcoder adds or drops qualities
// (capacity freed, the speed governor shed work) the server sends a "stream.ladder" frame on
// the page's stream socket, and the player (player.js) reads the master playlist again, so
// its quality menu lists what exists.
import { pageSocket } from "./stream-socket.js";

const socket = pageSocket();
if (socket) {
  socket.addEventListener("stream.ladder", (event) => {
    if (window.socialflowReloadLadder) window.socialflowReloadLadder(event.detail.rungs);
  });
}
