// The watch page player: hls.js where MediaSource exists, native HLS (Safari) otherwise.
(function () {
  const video = document.getElementById("player");
  if (!video) return;
  const url = video.dataset.hls;
  const status = document.getElementById("player-status");
  const quality = document.getElementById("quality");

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  // The transcoder needs a few seconds after OBS connects: wait for the first playlist.
  async function whenReady() {
    for (;;) {
      try {
        const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
        if (response.ok) return;
        if (response.status !== 404) say("The stream is unavailable.");
      } catch (error) {
        say("Reconnecting…");
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  // A level's rung name from its playlist URL: ".../720p/index.m3u8" or ".../dvr/720p.m3u8".
  function levelName(level) {
    const address = Array.isArray(level.url) ? level.url[0] : level.url;
    const match = /\/([^/]+?)(?:\/index)?\.m3u8(?:\?|$)/.exec(address || "");
    return match ? match[1] : "";
  }

  function withHlsJs() {
    const hls = new Hls({
      liveSyncDurationCount: 3,
      manifestLoadingMaxRetry: 10,
      levelLoadingMaxRetry: 10,
      // The DVR playlist starts at the live edge too; behind it, stay where the viewer went.
      liveMaxLatencyDurationCount: Infinity,
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, (event, data) => {
      // Read again after a ladder change: the menu lists what exists now.
      quality.querySelectorAll("option:not([value='-1'])").forEach((option) => option.remove());
      quality.value = "-1";
      data.levels
        .map((level, index) => ({ level, index }))
        .sort((a, b) => b.level.height - a.level.height)
        .forEach(({ level, index }) => {
          const option = document.createElement("option");
          option.value = String(index);
          option.textContent = `${level.height}p`;
          quality.appendChild(option);
        });
      quality.disabled = false;
      video.play().catch(() => {});
    });
    quality.addEventListener("change", () => {
      hls.currentLevel = parseInt(quality.value, 10); // -1: automatic
    });
    hls.on(Hls.Events.ERROR, (event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        say("Reconnecting…");
        setTimeout(() => hls.startLoad(), 2000);
      }
    });
    window.socialflowPlayer = hls;
    // The transcoder changed the ladder (capacity, the speed governor): the stream socket's
    // stream.ladder frame calls this (ladder.js) with the new rungs, and unless the player
    // has just those, the master playlist is read again, at the same distance from live.
    window.socialflowReloadLadder = (rungs) => {
      const have = hls.levels.map(levelName).sort().join(",");
      if (rungs && have === [...rungs].sort().join(",")) return;
      const seekable = video.seekable;
      const end = seekable.length ? seekable.end(seekable.length - 1) : 0;
      const behind = end ? end - video.currentTime : 0;
      hls.loadSource(url);
      if (behind > 4) {
        hls.once(Hls.Events.LEVEL_LOADED, () => {
          setTimeout(() => {
            const r = video.seekable;
            if (r.length) video.currentTime = Math.max(r.start(0), r.end(r.length - 1) - behind);
          }, 0);
        });
      }
    };
    if (video.dataset.dvr) dvrControls(hls);
  }

  // DVR: a seek bar over the rewind window, the time behind live, and a LIVE button that is
  // red at the live edge and grey behind it (a click jumps back to live).
  function dvrControls(hls) {
    const bar = document.getElementById("dvr-bar");
    const seek = document.getElementById("dvr-seek");
    const behindLabel = document.getElementById("dvr-behind");
    const live = document.getElementById("dvr-live");
    const AT_LIVE_SECONDS = 4;
    let dragging = false;

    function range() {
      const seekable = video.seekable;
      if (!seekable.length) return null;
      return { start: seekable.start(0), end: seekable.end(seekable.length - 1) };
    }
    function edge(r) {
      return hls.liveSyncPosition != null ? Math.min(hls.liveSyncPosition, r.end) : r.end;
    }
    function clock(seconds) {
      const s = Math.round(seconds);
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      const rest = String(s % 60).padStart(2, "0");
      return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
    }
    function update() {
      const r = range();
      if (!r) return;
      seek.disabled = false;
      const liveAt = edge(r);
      const behind = Math.max(0, liveAt - video.currentTime);
      seek.min = "0";
      seek.max = String(Math.max(0, liveAt - r.start));
      if (!dragging) seek.value = String(Math.max(0, video.currentTime - r.start));
      const atLive = behind < AT_LIVE_SECONDS;
      live.classList.toggle("behind", !atLive);
      live.setAttribute("aria-pressed", String(atLive));
      behindLabel.textContent = atLive ? "" : `−${clock(behind)} behind live`;
      bar.dataset.behind = behind.toFixed(1);
    }
    seek.addEventListener("input", () => { dragging = true; });
    seek.addEventListener("change", () => {
      const r = range();
      dragging = false;
      if (r) video.currentTime = r.start + parseFloat(seek.value);
    });
    live.addEventListener("click", () => {
      const r = range();
      if (r) video.currentTime = edge(r);
      video.play().catch(() => {});
    });
    video.addEventListener("timeupdate", update);
    hls.on(Hls.Events.LEVEL_UPDATED, update);
    setInterval(update, 1000);
  }

  function native() {
    video.src = url;
    quality.closest("label").hidden = true; // Safari picks the quality itself
    video.play().catch(() => {});
  }

  // The Clip button cuts what the viewer is watching: the frame's wall-clock time, as
  // seconds from the broadcast's start (the live edge when it cannot tell).
  const clipForm = document.querySelector(".clip-form");
  if (clipForm) {
    clipForm.addEventListener("submit", () => {
      const date = window.socialflowPlayer && window.socialflowPlayer.playingDate;
      const started = Date.parse(clipForm.dataset.startedAt);
      if (date && started) clipForm.elements.end_offset.value = ((date.getTime() - started) / 1000).toFixed(1);
    });
  }

  video.addEventListener("playing", () => say(""));
  whenReady().then(() => {
    if (window.Hls && Hls.isSupported()) withHlsJs();
    else if (video.canPlayType("application/vnd.apple.mpegurl")) native();
    else say("This browser cannot play HLS video.");
  });
})();
