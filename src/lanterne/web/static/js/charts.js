/* Lanterne web review: Chart.js charts from data attributes.
 *
 * <canvas data-chart='{"type": "bar", "labels": [...], "series": [{"label": ..., "data": [...]}]}'>
 * The JSON is written by the server (Jinja's tojson, HTML-safe); no inline script is needed.
 */
"use strict";

(() => {
  const PALETTE = ["#23527c", "#b22222", "#6b4fa0", "#2e7d32", "#c77700", "#5d6673", "#00838f"];

  function draw(canvas) {
    let spec;
    try {
      spec = JSON.parse(canvas.dataset.chart);
    } catch (_) {
      return;
    }
    if (typeof Chart === "undefined") {
      canvas.insertAdjacentText("afterend", "Charts are not available.");
      return;
    }
    const horizontal = spec.horizontal === true;
    const datasets = spec.series.map((series, i) => ({
      label: series.label,
      data: series.data,
      backgroundColor: spec.series.length > 1 ? PALETTE[i % PALETTE.length] : PALETTE[0],
      borderWidth: 0,
    }));
    const chart = new Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: {
          legend: { display: spec.series.length > 1 },
          title: { display: Boolean(spec.title), text: spec.title || "" },
        },
        scales: {
          x: { stacked: Boolean(spec.stacked), ticks: horizontal ? { precision: 0 } : {} },
          y: { stacked: Boolean(spec.stacked), ticks: horizontal ? {} : { precision: 0 } },
        },
      },
    });
    canvas.chart = chart;
    canvas.dataset.drawn = "1";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
