// dorsi patient page: draws one uPlot chart per metric from the JSON the server embedded.
// Exposes window.dorsiCharts = {metric key: uPlot instance} (the browser tests read its data).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const charts = {};
  window.dorsiCharts = charts;

  function markers(u) {
    const ctx = u.ctx;
    const top = u.bbox.top;
    const height = u.bbox.height;
    ctx.save();
    ctx.textAlign = "left";  // uPlot leaves the axes' alignment on the context
    ctx.textBaseline = "alphabetic";
    for (const m of data.milestones) {
      const x0 = u.valToPos(m.t0, "x", true);
      const x1 = u.valToPos(m.t1, "x", true);
      const left = Math.max(x0, u.bbox.left);
      const right = Math.min(x1, u.bbox.left + u.bbox.width);
      ctx.font = `${10 * devicePixelRatio}px sans-serif`;
      if (right > left) {
        ctx.fillStyle = "rgba(46, 160, 67, 0.10)";
        ctx.fillRect(left, top, right - left, height);
        ctx.fillStyle = "#1e7b34";
        ctx.fillText(m.short, left + 3 * devicePixelRatio, top + 26 * devicePixelRatio);
      }
    }
    ctx.font = `${11 * devicePixelRatio}px sans-serif`;
    for (const e of data.events) {
      const x = u.valToPos(e.t, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = "#c62828";
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillStyle = "#c62828";
      ctx.fillText(e.label, x + 4 * devicePixelRatio, top + 12 * devicePixelRatio);
    }
    ctx.restore();
  }

  // Pad flat series so a constant value gets a readable axis instead of a degenerate one.
  function yRange(u, min, max) {
    if (min == null || max == null) return [0, 1];
    const span = max - min;
    if (span < 1e-3 * Math.max(1, Math.abs(max))) {
      const pad = Math.max(Math.abs(max) * 0.1, 1);
      return [min >= 0 ? Math.max(0, min - pad) : min - pad, max + pad];
    }
    const [lo, hi] = uPlot.rangeNum(min, max, 0.1, true);
    return [min >= 0 ? Math.max(0, lo) : lo, hi];
  }

  function draw(el, chart) {
    const width = Math.max(300, el.clientWidth);
    const dec = chart.decimals;
    const fmt = (u, v) => (v == null ? "–" : v.toFixed(dec));
    const series = [{}, { label: "daily mean", stroke: "#1f5fa8", width: 1.5, value: fmt,
                          points: { show: data.x.length <= 120, size: 4 } }];
    const cols = [data.x, chart.mean];
    const bands = [];
    if (chart.p10) {
      series.push({ label: "p10", stroke: "rgba(31,95,168,0.25)", width: 1, value: fmt });
      series.push({ label: "p90", stroke: "rgba(31,95,168,0.25)", width: 1, value: fmt });
      cols.push(chart.p10, chart.p90);
      bands.push({ series: [3, 2], fill: "rgba(31,95,168,0.12)" });
    }
    if (chart.trend) {
      const n = cols.length;
      series.push({ label: "trend", stroke: "#e07b00", width: 2, dash: [6, 4], value: fmt });
      series.push({ label: "trend 95 % low", stroke: "rgba(224,123,0,0.3)", width: 1, value: fmt });
      series.push({ label: "trend 95 % high", stroke: "rgba(224,123,0,0.3)", width: 1, value: fmt });
      cols.push(chart.trend.fit, chart.trend.low, chart.trend.high);
      bands.push({ series: [n + 2, n + 1], fill: "rgba(224,123,0,0.12)" });
    }
    const opts = {
      width: width,
      height: 200,
      series: series,
      bands: bands,
      legend: { show: true, live: true },
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [{ stroke: "#555" }, { stroke: "#555", size: 60 }],
      hooks: { draw: [markers] },
    };
    return new uPlot(opts, cols, el);
  }

  for (const chart of data.charts) {
    const el = document.getElementById("chart-" + chart.key);
    if (el) charts[chart.key] = draw(el, chart);
  }
  window.addEventListener("resize", () => {
    for (const key in charts) {
      const el = document.getElementById("chart-" + key);
      charts[key].setSize({ width: Math.max(300, el.clientWidth), height: 200 });
    }
  });
  document.body.dataset.chartsReady = "1";
})();
