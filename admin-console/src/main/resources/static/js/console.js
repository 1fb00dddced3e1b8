// The console's live parts: Server-Sent Events from /api/events update the page every second; actions go through
// the JSON API with the page's CSRF token.
"use strict";
(function () {
  const page = document.body.dataset.page;
  const csrfToken = document.querySelector('meta[name="_csrf"]')?.content;
  const csrfHeader = document.querySelector('meta[name="_csrf_header"]')?.content;

  async function api(method, url, body) {
    const headers = { "Accept": "application/json" };
    if (method !== "GET" && csrfToken) headers[csrfHeader] = csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || (response.status + " " + response.statusText));
    return data;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  const fmt = new Intl.NumberFormat();
  const bytes = b => b < 1048576 ? (b / 1024).toFixed(1) + " kB" : (b / 1048576).toFixed(1) + " MB";
  function showTimes() {
    document.querySelectorAll(".time[data-ms]").forEach(e => { e.textContent = new Date(Number(e.dataset.ms)).toLocaleString(); });
  }
  showTimes();

  const handlers = [];
  function live(handler) { handlers.push(handler); }
  function connect() {
    const source = new EventSource("/api/events");
    const dot = document.getElementById("live");
    source.addEventListener("tick", e => {
      dot?.classList.add("on");
      const tick = JSON.parse(e.data);
      handlers.forEach(h => h(tick));
    });
    source.onerror = () => dot?.classList.remove("on");
  }

  function lagText(lag) {
    if (!lag) return "no report";
    if (lag.lagMs === null || lag.lagMs === undefined) return lag.state;
    return fmt.format(lag.lagMs) + " ms · " + bytes(lag.lagBytes || 0);
  }

  // ---- overview
  if (page === "overview") {
    live(tick => {
      document.getElementById("ring-version").textContent = tick.ringVersion;
      document.getElementById("topology-version").textContent = tick.topologyVersion;
      document.getElementById("routers").textContent = tick.routers;
      const monitor = document.getElementById("monitor");
      monitor.textContent = tick.monitor.detail;
      monitor.className = "value small " + (tick.monitor.running ? "ok" : "critical");
      document.getElementById("active-move").textContent = tick.move ? tick.move.id + " " + tick.move.phase + " " + tick.move.percent + " %" : "none running";
      for (const shard of tick.shards) for (const n of shard.nodes) {
        const row = document.querySelector('tr[data-node="' + n.name + '"]');
        if (!row) continue;
        row.querySelector(".lag").textContent = n.lag && n.lag.lagMs !== null ? fmt.format(n.lag.lagMs) + " ms" : "-";
        const s = row.querySelector(".status");
        s.className = "dot status " + n.status;
        s.textContent = n.status;
      }
    });
  }

  // ---- replication: cascade tree and lag charts
  if (page === "replication") {
    const warn = Number(document.body.dataset.warn);
    const critical = Number(document.body.dataset.critical);
    const windowSelect = document.getElementById("window");
    const charts = new Map();

    function makeChart(box, node, history) {
      const data = [history.at, history.lagMs, history.at.map(() => warn), history.at.map(() => critical)];
      const opts = {
        width: Math.max(300, box.clientWidth), height: 180,
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, warn * 1.2)] } },
        axes: [{}, { label: "lag ms", size: 60 }],
        series: [{}, { label: "lag ms", stroke: "#2f6fde", width: 2, spanGaps: false, points: { show: false } },
          { label: "warning", stroke: "#d98a00", dash: [6, 4], width: 1, points: { show: false } },
          { label: "critical", stroke: "#d13b3b", dash: [6, 4], width: 1, points: { show: false } }],
        legend: { show: false },
      };
      const chart = new uPlot(opts, data, box);
      charts.set(node, { chart, data, box });
      countPoints(box, data);
    }

    // how many measured points the chart shows (for people reading the DOM, and the browser test)
    function countPoints(box, data) { box.dataset.points = data[1].filter(v => v !== null).length; }

    async function loadCharts() {
      const minutes = windowSelect.value;
      for (const box of document.querySelectorAll(".chart[data-node]")) {
        const node = box.dataset.node;
        const old = charts.get(node);
        if (old) { old.chart.destroy(); charts.delete(node); }
        try {
          makeChart(box, node, await api("GET", "/api/lag/" + encodeURIComponent(node) + "/history?minutes=" + minutes));
        } catch (e) { box.textContent = "history unavailable: " + e.message; }
      }
    }

    live(tick => {
      const horizon = tick.atMillis / 1000 - windowSelect.value * 60;
      for (const r of tick.lag) {
        const status = r.lag ? r.lag.status : "unknown";
        const g = document.querySelector('g.node[data-node="' + r.node + '"]');
        if (g) {
          g.setAttribute("class", "node " + status);
          g.querySelector("text.detail").textContent = r.role + " · " + lagText(r.lag);
        }
        const now = document.querySelector('[data-now="' + r.node + '"]');
        if (now) { now.textContent = lagText(r.lag); now.className = "now " + status; }
        const c = charts.get(r.node);
        if (c) {
          const at = Math.floor(tick.atMillis / 1000);
          const lag = r.lag && r.lag.lagMs !== undefined ? r.lag.lagMs : null;
          c.data[0].push(at); c.data[1].push(lag); c.data[2].push(warn); c.data[3].push(critical);
          while (c.data[0].length && c.data[0][0] < horizon) c.data.forEach(s => s.shift());
          c.chart.setData(c.data);
          countPoints(c.box, c.data);
        }
      }
      for (const shard of tick.shards) for (const n of shard.nodes) {
        if (n.role !== "primary") continue;
        const g = document.querySelector('g.node[data-node="' + n.name + '"]');
        if (g) { g.setAttribute("class", "node " + n.status); g.querySelector("text.detail").textContent = "primary · " + n.status; }
      }
    });
    windowSelect.addEventListener("change", loadCharts);
    window.addEventListener("resize", () => charts.forEach(c => c.chart.setSize({ width: Math.max(300, c.box.clientWidth), height: 180 })));
    loadCharts();
  }

  // ---- rebalance: plan, start, progress, abort
  if (page === "rebalance") {
    const planBox = document.getElementById("plan");
    const startArea = document.getElementById("start-area");
    const dialog = document.getElementById("confirm-dialog");
    let plan = null;

    document.getElementById("preview-plan").addEventListener("click", async () => {
      planBox.textContent = "Counting the rows to move…";
      startArea && (startArea.hidden = true);
      try {
        plan = await api("GET", "/api/moves/plan");
      } catch (e) {
        planBox.replaceChildren(el("p", { class: "error", id: "plan-error" }, e.message));
        return;
      }
      const rows = plan.transfers.map(t => el("tr", {},
        el("td", {}, "shard " + t.source + " → shard " + t.target), el("td", {}, t.ranges.length),
        el("td", {}, (t.share * 100).toFixed(1) + " %"), el("td", { class: "num" }, fmt.format(t.rows)),
        el("td", { class: "num" }, bytes(t.bytes)),
        el("td", {}, ...t.tables.map(x => el("span", { class: "chip" }, x.table + ": " + (x.missing ? "not created" : fmt.format(x.rows)))))));
      planBox.replaceChildren(
        el("p", { id: "plan-summary" }, "Ring version " + plan.fromRingVersion + " → " + plan.toRingVersion + ", filling empty shard(s) "
          + plan.emptyShards.join(", ") + ": " + fmt.format(plan.rows) + " rows, " + bytes(plan.bytes) + ", about "
          + plan.estimateSeconds.toFixed(1) + " s to copy at 50 MB/s."),
        el("table", { id: "plan-table" }, el("thead", {}, el("tr", {}, ...["Transfer", "Ranges", "Share of keys", "Rows", "Size", "Tables"].map(h => el("th", {}, h)))),
          el("tbody", {}, ...rows)));
      if (!plan.rebalancerRunning) planBox.append(el("p", { class: "warn" }, "No rebalancer is running: a started move would wait for one."));
      if (startArea) startArea.hidden = false;
    });

    document.getElementById("start-move")?.addEventListener("click", () => {
      document.getElementById("confirm-text").textContent = "Move " + fmt.format(plan.rows) + " rows (" + bytes(plan.bytes)
        + ") to shard(s) " + plan.emptyShards.join(", ") + "; the ring goes from version " + plan.fromRingVersion + " to "
        + plan.toRingVersion + ". Writes to the moving ranges pause briefly at the switch.";
      dialog.showModal();
    });
    dialog?.addEventListener("close", async () => {
      if (dialog.returnValue !== "start") return;
      try {
        const started = await api("POST", "/api/moves", { expectedRingVersion: plan.fromRingVersion });
        startArea.hidden = true;
        planBox.replaceChildren(el("p", { class: "ok" }, started.message));
      } catch (e) {
        planBox.append(el("p", { class: "error", id: "start-error" }, e.message));
      }
    });

    let lastId = document.getElementById("move").dataset.id;
    document.getElementById("abort-move")?.addEventListener("click", async () => {
      if (!lastId || !confirm("Abort move " + lastId + "? Copied rows are removed and the ring stays as it is.")) return;
      try { await api("POST", "/api/moves/" + encodeURIComponent(lastId) + "/abort"); }
      catch (e) { document.getElementById("move-error").textContent = e.message; }
    });

    let finished = null;
    let shownInHistory = lastId;
    live(tick => {
      const m = tick.move;
      const box = document.getElementById("move-progress");
      if (m) {
        if (m.id !== shownInHistory) { shownInHistory = m.id; refreshHistory(); }
        lastId = m.id; finished = null;
        document.getElementById("no-move").hidden = true;
        box.hidden = false;
        box.dataset.state = m.state;
        document.getElementById("move-id").textContent = m.id;
        document.getElementById("move-phase").textContent = m.phase;
        document.getElementById("move-percent").textContent = m.percent + " %";
        document.getElementById("move-bar").style.width = m.percent + "%";
        document.getElementById("move-detail").textContent = m.detail;
        document.getElementById("move-error").textContent = m.error || "";
        const abort = document.getElementById("abort-move");
        if (abort) abort.disabled = !m.abortable;
      } else if (lastId && finished !== lastId) {
        finished = lastId;
        api("GET", "/api/moves/" + encodeURIComponent(lastId)).then(done => {
          box.dataset.state = done.state;
          document.getElementById("move-phase").textContent = done.phase;
          document.getElementById("move-percent").textContent = done.percent + " %";
          document.getElementById("move-bar").style.width = done.percent + "%";
          document.getElementById("move-detail").textContent = done.state === "done"
            ? "Done in " + ((done.updatedAtMillis - done.startedAtMillis) / 1000).toFixed(1) + " s: ring version " + done.toRingVersion + "."
            : "Aborted: " + (done.error || "");
          const abort = document.getElementById("abort-move");
          if (abort) abort.disabled = true;
          refreshHistory();
        });
      }
    });

    async function refreshHistory() {
      const moves = await api("GET", "/api/moves");
      document.getElementById("no-moves").hidden = moves.length > 0;
      document.querySelector("#history tbody").replaceChildren(...moves.map(m => el("tr", { "data-move": m.id },
        el("td", { class: "mono" }, m.id), el("td", {}, el("span", { class: "status " + m.state }, m.phase)),
        el("td", {}, m.fromRingVersion + " → " + m.toRingVersion),
        el("td", {}, ...m.transfers.map(t => el("span", { class: "chip" }, t.source + " → " + t.target))),
        el("td", {}, new Date(m.startedAtMillis).toLocaleString()),
        el("td", {}, ((m.updatedAtMillis - m.startedAtMillis) / 1000).toFixed(1) + " s"), el("td", {}, m.error || ""))));
    }
  }

  // ---- audit
  if (page === "audit") {
    setInterval(async () => {
      const entries = await api("GET", "/api/audit?limit=200").catch(() => null);
      if (!entries) return;
      document.querySelector("#audit tbody").replaceChildren(...entries.map(e => el("tr", {},
        el("td", {}, new Date(e.timeMillis).toLocaleString()), el("td", {}, e.user), el("td", {}, e.role),
        el("td", { class: "mono" }, e.action), el("td", { class: "mono" }, e.target),
        el("td", { class: e.outcome === "ok" ? "ok" : "critical" }, e.outcome), el("td", { class: "mono small" }, e.requestId))));
    }, 5000);
  }

  if (page !== "login") connect();
  if (page === "shards") {
    // a switchover or failover of a shard's primary (operators): the API answers when the change is over
    const dialog = document.getElementById("primary-dialog");
    const result = document.getElementById("primary-result");
    let pending = null;
    document.querySelectorAll("button.switchover, button.failover").forEach(button => button.addEventListener("click", () => {
      const failover = button.classList.contains("failover");
      pending = { shard: button.dataset.shard, kind: failover ? "failover" : "switchover" };
      document.getElementById("primary-title").textContent = (failover ? "Fail over" : "Switch over") + " shard " + pending.shard + "?";
      document.getElementById("primary-text").textContent = failover
        ? "For a primary that is dead: its most advanced hub is promoted and published. What that hub had not received is lost."
        : "The shard's writes are held (under a second), the replica replays everything, is promoted and published; the writes go on there.";
      document.getElementById("primary-to").value = "";
      dialog.showModal();
    }));
    dialog?.addEventListener("close", async () => {
      if (dialog.returnValue !== "go" || !pending) return;
      const to = document.getElementById("primary-to").value.trim();
      const body = to ? { to } : {};
      result.hidden = false;
      result.className = "muted";
      result.textContent = "Shard " + pending.shard + ": " + pending.kind + " under way…";
      document.querySelectorAll("button.switchover, button.failover").forEach(b => { b.disabled = true; });
      try {
        const done = await api("POST", "/api/shards/" + encodeURIComponent(pending.shard) + "/" + pending.kind, body);
        result.className = "ok";
        result.textContent = "Shard " + done.shard + ": " + done.to + " is the primary (was " + done.from + "), topology version "
          + done.topologyVersion + ", writes held " + done.writesHeldMs + " ms."
          + (done.warnings && done.warnings.length ? " Warnings: " + done.warnings.join("; ") : "");
        const cell = document.querySelector('tr[data-shard="' + done.shard + '"] .primary-name');
        if (cell) cell.textContent = done.to;
      } catch (e) {
        result.className = "error";
        result.textContent = "Shard " + pending.shard + ": " + e.message;
      } finally {
        document.querySelectorAll("button.switchover, button.failover").forEach(b => { b.disabled = false; });
      }
    });
  }
})();
