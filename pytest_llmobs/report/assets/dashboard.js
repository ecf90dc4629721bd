(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("llmobs-data").textContent);
  var BLUE = "rgba(54,120,200,0.75)", GREY = "rgba(140,148,165,0.45)";
  var RED = "rgba(200,60,50,0.8)", AMBER = "rgba(220,150,20,0.8)", GREEN = "rgba(40,150,90,0.8)";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 11;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function done(id, points, empty) {
    var section = document.getElementById(id);
    section.dataset.points = String(points);
    if (!points) { section.appendChild(el("p", "empty", empty || "Nothing to show for this run.")); }
  }
  function chart(parent, caption, config, height) {
    var box = el("div");
    if (caption) { box.appendChild(el("div", "caption", caption)); }
    var holder = el("div", "chart");
    if (height) { holder.style.height = height + "px"; }
    var canvas = el("canvas");
    holder.appendChild(canvas);
    box.appendChild(holder);
    parent.appendChild(box);
    new Chart(canvas, config);
  }
  function fmt(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }

  document.getElementById("title").textContent = data.title;
  document.getElementById("title").className = "verdict-" + data.verdict;
  document.getElementById("meta").textContent = [data.created_at, data.git_commit && ("commit " + data.git_commit.slice(0, 12)), data.baseline].filter(Boolean).join(" · ");

  (function health() {
    var section = document.getElementById("health"), row = el("div", "tiles");
    data.health.forEach(function (t) {
      var tile = el("div", "tile " + t.status);
      tile.appendChild(el("div", "label", t.label));
      tile.appendChild(el("div", "value", t.text));
      tile.appendChild(el("div", "detail", t.detail + (t.status !== "none" ? " · SLO " + t.status : "")));
      row.appendChild(tile);
    });
    section.appendChild(row);
    done("health", data.health.length);
  })();

  (function alerts() {
    var section = document.getElementById("alerts");
    if (data.alerts.length) {
      var table = el("table"), head = el("tr");
      ["severity", "alert", "what"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      table.appendChild(head);
      data.alerts.forEach(function (a) {
        var tr = el("tr");
        tr.appendChild(el("td", "sev-" + a.severity, a.severity));
        tr.appendChild(el("td", null, a.type));
        tr.appendChild(el("td", null, a.message));
        table.appendChild(tr);
      });
      section.appendChild(table);
    }
    done("alerts", data.alerts.length, "No alert: no correlated change in this run.");
  })();

  (function comparison() {
    var section = document.getElementById("comparison"), rows = data.comparison;
    var kinds = [["latency (relative change)", true], ["other metrics (absolute change)", false]];
    var grid = el("div");
    kinds.forEach(function (kind) {
      var chosen = rows.filter(function (r) { return r.relative === kind[1]; });
      if (!chosen.length) { return; }
      chart(grid, kind[0], {
        type: "bar",
        data: {
          labels: chosen.map(function (r) { return r.series + " " + r.metric; }),
          datasets: [{
            label: "95% interval of the change",
            data: chosen.map(function (r) { return [r.ci_low, r.ci_high]; }),
            backgroundColor: chosen.map(function (r) {
              return r.verdict === "regression" ? RED : r.verdict === "improvement" ? GREEN : GREY;
            })
          }, {
            type: "line", label: "change", showLine: false, pointRadius: 3,
            data: chosen.map(function (r) { return r.change; }), borderColor: "#1d2330",
            backgroundColor: "#1d2330"
          }]
        },
        options: { indexAxis: "y", plugins: { legend: { display: false } } }
      }, 60 + 22 * chosen.length);
    });
    section.appendChild(grid);
    done("comparison", rows.length);
  })();

  function histograms(id, list) {
    var section = document.getElementById(id), grid = el("div", "charts");
    list.forEach(function (h) {
      var labels = h.current.map(function (_, i) { return fmt((h.edges[i] + h.edges[i + 1]) / 2, 2); });
      var sets = [{ label: "this run", data: h.current, backgroundColor: BLUE }];
      if (h.baseline.some(function (c) { return c > 0; })) {
        sets.push({ label: "baseline", data: h.baseline, backgroundColor: GREY });
      }
      chart(grid, h.series + " · " + h.metric, {
        type: "bar", data: { labels: labels, datasets: sets },
        options: { scales: { x: { stacked: false } }, barPercentage: 1.0, categoryPercentage: 0.95 }
      });
    });
    section.appendChild(grid);
    done(id, list.length);
  }
  histograms("latency_histograms", data.latency_histograms);
  histograms("quality_histograms", data.quality_histograms);
  histograms("output_histograms", data.output_histograms);

  (function cohorts() {
    var section = document.getElementById("cohorts"), c = data.cohorts;
    if (!c) { return done("cohorts", 0, "Configure group_by to split series by cohort."); }
    var all = [];
    c.rows.forEach(function (r) { Object.keys(r.cells).forEach(function (k) { all.push(r.cells[k]); }); });
    var low = Math.min.apply(null, all.concat([0])), high = Math.max.apply(null, all.concat([1]));
    var table = el("table"), head = el("tr");
    head.appendChild(el("th", null, "span · metric"));
    c.columns.forEach(function (col) { head.appendChild(el("th", null, col)); });
    table.appendChild(head);
    c.rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", null, r.label));
      c.columns.forEach(function (col) {
        var v = r.cells[col], td = el("td", "num", fmt(v, 3));
        if (v !== undefined) {
          var share = high > low ? (v - low) / (high - low) : 1;
          td.style.background = "rgba(" + Math.round(220 - 180 * share) + "," + Math.round(80 + 120 * share) + ",90,0.35)";
        }
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    section.appendChild(table);
    done("cohorts", c.rows.length);
  })();

  (function latencyBySeries() {
    var rows = data.latency_by_series, section = document.getElementById("latency_by_series");
    if (rows.length) {
      chart(section, null, {
        type: "bar",
        data: {
          labels: rows.map(function (r) { return r.series; }),
          datasets: ["p50", "p95", "p99"].map(function (p, i) {
            return { label: p, data: rows.map(function (r) { return r[p]; }),
                     backgroundColor: [BLUE, AMBER, RED][i] };
          })
        },
        options: { indexAxis: "y" }
      }, 80 + 30 * rows.length);
    }
    done("latency_by_series", rows.length);
  })();

  (function waterfalls() {
    var section = document.getElementById("waterfalls"), grid = el("div", "charts");
    section.appendChild(el("div", "caption", "Each bar is a span, from its start to its end; " +
      "amber: on the critical path, red: ended with an error, blue: neither."));
    data.waterfalls.forEach(function (w) {
      var caption = w.series + " · " + fmt(w.duration_ms, 1) + " ms · " + (w.test || "outside any test") + (w.request_id ? " · request " + w.request_id : "");
      chart(grid, caption, {
        type: "bar",
        data: {
          labels: w.spans.map(function (s) { return s.name; }),
          datasets: [{ label: "ms from the request's start", data: w.spans.map(function (s) { return [s.start, s.end]; }),
                       backgroundColor: w.spans.map(function (s) { return s.error ? RED : s.critical ? AMBER : BLUE; }) }]
        },
        options: { indexAxis: "y", plugins: { legend: { display: false } } }
      }, 60 + 24 * w.spans.length);
    });
    section.appendChild(grid);
    done("waterfalls", data.waterfalls.length);
  })();

  (function trends() {
    var section = document.getElementById("trends"), t = data.trends;
    if (!t) { return done("trends", 0, "No history: run with --llmobs-history=PATH to keep one."); }
    var labels = t.runs.map(function (r, i) {
      return "#" + (i + 1) + (r.git_commit ? " " + r.git_commit.slice(0, 7) : "");
    });
    var grid = el("div", "charts"), names = Object.keys(t.series);
    names.forEach(function (name) {
      var s = t.series[name];
      chart(grid, name + " · latency (ms)", { type: "line", data: { labels: labels, datasets: [
        { label: "p50", data: s.p50, borderColor: BLUE }, { label: "p95", data: s.p95, borderColor: AMBER },
        { label: "p99", data: s.p99, borderColor: RED }] } });
      var other = [{ label: "error rate", data: s.error_rate, borderColor: RED, yAxisID: "y" }];
      Object.keys(s.quality).forEach(function (q) {
        other.push({ label: q, data: s.quality[q], borderColor: GREEN, yAxisID: "y" });
      });
      other.push({ label: "spans", data: s.count, borderColor: GREY, yAxisID: "y1" });
      chart(grid, name + " · errors, quality, volume", { type: "line", data: { labels: labels, datasets: other },
        options: { scales: { y1: { position: "right", grid: { drawOnChartArea: false } } } } });
    });
    section.appendChild(grid);
    done("trends", t.runs.length);
  })();

  document.body.dataset.rendered = "true";
})();
