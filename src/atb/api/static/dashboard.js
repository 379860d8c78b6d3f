// ATB dashboard: reads /api with a bearer token, draws with the bundled plotly.js, updates over /api/ws.
// Every value from the server reaches the page through textContent (never innerHTML): strategy tags,
// order reasons and alert messages are text, not markup.
"use strict";

(function () {
  const TOKEN_KEY = "atb-token";
  const state = { token: null, ws: null, wsDelay: 1000, equity: { x: [], y: [] }, timers: {}, pollTimer: null };
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ small helpers shared with results.js

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || value === "") return "–";
    if (typeof value === "number") {
      if (!Number.isFinite(value)) return "–";
      return value.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
    }
    return String(value);
  }

  function signClass(value) {
    const n = Number(value);
    return n > 0 ? "num pos" : n < 0 ? "num neg" : "num";
  }

  // columns: [{label, value: (row) => text|Node, cls?: (row) => string}]
  function fillTable(table, columns, rows, emptyText) {
    const head = table.tHead, body = table.tBodies[0];
    head.replaceChildren();
    body.replaceChildren();
    const hr = document.createElement("tr");
    for (const c of columns) hr.appendChild(el("th", c.label, c.num ? "num" : ""));
    head.appendChild(hr);
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = el("td", emptyText || "none", "empty");
      td.colSpan = columns.length;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      if (row._class) tr.className = row._class;
      for (const c of columns) {
        const v = c.value(row);
        const td = v instanceof Node ? el("td") : el("td", fmt(v, c.digits));
        if (v instanceof Node) td.appendChild(v);
        td.className = c.cls ? c.cls(row) : c.num ? "num" : "";
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function fillList(dl, pairs) {
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", fmt(v)));
    }
  }

  function drawdownOf(values) {
    let peak = -Infinity;
    return values.map((v) => {
      peak = Math.max(peak, v);
      return peak > 0 ? (v / peak - 1) * 100 : 0;
    });
  }

  const plotConfig = { displayModeBar: false, responsive: true };
  function layout(extra) {
    return Object.assign(
      { margin: { l: 60, r: 20, t: 10, b: 30 }, showlegend: false, xaxis: { type: "date" }, hovermode: "x" },
      extra || {}
    );
  }

  function drawEquity(div, ddDiv, x, y) {
    Plotly.react(div, [{ x: x, y: y, type: "scatter", mode: "lines", name: "equity", line: { color: "#2356c7" } }],
      layout({ yaxis: { title: { text: "equity" } } }), plotConfig);
    Plotly.react(ddDiv, [{ x: x, y: drawdownOf(y), type: "scatter", mode: "lines", fill: "tozeroy", name: "drawdown %",
      line: { color: "#c62828" } }], layout({ yaxis: { title: { text: "drawdown %" } } }), plotConfig);
  }

  window.ATB = { el, fmt, fillTable, fillList, drawEquity, signClass, api, showError };

  // ------------------------------------------------------------------ the API

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    opts.headers = Object.assign({ Authorization: "Bearer " + state.token }, opts.headers || {});
    if (opts.body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.body);
    }
    const response = await fetch(path, opts);
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    if (response.status === 401) {
      logout((payload && payload.error) || "the token was refused");
      throw new Error("unauthorised");
    }
    if (!response.ok && !(opts.allow || []).includes(response.status)) {
      const message = (payload && payload.error) || response.status + " " + response.statusText;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  function showError(id, error) {
    $(id).textContent = error ? String(error.message || error) : "";
  }

  // ------------------------------------------------------------------ panels

  async function loadStatus() {
    const s = await api("/api/status");
    const n = s.node;
    $("run-label").textContent = n ? `run ${n.run_id} · ${s.mode} · ${n.symbols.join(", ")} ${n.timeframe}` : "no trading node";
    const pairs = [["version", s.version], ["uptime", Math.round(s.uptime_s) + " s"]];
    if (n) {
      pairs.push(["node", n.state], ["run status", n.run_status], ["bars", n.bars], ["orders", n.orders],
        ["fills", n.fills], ["open orders", n.open_orders], ["equity", n.equity]);
      if (n.halted) pairs.push(["halted", n.kill_reason || "yes"]);
      if (n.error) pairs.push(["error", n.error]);
    } else {
      pairs.push(["runs in database", s.runs.length]);
    }
    pairs.push(["firing alerts", s.alerts.active], ["backtests running", s.backtests.running]);
    fillList($("status-list"), pairs);
  }

  async function loadHealth() {
    const h = await api("/health/ready", { allow: [503] });
    const list = $("health-list");
    list.replaceChildren();
    for (const [name, c] of Object.entries(h.components)) {
      const li = el("li");
      li.appendChild(el("span", c.status.toUpperCase(), "status-" + c.status));
      li.appendChild(el("span", " " + name + ": " + c.reason));
      list.appendChild(li);
    }
  }

  async function loadEquity() {
    const e = await api("/api/equity");
    state.equity.x = e.points.map((p) => p.time);
    state.equity.y = e.points.map((p) => Number(p.equity));
    $("equity-note").textContent = e.note || (e.points.length ? "" : "no bar closed yet since the server started");
    drawEquity($("equity-chart"), $("drawdown-chart"), state.equity.x, state.equity.y);
  }

  async function loadCandles() {
    let bars;
    try {
      bars = await api("/api/bars?limit=300");
    } catch (error) {
      $("bars-note").textContent = error.message;
      Plotly.purge($("candles-chart"));
      return;
    }
    $("bars-note").textContent = "";
    $("bars-symbol").textContent = bars.symbol;
    const fills = (await api("/api/trades?limit=1000")).trades.filter(
      (f) => f.symbol === bars.symbol && f.ts_ms >= bars.ts_ms[0]);
    const marker = (side, color, symbol) => {
      const mine = fills.filter((f) => f.side === side);
      return { x: mine.map((f) => f.time), y: mine.map((f) => Number(f.price)), type: "scatter", mode: "markers",
        name: side, marker: { color: color, size: 11, symbol: symbol, line: { width: 1, color: "#000" } },
        text: mine.map((f) => `${side} ${f.quantity} @ ${f.price}`) };
    };
    const candles = { x: bars.time, open: bars.open, high: bars.high, low: bars.low, close: bars.close,
      type: "candlestick", name: bars.symbol };
    Plotly.react($("candles-chart"), [candles, marker("buy", "#1a7f37", "triangle-up"),
      marker("sell", "#c62828", "triangle-down")], layout({ xaxis: { type: "date", rangeslider: { visible: false } } }),
    plotConfig);
  }

  async function loadPositions() {
    const p = await api("/api/positions");
    const pf = p.portfolio;
    fillList($("portfolio-list"), pf ? [["equity", pf.equity], ["cash", pf.cash], ["gross exposure", pf.gross_exposure],
      ["net exposure %", fmt(pf.net_exposure_pct)], ["VaR 95 %", fmt(pf.var_95_pct, 3)],
      ["drawdown %", fmt(pf.drawdown_pct, 3)]] : [["source", p.source], ["note", p.note]]);
    fillTable($("positions-table"), [
      { label: "symbol", value: (r) => r.symbol }, { label: "side", value: (r) => r.side },
      { label: "quantity", value: (r) => r.quantity, num: true },
      { label: "avg entry", value: (r) => r.avg_entry_price, num: true },
      { label: "mark", value: (r) => r.mark_price, num: true },
      { label: "unrealised", value: (r) => r.unrealised_pnl, cls: (r) => signClass(r.unrealised_pnl) },
      { label: "unrealised %", value: (r) => r.unrealised_pnl_pct, num: true },
      { label: "realised", value: (r) => r.realised_pnl, cls: (r) => signClass(r.realised_pnl) },
      { label: "fees", value: (r) => r.fees_paid, num: true },
      { label: "held (h)", value: (r) => (r.holding_time_s == null ? null : r.holding_time_s / 3600), num: true },
      { label: "MAE %", value: (r) => r.mae_pct, num: true }, { label: "MFE %", value: (r) => r.mfe_pct, num: true },
      { label: "VaR 95 %", value: (r) => r.var_95_pct, num: true, digits: 3 },
      { label: "liquidity", value: (r) => r.liquidity_score, num: true },
      { label: "exit cost", value: (r) => r.exit_cost_estimate, num: true },
    ], p.positions, "no open position");
  }

  async function cancelOrder(cid, button) {
    button.disabled = true;
    try {
      await api("/api/orders/" + encodeURIComponent(cid), { method: "DELETE" });
      showError("orders-error", null);
    } catch (error) {
      showError("orders-error", error.status === 403 ? "this token may not trade (create one with --scope trade)" : error);
      button.disabled = false;
    }
    await loadOrders();
  }

  async function loadOrders() {
    const o = await api("/api/orders?status=open");
    fillTable($("orders-table"), [
      { label: "id", value: (r) => r.client_order_id }, { label: "symbol", value: (r) => r.symbol },
      { label: "side", value: (r) => r.side }, { label: "type", value: (r) => r.type },
      { label: "quantity", value: (r) => r.quantity, num: true },
      { label: "limit", value: (r) => r.limit_price, num: true },
      { label: "filled", value: (r) => r.filled_quantity, num: true },
      { label: "status", value: (r) => r.status }, { label: "tag", value: (r) => r.tag },
      { label: "", value: (r) => {
        const b = el("button", "Cancel", "secondary cancel-order");
        b.type = "button";
        b.dataset.orderId = r.client_order_id;
        b.addEventListener("click", () => cancelOrder(r.client_order_id, b));
        return b;
      } },
    ], o.orders, "no open order");
  }

  async function loadTrades() {
    const t = await api("/api/trades?limit=50");
    fillTable($("trades-table"), [
      { label: "time", value: (r) => r.time }, { label: "order", value: (r) => r.client_order_id },
      { label: "symbol", value: (r) => r.symbol }, { label: "side", value: (r) => r.side },
      { label: "quantity", value: (r) => r.quantity, num: true }, { label: "price", value: (r) => r.price, num: true },
      { label: "fee", value: (r) => r.fee + " " + r.fee_currency, num: true },
    ], t.trades.slice().reverse(), "no fill yet");
  }

  async function silence(rule, button) {
    button.disabled = true;
    try {
      await api("/api/alerts/" + encodeURIComponent(rule) + "/silence", { method: "POST", body: { minutes: 60 } });
      showError("alerts-error", null);
    } catch (error) {
      showError("alerts-error", error.status === 403 ? "this token may not silence alerts (needs --scope trade)" : error);
    }
    await loadAlerts();
  }

  async function loadAlerts() {
    const a = await api("/api/alerts?limit=50");
    const firing = new Map(a.active.map((x) => [x.rule, x]));
    const rows = a.rules.map((r) => Object.assign({ _class: firing.has(r.name) ? "firing" : "" }, r));
    fillTable($("rules-table"), [
      { label: "rule", value: (r) => r.name }, { label: "condition", value: (r) => r.condition },
      { label: "severity", value: (r) => r.severity, cls: (r) => "sev-" + r.severity },
      { label: "state", value: (r) => {
        const f = firing.get(r.name);
        if (!f) return "ok";
        return "FIRING" + (f.silenced_until ? " (silenced until " + new Date(f.silenced_until * 1000).toISOString() + ")" : "");
      } },
      { label: "", value: (r) => {
        const b = el("button", "Silence 1 h", "secondary silence-alert");
        b.type = "button";
        b.addEventListener("click", () => silence(r.name, b));
        return b;
      } },
    ], rows, "no rules");
    fillTable($("alerts-table"), [
      { label: "time", value: (r) => r.time }, { label: "rule", value: (r) => r.rule },
      { label: "severity", value: (r) => r.severity, cls: (r) => "sev-" + r.severity },
      { label: "event", value: (r) => r.kind }, { label: "value", value: (r) => r.value, num: true },
      { label: "message", value: (r) => r.message.split("\n")[0] },
    ], a.history, "no alert so far");
  }

  async function loadBacktests() {
    const jobs = await api("/api/backtests");
    fillTable($("backtests-table"), [
      { label: "id", value: (r) => r.id }, { label: "status", value: (r) => r.status },
      { label: "title", value: (r) => r.title || (r.request && r.request.strategy) },
      { label: "return %", value: (r) => r.stats && r.stats.return_pct, num: true },
      { label: "trades", value: (r) => r.stats && r.stats.trades, num: true },
      { label: "", value: (r) => {
        if (r.status !== "done") return r.error || "";
        const b = el("button", "View", "secondary");
        b.type = "button";
        b.addEventListener("click", async () => window.ATB.showResult(await api("/api/backtests/" + r.id + "/result")));
        return b;
      } },
    ], jobs.slice(0, 20), "no backtest yet (POST /api/backtests)");
  }

  // ------------------------------------------------------------------ refreshing

  const loaders = { status: loadStatus, health: loadHealth, equity: loadEquity, candles: loadCandles,
    positions: loadPositions, orders: loadOrders, trades: loadTrades, alerts: loadAlerts, backtests: loadBacktests };

  function refresh(names, delay) {
    for (const name of names) {
      clearTimeout(state.timers[name]);
      state.timers[name] = setTimeout(() => loaders[name]().catch((e) => console.warn(name, e)), delay || 0);
    }
  }

  function onEvent(event) {
    if (event.type === "equity") {
      state.equity.x.push(new Date(event.bar_ts_ms).toISOString());
      state.equity.y.push(Number(event.equity));
      drawEquity($("equity-chart"), $("drawdown-chart"), state.equity.x, state.equity.y);
      refresh(["candles", "positions", "status"], 300);
    } else if (event.type === "fill") {
      refresh(["trades", "positions", "orders", "candles", "status"], 200);
    } else if (event.type === "order") {
      refresh(["orders", "status"], 200);
    } else if (event.type === "alert") {
      refresh(["alerts", "status"], 100);
    } else if (event.type === "status") {
      refresh(["status", "health"], 100);
    } else if (event.type === "backtest") {
      refresh(["backtests"], 100);
    } else if (event.type === "dropped") {
      refresh(Object.keys(loaders), 100);
    }
  }

  function setLive(text, cls) {
    const pill = $("live-state");
    pill.textContent = text;
    pill.className = "pill " + cls;
  }

  function connect() {
    if (!state.token) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/api/ws?token=" + encodeURIComponent(state.token));
    state.ws = ws;
    setLive("connecting", "wait");
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "hello") {
        state.wsDelay = 1000;
        setLive("live", "on");
        refresh(Object.keys(loaders));
      } else if (event.type === "error") {
        setLive("refused: " + event.error, "off");
      } else {
        onEvent(event);
      }
    };
    ws.onclose = () => {
      if (state.ws !== ws || !state.token) return;
      setLive("reconnecting", "wait");
      setTimeout(connect, state.wsDelay);
      state.wsDelay = Math.min(state.wsDelay * 2, 30000);
    };
  }

  // ------------------------------------------------------------------ log in / out

  async function login(token) {
    state.token = token;
    try {
      await api("/api/status");
    } catch (error) {
      if (state.token) logout(error.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    refresh(Object.keys(loaders));
    connect();
    state.pollTimer = setInterval(() => refresh(["health", "status"]), 10000);
  }

  function logout(reason) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.ws) state.ws.close();
    state.ws = null;
    clearInterval(state.pollTimer);
    setLive("offline", "off");
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = reason || "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      login($("token-input").value.trim());
    });
    $("logout").addEventListener("click", () => logout(""));
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) login(saved);
  });
})();
