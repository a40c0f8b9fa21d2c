// The watch page player: hls.js where MediaSource exists, native HLS (Safari) otherwise.
(function () {
  const video = document.getElementById("player");
  if (!video) return;
  // When loading began, for the start-up time playback.js reports.
  window.socialflowPlaybackStart = performance.now();
  const url = video.dataset.hls;
  const status = document.getElementById("player-status");
  const quality = document.getElementById("quality");

  // Live latency, measured by bench/latency.py (docs/architecture.md, "Latency"). The player
  // plays one target duration (the newest segment must be whole before it plays; hls.js
  // never goes closer) plus this margin behind the live edge, for a segment, a refresh or a
  // download that comes late. hls.js adds a second per stall, up to one target duration.
  const LIVE_SYNC_MARGIN_SECONDS = 0.5;
  // Where it starts, before the first playlist says how long a segment is (catching up,
  // below, then closes the rest): 1.5 segments.
  const START_SYNC_SEGMENTS = 1.5;
  // Behind that point (a slow start, a stall), play up to this much faster to catch up, but
  // only while the viewer is at live: one who went back stays where they went.
  const CATCH_UP_RATE = 1.25;
  // A seek that lands this close to hls.js's live sync point counts as going back to live.
  const AT_LIVE_SYNC_SECONDS = 1;
  // A stall while starting (an empty buffer, the first segments fetched at once) says nothing
  // about the viewer's connection or the server: the second hls.js adds for it is taken back
  // once playback has run this long without another. A later stall keeps its second.
  const START_GRACE_SECONDS = 6;

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

  // hls.js refreshes a live playlist once per target duration, on a clock of its own: it
  // learns of a new segment on average half a segment after it appeared. Our servers cannot
  // hold a playlist request until the next segment exists (LL-HLS blocking reload), so this
  // loader does it in the browser. It marks the media playlists CAN-BLOCK-RELOAD, which makes
  // hls.js ask for the next one (`_HLS_msn`) as soon as it has one; it holds that request
  // until the next segment is due (a target duration after the last one appeared; the rungs
  // are published together), then asks the server every tenth of a segment until the segment
  // is there. A new segment is seen within ~0.1 s, for about two requests a segment, and the
  // URLs the server sees stay as they were. It gives up half a segment after the segment was
  // due, and waits for nothing once the broadcast has made nothing for three segments
  // (FFmpeg restarting, the publisher gone): hls.js then refreshes on its own clock.
  function blockingReloadLoader(Base) {
    const newest = new Map(); // playlist URL without its query -> its newest segment
    const targets = new Map(); // playlist URL without its query -> EXT-X-TARGETDURATION (ms)
    // When the last new segment was there: the start of the request that brought it, or, if
    // that was the first try (it may have been there for a while), a poll before it, so that
    // the next wait ends a little earlier, until the first try comes just before a segment.
    let arrivedAt = null;

    function lastSegment(text) {
      const lines = text.trim().split("\n");
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i].trim();
        if (line && !line.startsWith("#")) return line;
      }
      return "";
    }

    function canBlockReload(text) {
      if (!text.startsWith("#EXTM3U") || text.includes("#EXT-X-ENDLIST") || text.includes("CAN-BLOCK-RELOAD")) {
        return text;
      }
      if (text.includes("#EXT-X-SERVER-CONTROL:")) {
        return text.replace("#EXT-X-SERVER-CONTROL:", "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,");
      }
      return text.replace(/^#EXTM3U[^\n]*\n/, (head) => `${head}#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n`);
    }

    function withoutDirectives(address) {
      const url = new URL(address, location.href);
      const blocking = url.searchParams.has("_HLS_msn");
      url.searchParams.delete("_HLS_msn");
      url.searchParams.delete("_HLS_part");
      return { url: url.href, blocking };
    }

    return class BlockingReloadLoader {
      constructor(config) {
        this.config = config;
        this.inner = new Base(config);
        this.timer = 0;
        this.waitingContext = null;
      }

      get stats() {
        return this.inner.stats;
      }

      get context() {
        return this.waitingContext || this.inner.context;
      }

      load(context, loaderConfig, callbacks) {
        if (context.type !== "level" && context.type !== "audioTrack") {
          this.inner.load(context, loaderConfig, callbacks);
          return;
        }
        const key = context.url.split("?")[0];
        const { url, blocking } = withoutDirectives(context.url);
        const target = targets.get(key) || 2000;
        const poll = target / 10;
        const now = performance.now();
        let wait = 0;
        let giveUpAt = now; // one plain request: hls.js's own refresh, or nothing lately
        if (blocking && arrivedAt === null) {
          giveUpAt = now + target; // learn the rhythm: ask until the next segment shows
        } else if (blocking && now - arrivedAt < 3 * target) {
          const due = arrivedAt + target - poll;
          wait = Math.min(Math.max(0, due - now), target);
          giveUpAt = Math.max(now, due) + target / 2;
        }
        this.waitingContext = context;
        let tries = 0;
        const attempt = () => {
          const started = performance.now();
          tries += 1;
          this.inner.destroy();
          this.inner = new Base(this.config);
          this.inner.load({ ...context, url }, loaderConfig, {
            ...callbacks,
            onError: (...args) => {
              this.waitingContext = null;
              callbacks.onError(...args);
            },
            onTimeout: (...args) => {
              this.waitingContext = null;
              callbacks.onTimeout(...args);
            },
            onSuccess: (response, stats, ctx, details) => {
              const text = typeof response.data === "string" ? response.data : "";
              const segment = lastSegment(text);
              const seen = newest.get(key);
              if (segment === seen && !text.includes("#EXT-X-ENDLIST") && performance.now() < giveUpAt) {
                this.timer = setTimeout(attempt, poll);
                return;
              }
              if (seen !== undefined && segment !== seen) arrivedAt = tries > 1 ? started : started - poll;
              newest.set(key, segment);
              const match = /#EXT-X-TARGETDURATION:(\d+(?:\.\d+)?)/.exec(text);
              if (match) targets.set(key, parseFloat(match[1]) * 1000);
              this.waitingContext = null;
              callbacks.onSuccess({ ...response, data: canBlockReload(text) }, stats, context, details);
            },
          });
        };
        this.timer = setTimeout(attempt, wait);
      }

      abort() {
        clearTimeout(this.timer);
        this.waitingContext = null;
        this.inner.abort();
      }

      destroy() {
        clearTimeout(this.timer);
        this.waitingContext = null;
        this.inner.destroy();
      }

      getCacheAge() {
        return this.inner.getCacheAge ? this.inner.getCacheAge() : null;
      }

      getResponseHeader(name) {
        return this.inner.getResponseHeader ? this.inner.getResponseHeader(name) : null;
      }
    };
  }

  // Catching up to the live sync point is for viewers at live: a seek back that lands behind
  // it turns it off (hls.js would otherwise pull a viewer who went back a few seconds back to
  // live), a seek to it (the LIVE button) turns it on again. hls.js's own seeks go forward.
  function followLive(hls) {
    let playedTo = 0;
    function atLive(yes) {
      hls.config.maxLiveSyncPlaybackRate = yes ? CATCH_UP_RATE : 1;
      // hls.js leaves the rate as it is once catching up is off.
      if (!yes && video.playbackRate > 1 && video.playbackRate <= CATCH_UP_RATE) video.playbackRate = 1;
    }
    video.addEventListener("timeupdate", () => {
      if (!video.seeking) playedTo = video.currentTime;
    });
    video.addEventListener("seeking", () => {
      const sync = hls.liveSyncPosition;
      if (sync == null || video.currentTime >= sync - AT_LIVE_SYNC_SECONDS) atLive(true);
      else if (video.currentTime < playedTo) atLive(false);
    });
  }

  function withHlsJs() {
    const hls = new Hls({
      liveSyncDurationCount: START_SYNC_SEGMENTS,
      // Catching up and the blocking reload need hls.js's low-latency mode (without LL-HLS
      // parts it does nothing else).
      lowLatencyMode: true,
      maxLiveSyncPlaybackRate: CATCH_UP_RATE,
      pLoader: blockingReloadLoader(Hls.DefaultConfig.loader),
      manifestLoadingMaxRetry: 10,
      levelLoadingMaxRetry: 10,
      // The DVR playlist starts at the live edge too; behind it, stay where the viewer went.
      liveMaxLatencyDurationCount: Infinity,
    });
    followLive(hls);
    let target = null; // where the player means to sit behind the live edge (s)
    let startedAt = null; // when playback first ran (ms)
    let laterStall = false;
    video.addEventListener("playing", () => {
      if (startedAt === null) startedAt = performance.now();
    });
    hls.on(Hls.Events.ERROR, (event, data) => {
      const stalled = data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR;
      if (stalled && startedAt !== null && performance.now() - startedAt > START_GRACE_SECONDS * 1000) {
        laterStall = true;
      }
    });
    hls.on(Hls.Events.LEVEL_UPDATED, (event, data) => {
      if (!data.details.live) return;
      if (target === null) {
        target = data.details.targetduration + LIVE_SYNC_MARGIN_SECONDS;
        hls.targetLatency = target;
      } else if (
        !laterStall &&
        startedAt !== null &&
        performance.now() - startedAt > START_GRACE_SECONDS * 1000 &&
        hls.targetLatency > target
      ) {
        hls.targetLatency = target; // forgives the start-up stalls (and resets hls.js's count)
      }
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
    // The rung playing now, by name, for the playback reports (playback.js).
    window.socialflowRung = () => {
      const level = hls.levels[hls.currentLevel];
      return level ? levelName(level) : "auto";
    };
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
