// Playback quality for the streamer's analytics: every REPORT_SECONDS the watch page's
// player sends `playback.report` on the page's stream socket, with what happened since the
// last one: time played and stalled, the rung played most, frames dropped, and the start-up
// time (loading to the first frame). Stalls while starting and seeks do not count as
// rebuffering. A report that could not be sent is carried into the next one.
import { pageSocket } from "./stream-socket.js";

const video = document.getElementById("player");
const socket = pageSocket();
const RUNG = /^(source|auto|\d{3,4}p\d{0,2})$/;
const MAX_MS = 600000; // the server's bound per report
const MAX_DROPPED = 1000000;

if (video && socket) {
  const REPORT_SECONDS = Number(video.dataset.reportSeconds) || 30;
  const loadStart = window.socialflowPlaybackStart || performance.now();
  let startup = null; // ms, once the first frame played
  let played = 0; // ms since the last report
  let stalled = 0;
  let stalledSince = null;
  let lastTick = null; // while playing: when `played` was last brought up to date
  let perRung = new Map();
  let droppedBase = dropped();

  function dropped() {
    const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return quality ? quality.droppedVideoFrames : 0;
  }

  function rung() {
    const name = window.socialflowRung ? window.socialflowRung() : "auto";
    return RUNG.test(name) ? name : "auto";
  }

  function tick() {
    const now = performance.now();
    if (lastTick !== null && !video.paused) {
      const elapsed = now - lastTick;
      if (elapsed > 0 && elapsed < 5000) {
        played += elapsed;
        const name = rung();
        perRung.set(name, (perRung.get(name) || 0) + elapsed);
      }
    }
    lastTick = video.paused ? null : now;
  }

  video.addEventListener("playing", () => {
    const now = performance.now();
    if (startup === null) startup = now - loadStart;
    if (stalledSince !== null) stalled += now - stalledSince;
    stalledSince = null;
    lastTick = now;
  });
  video.addEventListener("waiting", () => {
    tick();
    lastTick = null;
    if (startup !== null && !video.seeking) stalledSince = performance.now();
  });
  video.addEventListener("seeking", () => {
    // A stall until the seek counts; waiting for the seek itself is the viewer's choice.
    if (stalledSince !== null) stalled += performance.now() - stalledSince;
    stalledSince = null;
  });
  video.addEventListener("pause", () => {
    tick();
    lastTick = null;
  });
  video.addEventListener("timeupdate", tick);

  const bounded = (value, max) => Math.max(0, Math.min(max, Math.round(value)));

  function report() {
    tick();
    if (stalledSince !== null) {
      const now = performance.now();
      stalled += now - stalledSince;
      stalledSince = now;
    }
    // Not connected: carried into the next report (a refused send would alarm the chat).
    if (startup === null || played + stalled < 1 || !socket.connected) return;
    let top = "auto";
    let most = -1;
    for (const [name, ms] of perRung) {
      if (ms > most) [top, most] = [name, ms];
    }
    const droppedNow = dropped();
    socket.send({
      type: socket.frames.playback_report,
      startup_ms: bounded(startup, MAX_MS),
      rebuffer_ms: bounded(stalled, MAX_MS),
      played_ms: bounded(played, MAX_MS),
      rung: top,
      dropped_frames: bounded(droppedNow - droppedBase, MAX_DROPPED),
    });
    played = 0;
    stalled = 0;
    perRung = new Map();
    droppedBase = droppedNow;
  }

  setInterval(report, REPORT_SECONDS * 1000);
  window.addEventListener("pagehide", report);
}
