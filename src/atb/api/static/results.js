// A saved backtest result (the `atb backtest --json` contract) drawn with the dashboard's charts.
// The file is read in the browser and never uploaded.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const STATS = [
    ["return_pct", "return %"], ["buy_hold_return_pct", "buy & hold %"], ["cagr_pct", "CAGR %"],
    ["sharpe", "Sharpe"], ["sortino", "Sortino"], ["calmar", "Calmar"], ["max_drawdown_pct", "max drawdown %"],
    ["trades", "trades"], ["win_rate_pct", "win rate %"], ["profit_factor", "profit factor"],
    ["exposure_pct", "exposure %"], ["var_95_pct", "VaR 95 %"],
  ];

  function check(result) {
    if (!result || typeof result !== "object") throw new Error("not a JSON object");
    for (const key of ["schema_version", "meta", "stats", "equity", "trades"]) {
      if (!(key in result)) throw new Error(`not an ATB result: no "${key}" (expected the output of atb backtest --json)`);
    }
    if (!Array.isArray(result.equity)) throw new Error('"equity" must be a list of points');
  }

  function showResult(result) {
    const A = window.ATB;
    check(result);
    const meta = result.meta;
    $("result-title").textContent =
      `${meta.strategy} on ${(meta.symbols || []).join(", ")} — ${result.equity.length} equity points, ` +
      `${result.trades.length} trades`;
    A.fillList($("result-stats"), STATS.filter(([k]) => k in result.stats).map(([k, label]) => [label, A.fmt(result.stats[k])]));
    const x = result.equity.map((p) => p.time);
    const y = result.equity.map((p) => Number(p.equity));
    $("result-view").hidden = false;
    A.drawEquity($("result-equity-chart"), $("result-drawdown-chart"), x, y);
    A.fillTable($("result-trades"), [
      { label: "symbol", value: (t) => t.symbol }, { label: "side", value: (t) => t.side },
      { label: "entry", value: (t) => t.entry_time }, { label: "exit", value: (t) => t.exit_time },
      { label: "quantity", value: (t) => t.quantity, num: true },
      { label: "entry price", value: (t) => t.entry_price, num: true },
      { label: "exit price", value: (t) => t.exit_price, num: true },
      { label: "PnL", value: (t) => t.pnl, cls: (t) => A.signClass(t.pnl) },
      { label: "return %", value: (t) => t.return_pct, num: true },
    ], result.trades.slice(-200).reverse(), "no trade");
    A.showError("result-error", null);
  }

  window.ATB.showResult = showResult;

  document.addEventListener("DOMContentLoaded", () => {
    $("result-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      try {
        showResult(JSON.parse(await file.text()));
      } catch (error) {
        $("result-view").hidden = true;
        window.ATB.showError("result-error", `${file.name}: ${error.message}`);
      }
    });
  });
})();
