// The broadcast analytics page's charts, drawn with uPlot (vendored, static/vendor/uplot)
// from the data the page embeds (#analytics-data: analytics.selectors.stream_analytics).
(function () {
  const source = document.getElementById("analytics-data");
  if (!source || !window.uPlot) return;
  const data = JSON.parse(source.textContent);

  const seconds = (iso) => Date.parse(iso) / 1000;
  const width = (el) => Math.max(320, el.clientWidth || 800);
  const WARN_COLOR = "#d97706";
  const BAD_COLOR = "#dc2626";

  function chart(id, series, rows, extra = {}) {
    const el = document.getElementById(id);
    if (!el) return null;
    if (!rows[0].length) {
      el.textContent = "No data yet.";
      el.classList.add("muted");
      return null;
    }
    const plot = new uPlot(
      {
        width: width(el),
        height: 220,
        series: [{}, ...series],
        axes: extra.axes || [{}, { size: 60 }],
        scales: extra.scales || {},
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      },
      rows,
      el,
    );
    window.addEventListener("resize", () => plot.setSize({ width: width(el), height: 220 }));
    return plot;
  }

  // Viewers (mean and peak per point) with chat messages per interval on a second axis.
  const points = data.series;
  chart(
    "chart-viewers",
    [
      { label: "Viewers", stroke: "#2563eb", width: 2, scale: "viewers" },
      { label: "Peak", stroke: "#93c5fd", scale: "viewers" },
      { label: "Chat messages", stroke: "#16a34a", scale: "chat", paths: uPlot.paths.bars({ size: [0.8, 40] }), fill: "#16a34a55" },
      { label: "Reactions", stroke: "#db2777", scale: "chat" },
    ],
    [
      points.map((p) => seconds(p.at)),
      points.map((p) => p.viewers),
      points.map((p) => p.viewers_peak),
      points.map((p) => p.chat_messages),
      points.map((p) => p.reactions),
    ],
    {
      scales: { viewers: { range: (u, min, max) => [0, Math.max(1, max)] }, chat: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { scale: "viewers", label: "viewers", size: 60 }, { scale: "chat", side: 1, label: "per interval", grid: { show: false }, size: 60 }],
    },
  );

  // Health: warnings (and bad readings) are marked as points on each chart.
  const health = data.health;
  const at = health.map((h) => seconds(h.at));
  const marked = (value) => health.map((h) => (h.status === "good" ? null : value(h)));
  const warningSeries = (label) => ({
    label,
    stroke: WARN_COLOR,
    width: 0,
    points: { show: true, size: 9, fill: WARN_COLOR, stroke: BAD_COLOR },
  });
  chart(
    "chart-bitrate",
    [
      { label: "Ingest kbit/s", stroke: "#7c3aed", width: 2 },
      { label: "Output kbit/s (ladder)", stroke: "#0891b2" },
      warningSeries("Warning"),
    ],
    [at, health.map((h) => h.ingest_kbps), health.map((h) => h.bitrate_kbps), marked((h) => h.ingest_kbps ?? h.bitrate_kbps)],
  );
  chart(
    "chart-fps",
    [
      { label: "fps", stroke: "#2563eb", width: 2 },
      { label: "Source fps", stroke: "#9ca3af", dash: [6, 4] },
      warningSeries("Warning"),
    ],
    [at, health.map((h) => h.fps), health.map((h) => h.source_fps), marked((h) => h.fps)],
  );
  chart(
    "chart-speed",
    [
      { label: "Speed (x real time)", stroke: "#16a34a", width: 2 },
      { label: "Real time", stroke: "#9ca3af", dash: [6, 4] },
      warningSeries("Warning"),
    ],
    [at, health.map((h) => h.speed), health.map(() => 1), marked((h) => h.speed)],
    { scales: { y: { range: (u, min, max) => [0, Math.max(1.5, max)] } } },
  );
})();
