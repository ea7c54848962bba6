// llmtrace UI behaviour: charts (uPlot), span selection, copy buttons, auto-submitting selects.
// No inline scripts anywhere: the pages are served with a strict Content-Security-Policy.
(function () {
  "use strict";
  var PALETTE = ["#4f46e5", "#0891b2", "#db2777", "#ca8a04", "#15803d", "#7c3aed", "#c2410c", "#64748b"];

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function fmt(unit, v) {
    if (v == null) return "—";
    if (unit === "usd") return "$" + (Math.abs(v) < 0.01 && v !== 0 ? v.toFixed(5) : v.toFixed(2));
    if (unit === "ms") return v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
    if (unit === "score") return v.toFixed(3);
    if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
    return v >= 10000 ? (v / 1000).toFixed(1) + "k" : String(Math.round(v));
  }

  function drawChart(fig) {
    if (fig.dataset.drawn || typeof uPlot === "undefined") return;
    var spec = JSON.parse(fig.querySelector("script[type='application/json']").textContent);
    var box = fig.querySelector(".chart-canvas");
    var axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 }, ticks: { stroke: css("--line") } };
    var opts = {
      width: Math.max(box.clientWidth, 300),
      height: 200,
      cursor: { points: { size: 6 } },
      scales: { x: { time: true } },
      axes: [axis, Object.assign({}, axis, { size: 74, values: function (u, vals) { return vals.map(function (v) { return fmt(spec.unit, v); }); } })],
      series: [{ label: "time (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }].concat(spec.series.map(function (s, i) {
        return { label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.6, spanGaps: false,
                 fill: spec.series.length === 1 ? PALETTE[0] + "22" : undefined,
                 value: function (u, v) { return fmt(spec.unit, v); } };
      })),
    };
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    fig.dataset.drawn = "1";
    var plot = new uPlot(opts, data, box);
    new ResizeObserver(function () { plot.setSize({ width: Math.max(box.clientWidth, 300), height: 200 }); }).observe(box);
  }

  function drawAll(root) { (root || document).querySelectorAll("[data-chart]").forEach(drawChart); }

  function selectSpan(id) {
    var panel = document.getElementById("span-" + id);
    if (!panel) return;
    document.querySelectorAll(".span-panel").forEach(function (p) { p.hidden = true; });
    document.querySelectorAll(".span-row").forEach(function (r) { r.classList.toggle("selected", r.dataset.span === id); });
    panel.hidden = false;
    if (location.hash !== "#" + id) history.replaceState(null, "", "#" + id);
  }

  document.addEventListener("click", function (e) {
    var row = e.target.closest(".span-row");
    if (row) { selectSpan(row.dataset.span); return; }
    var copy = e.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.dataset.copy).then(function () {
        var old = copy.textContent; copy.textContent = "copied"; setTimeout(function () { copy.textContent = old; }, 900);
      }, function () {});
    }
  });

  // Filter forms leave empty fields out of the URL, so a shared link shows only what was chosen.
  document.addEventListener("submit", function (e) {
    if (e.target.method !== "get") return;
    e.target.querySelectorAll("input, select").forEach(function (el) { if (!el.value) el.disabled = true; });
  });

  // Coming back to the page (back button) must not find those fields still disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[method=get] [disabled]").forEach(function (el) { el.disabled = false; });
  });

  document.addEventListener("keydown", function (e) {
    var row = e.target.closest && e.target.closest(".span-row[data-span]");
    if (row && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); selectSpan(row.dataset.span); }
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.requestSubmit();
    if (e.target.matches("select[data-rule-type]")) showParams(e.target.value);
  });

  function showParams(type) {
    document.querySelectorAll("[data-for-type]").forEach(function (el) {
      var on = el.dataset.forType.split(" ").indexOf(type) >= 0;
      el.hidden = !on;
      el.querySelectorAll("input, select").forEach(function (i) { i.disabled = !on; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll();
    var type = document.querySelector("select[data-rule-type]");
    if (type) showParams(type.value);
    var first = document.querySelector(".span-row");
    if (first) selectSpan(location.hash.slice(1) || first.dataset.span);
  });
  // After any htmx swap (an outerHTML swap replaces its own target): draw what is new.
  document.addEventListener("htmx:afterSettle", function () { drawAll(); });
})();
