/* The live dashboard (templates/analytics/dashboard.html).
 *
 * Server-sent events first: an EventSource on /analytics/stream/ receives an `kpis` event (id = the
 * data version) whenever the numbers change; the page then re-fetches its tiles (the _tiles.html
 * partial) and its charts (/analytics/charts/<name>/). When EventSource is missing or its connection
 * has been down for more than 3 s, the page polls the tiles every 2 s instead.
 *
 * What happened is written on <body> for people and tests: data-live ("sse" | "polling"),
 * data-sse-pushes (pushes that changed the page), data-polls (polling refreshes), data-live-version.
 */
(function () {
  "use strict";
  const root = document.getElementById("live-dashboard");
  if (!root) return;
  const cfg = root.dataset;
  const body = document.body;
  const state = document.getElementById("live-state");
  const drillLinks = JSON.parse(document.getElementById("chart-drill").textContent);
  let version = cfg.version;
  let sseOpen = false;
  let downSince = Date.now();
  let pushes = 0;
  let polls = 0;
  const charts = {};

  function show(mode, text) {
    body.dataset.live = mode;
    if (state) state.textContent = text;
  }

  const num = (xs) => xs.map(Number);
  const COLORS = {new: "#2f855a", expansion: "#68d391", contraction: "#f6ad55", churn: "#c53030", mrr: "#2b6cb0",
                  recognized: "#2b6cb0", billed: "#805ad5", collected: "#2f855a", amount: "#dd6b20",
                  contracted: "#2b6cb0", renewals: "#4299e1", pipeline: "#9f7aea", usage: "#ed8936",
                  total: "#1a202c", band: "rgba(113, 128, 150, 0.25)", actual: "#2f855a", target: "#a0aec0"};

  function config(name, d) {
    const s = d.series;
    const money = {title: {display: true, text: d.currency}};
    if (name === "mrr") {
      return {data: {labels: d.labels, datasets: [
        {type: "bar", label: "New + reactivation", data: num(s.new), stack: "m", backgroundColor: COLORS.new},
        {type: "bar", label: "Expansion", data: num(s.expansion), stack: "m", backgroundColor: COLORS.expansion},
        {type: "bar", label: "Contraction", data: num(s.contraction), stack: "m", backgroundColor: COLORS.contraction},
        {type: "bar", label: "Churn", data: num(s.churn), stack: "m", backgroundColor: COLORS.churn},
        {type: "line", label: "MRR", data: num(s.mrr), yAxisID: "mrr", borderColor: COLORS.mrr, tension: 0.2}]},
        options: {scales: {x: {stacked: true}, y: {stacked: true, title: {display: true, text: "movements"}},
                           mrr: {position: "right", title: {display: true, text: "MRR " + d.currency}}}}};
    }
    if (name === "flows") {
      return {type: "bar", data: {labels: d.labels, datasets: ["recognized", "billed", "collected"].map((k) => (
        {label: k[0].toUpperCase() + k.slice(1), data: num(s[k]), backgroundColor: COLORS[k]}))},
        options: {scales: {y: money}}};
    }
    if (name === "aging") {
      return {type: "bar", data: {labels: d.labels, datasets: [
        {label: "Open, " + d.currency, data: num(s.amount), backgroundColor: COLORS.amount}]},
        options: {scales: {y: money}, onClick: (evt, elements) => {
          if (elements.length) window.location = drillLinks.aging + "&bucket=" + encodeURIComponent(d.labels[elements[0].index]);
        }}};
    }
    if (name === "forecast") {
      return {data: {labels: d.labels, datasets: [
        // lines each in their own stack group: stacked bars, but the band and the total are not added up
        {type: "line", label: "80 % band low", data: num(s.low), stack: "low", borderColor: COLORS.band,
         pointRadius: 0, fill: false},
        {type: "line", label: "80 % band high", data: num(s.high), stack: "high", borderColor: COLORS.band,
         backgroundColor: COLORS.band, pointRadius: 0, fill: "-1"},
        {type: "line", label: "Total", data: num(s.total), stack: "total", borderColor: COLORS.total, tension: 0.2},
        ...["contracted", "renewals", "pipeline", "usage"].map((k) => (
          {type: "bar", label: k[0].toUpperCase() + k.slice(1), data: num(s[k]), stack: "f", backgroundColor: COLORS[k]}))]},
        options: {scales: {x: {stacked: true}, y: {stacked: true, ...money}}}};
    }
    return {type: "bar", data: {labels: d.labels, datasets: [
      {label: "Actual", data: num(s.actual), backgroundColor: COLORS.actual},
      {label: "Target", data: num(s.target), backgroundColor: COLORS.target}]}, options: {indexAxis: "y"}};
  }

  async function loadChart(canvas) {
    const name = canvas.dataset.chart;
    const response = await fetch(cfg.chartUrl.replace("NAME", name) + "?" + cfg.query, {credentials: "same-origin"});
    if (!response.ok) return;
    const d = await response.json();
    canvas.dataset.loaded = "true";
    if (!window.Chart) return;
    const spec = config(name, d);
    spec.options = {animation: false, responsive: true, ...(spec.options || {})};
    if (charts[name]) {
      charts[name].data = spec.data;
      charts[name].update();
    } else {
      charts[name] = new window.Chart(canvas, spec);
    }
  }

  function loadCharts() {
    document.querySelectorAll("canvas[data-chart]").forEach((c) => loadChart(c).catch(() => {}));
  }

  async function refresh(via) {
    const response = await fetch(cfg.tilesUrl + "?" + cfg.query, {credentials: "same-origin",
                                                                  headers: {"X-Requested-With": "fetch"}});
    if (!response.ok) return;
    const html = await response.text();
    const current = document.getElementById("kpi-tiles");
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.querySelector("#kpi-tiles");
    if (current && fresh) current.replaceWith(fresh);
    body.dataset.refreshedBy = via;
    loadCharts();
  }

  function startStream() {
    const source = new window.EventSource(cfg.streamUrl);
    source.onopen = () => {
      sseOpen = true;
      show("sse", "live");
    };
    source.addEventListener("kpis", (event) => {
      if (event.lastEventId === version) return;  // the state the page already shows
      version = event.lastEventId;
      body.dataset.liveVersion = version;
      pushes += 1;
      body.dataset.ssePushes = String(pushes);
      refresh("sse").catch(() => {});
    });
    source.onerror = () => {
      if (sseOpen) downSince = Date.now();
      sseOpen = false;
      // EventSource reconnects by itself (after the server's `retry`), with its Last-Event-ID.
      if (source.readyState === window.EventSource.CLOSED) show("polling", "polling every 2 s");
    };
  }

  body.dataset.ssePushes = "0";
  body.dataset.polls = "0";
  if ("EventSource" in window) {
    startStream();
  } else {
    show("polling", "polling every 2 s");
  }
  window.setInterval(() => {
    if (sseOpen || Date.now() - downSince < 3000) return;
    show("polling", "polling every 2 s");
    polls += 1;
    body.dataset.polls = String(polls);
    refresh("poll").catch(() => {});
  }, 2000);
  loadCharts();
})();
