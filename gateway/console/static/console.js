// The console's only script: live values over the API's SSE stream, and charts (uPlot) of
// the API's readings on the meter page. Everything else is rendered on the server.
(function () {
  "use strict";
  // times in the site's zone (the gateway's --utc-offset-min), whatever the browser's is
  var offsetMin = Number(document.body.dataset.offset || 0);
  function siteDate(t) { return new Date((t + offsetMin * 60) * 1000 + new Date().getTimezoneOffset() * 60000); }
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var src = new EventSource("/api/stream?kinds=live,status&meter=" + encodeURIComponent(live.dataset.meter));
    var put = function (id, v) { var el = document.getElementById(id); if (el && v !== undefined && v !== null) el.textContent = v; };
    src.addEventListener("live", function (e) {
      var d = JSON.parse(e.data).data || {};
      put("power", d.p); put("voltage", d.v); put("current", d.i); put("pf", d.pf); put("energy", d.wh);
      if (d.relay !== undefined) put("relay", d.relay ? "closed" : "open (supply cut)");
      if (d.t) put("live-t", new Date((d.t + offsetMin * 60) * 1000).toISOString().slice(11, 19));
      document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates || 0) + 1);
    });
    src.addEventListener("status", function (e) {
      var d = JSON.parse(e.data).data || {};
      if (d.online !== undefined) put("status", d.online ? "online" : "offline");
    });
  }

  var chart = document.getElementById("chart");
  if (!chart || !window.uPlot) return;
  var meter = encodeURIComponent(chart.dataset.meter);
  var scale = Math.pow(10, Number(chart.dataset.decimals || 2));
  var RANGES = {day: ["30min", 86400], month: ["day", 30 * 86400], year: ["month", 366 * 86400]};
  var plot = null;
  function width(el) { return Math.max(280, el.clientWidth || 600); }
  function draw(range) {
    var r = RANGES[range], to = Math.floor(Date.now() / 1000);
    fetch("/api/meters/" + meter + "/readings?agg=" + r[0] + "&from=" + (to - r[1]) + "&to=" + to)
      .then(function (res) { return res.json(); })
      .then(function (d) {
        var rows = d.rows || [];
        var data = [rows.map(function (x) { return x.t; }), rows.map(function (x) { return x.wh / 1000; }),
                    rows.map(function (x) { return x.cost / scale; })];
        if (plot) plot.destroy();
        plot = new uPlot({width: width(chart), height: 260, tzDate: siteDate, series: [{},
          {label: "kWh", stroke: "#1769aa", fill: "rgba(23,105,170,0.15)", paths: uPlot.paths.bars({size: [0.8]})},
          {label: "cost", stroke: "#b85c00", scale: "cost"}],
          axes: [{}, {label: "kWh"}, {label: "cost", scale: "cost", side: 1, grid: {show: false}}]}, data, chart);
        chart.dataset.points = String(rows.length);
      });
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-range]"), function (b) {
    b.addEventListener("click", function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-range]"), function (o) { o.setAttribute("aria-pressed", String(o === b)); });
      draw(b.dataset.range);
    });
  });
  draw("day");

  var cc = document.getElementById("credit-chart");
  if (cc) {
    var to = Math.floor(Date.now() / 1000);
    fetch("/api/meters/" + meter + "/readings?agg=raw&from=" + (to - 86400) + "&to=" + to)
      .then(function (res) { return res.json(); })
      .then(function (d) {
        var rows = d.rows || [];
        new uPlot({width: width(cc), height: 180, tzDate: siteDate, series: [{}, {label: "credit", stroke: "#2e7d32"}]},
                  [rows.map(function (x) { return x.t; }), rows.map(function (x) { return x.credit / scale; })], cc);
      });
  }
})();
