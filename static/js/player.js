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
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function withHlsJs() {
    const hls = new Hls({ liveSyncDurationCount: 3, manifestLoadingMaxRetry: 10, levelLoadingMaxRetry: 10 });
    hls.loadSource(url);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, (event, data) => {
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
  }

  function native() {
    video.src = url;
    quality.closest("label").hidden = true; // Safari picks the quality itself
    video.play().catch(() => {});
  }

  video.addEventListener("playing", () => say(""));
  whenReady().then(() => {
    if (window.Hls && Hls.isSupported()) withHlsJs();
    else if (video.canPlayType("application/vnd.apple.mpegurl")) native();
    else say("This browser cannot play HLS video.");
  });
})();
