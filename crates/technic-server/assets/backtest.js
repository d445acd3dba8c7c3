// @ts-check
// The page's backtest view: runs `POST /backtest` on the server's data with the form's dates and
// options, follows `GET /backtest/{id}` to the end, then shows the report: the information
// coefficient of every factor at every horizon, the quantile returns of the chosen factor, its IC
// and top-minus-bottom spread over time as a chart, and the server's full HTML report (every chart
// of `technic backtest --html`) beside them.

/**
 * @typedef {{dates: number, mean: number | null, std: number | null, t_stat: number | null,
 *   information_ratio: number | null, positive_share: number | null}} IcSummary
 * @typedef {{quantile: number, mean_return: number | null, mean_excess: number | null, mean_count: number}} QuantileStats
 * @typedef {{date: string, ic: number | null, top_minus_bottom: number | null}} HorizonDate
 * @typedef {{horizon: number, ic: IcSummary, quantiles: QuantileStats[],
 *   spread: {mean: number | null, t_stat: number | null, hit_rate: number | null}, series: HorizonDate[]}} HorizonReport
 * @typedef {{name: string, horizons: HorizonReport[]}} FactorReport
 * @typedef {{dates: string[], symbols: number, quantiles: number, factors: FactorReport[]}} Report
 * @typedef {{backtest_id: string, status: string, stage: string, overall_progress: number,
 *   error: string | null, report_url: string, report?: Report}} BacktestState
 */

const CHARTS_MODULE = './vendor/lightweight-charts.standalone.production.mjs';
const POLL_MS = 500;

/**
 * @param {unknown} value
 * @returns {string}
 */
const esc = (value) => String(value ?? '').replace(/[&<>"']/g,
  (c) => /** @type {Record<string, string>} */ ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/**
 * A number of the report, `—` where it is undefined.
 * @param {number | null | undefined} value
 * @param {number} digits
 * @param {boolean} [percent]
 * @returns {string}
 */
export function num(value, digits, percent = false) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  return percent ? `${(value * 100).toFixed(digits)}%` : value.toFixed(digits);
}

/**
 * The request body from the form: only what the user filled in, so the server's defaults apply.
 * @param {HTMLFormElement} form
 * @returns {Record<string, unknown>}
 */
export function backtestBody(form) {
  const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value.trim();
  /** @type {Record<string, unknown>} */
  const body = {};
  const symbols = field('symbols').split(/[\s,]+/).filter(Boolean);
  if (symbols.length) body.symbols = symbols;
  if (field('from')) body.from = field('from');
  if (field('to')) body.to = field('to');
  if (field('every')) body.every = field('every');
  if (field('quantiles')) body.quantiles = Number.parseInt(field('quantiles'), 10);
  return body;
}

/**
 * @param {Report} report
 * @returns {string}
 */
function icTable(report) {
  const horizons = report.factors.length ? report.factors[0].horizons.map((h) => h.horizon) : [];
  const head = horizons.map((h) => `<th scope="col" class="num">${h} d</th>`).join('');
  const rows = report.factors.map((f) => `<tr data-factor="${esc(f.name)}"><th scope="row">${esc(f.name)}</th>${f.horizons.map((h) =>
    `<td class="num" title="t = ${num(h.ic.t_stat, 2)}, positive on ${num(h.ic.positive_share, 0, true)} of ${h.ic.dates} dates">${num(h.ic.mean, 3)} <span class="muted">(t ${num(h.ic.t_stat, 1)})</span></td>`).join('')}</tr>`).join('');
  return `<table class="bt-table" data-testid="bt-ic"><caption>Mean information coefficient (Spearman) by forward horizon, t-statistic in brackets</caption>
    <thead><tr><th scope="col">Factor</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * @param {FactorReport} factor
 * @returns {string}
 */
function quantileTable(factor) {
  const head = factor.horizons.map((h) => `<th scope="col" class="num">${h.horizon} d</th>`).join('');
  const count = factor.horizons.length ? factor.horizons[0].quantiles.length : 0;
  const rows = [];
  for (let q = 0; q < count; q += 1) {
    const cells = factor.horizons.map((h) => `<td class="num">${num(h.quantiles[q] && h.quantiles[q].mean_return, 2, true)}</td>`).join('');
    rows.push(`<tr data-quantile="${q + 1}"><th scope="row">Q${q + 1}${q === 0 ? ' (lowest)' : q === count - 1 ? ' (highest)' : ''}</th>${cells}</tr>`);
  }
  const spread = factor.horizons.map((h) => `<td class="num">${num(h.spread.mean, 2, true)}</td>`).join('');
  return `<table class="bt-table" data-testid="bt-quantiles"><caption>Mean forward return by quantile of ${esc(factor.name)}</caption>
    <thead><tr><th scope="col">Quantile</th>${head}</tr></thead><tbody>${rows.join('')}
    <tr class="spread"><th scope="row">Top − bottom</th>${spread}</tr></tbody></table>`;
}

function init() {
  const byId = (/** @type {string} */ id) => document.getElementById(id);
  // A page without the backtest section simply has none of this.
  if (!['backtest-form', 'bt-status', 'bt-error', 'bt-report', 'bt-start'].every((id) => byId(id))) return;
  const form = /** @type {HTMLFormElement} */ (byId('backtest-form'));
  const status = /** @type {HTMLElement} */ (byId('bt-status'));
  const errorBox = /** @type {HTMLElement} */ (byId('bt-error'));
  const out = /** @type {HTMLElement} */ (byId('bt-report'));
  const start = /** @type {HTMLButtonElement} */ (byId('bt-start'));
  let generation = 0;
  /** @type {{remove: () => void} | null} */
  let chart = null;

  /** @param {string} text */
  const fail = (text) => {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  };

  /**
   * @param {FactorReport} factor
   * @param {number} horizonIndex
   * @param {HTMLElement} host
   */
  async function drawSeries(factor, horizonIndex, host) {
    const charts = await import(CHARTS_MODULE);
    if (chart) chart.remove();
    host.replaceChildren();
    const made = charts.createChart(host, {
      autoSize: true,
      layout: { background: { color: '#ffffff' }, textColor: '#18202b', fontSize: 11 },
      grid: { vertLines: { color: '#eef1f5' }, horzLines: { color: '#eef1f5' } },
    });
    chart = made;
    const horizon = factor.horizons[horizonIndex];
    /** @param {(d: HorizonDate) => number | null} pick */
    const points = (pick) => horizon.series
      .filter((d) => typeof pick(d) === 'number' && Number.isFinite(pick(d)))
      .map((d) => ({ time: d.date, value: /** @type {number} */ (pick(d)) }));
    made.addSeries(charts.HistogramSeries, { color: 'rgba(31,95,191,0.55)', title: 'IC', priceLineVisible: false })
      .setData(points((d) => d.ic));
    made.addSeries(charts.LineSeries, { color: '#d9480f', lineWidth: 1, title: 'top − bottom', priceScaleId: 'left', priceLineVisible: false })
      .setData(points((d) => d.top_minus_bottom));
    made.applyOptions({ leftPriceScale: { visible: true } });
    made.timeScale().fitContent();
    host.dataset.points = String(horizon.series.length);
  }

  /** @param {BacktestState} state */
  function show(state) {
    const report = /** @type {Report} */ (state.report);
    const factors = report.factors;
    const horizons = factors.length ? factors[0].horizons : [];
    out.hidden = false;
    out.dataset.backtestId = state.backtest_id;
    out.innerHTML = `
      <p data-testid="bt-summary">${report.symbols} symbols on ${report.dates.length} dates
        (${esc(report.dates[0] || '')} to ${esc(report.dates[report.dates.length - 1] || '')}), ${report.quantiles} quantiles.
        <a href="${esc(state.report_url)}" target="_blank" rel="noopener" data-testid="bt-report-link">Open the full report</a></p>
      ${icTable(report)}
      <div class="bt-pick">
        <label for="bt-factor">Factor <select id="bt-factor" data-testid="bt-factor">${factors.map((f, i) => `<option value="${i}">${esc(f.name)}</option>`).join('')}</select></label>
        <label for="bt-horizon">Horizon <select id="bt-horizon" data-testid="bt-horizon">${horizons.map((h, i) => `<option value="${i}">${h.horizon} days</option>`).join('')}</select></label>
      </div>
      <div data-testid="bt-quantiles-wrap"></div>
      <div class="bt-chart" data-testid="bt-chart" role="figure" aria-label="Information coefficient and top-minus-bottom return per date"></div>
      <details class="bt-full"><summary>The full report, with every chart</summary>
        <iframe title="Backtest report" src="${esc(state.report_url)}" loading="lazy" data-testid="bt-frame"></iframe></details>`;
    const factorPick = /** @type {HTMLSelectElement} */ (out.querySelector('#bt-factor'));
    const horizonPick = /** @type {HTMLSelectElement} */ (out.querySelector('#bt-horizon'));
    const tableHost = /** @type {HTMLElement} */ (out.querySelector('[data-testid="bt-quantiles-wrap"]'));
    const chartHost = /** @type {HTMLElement} */ (out.querySelector('[data-testid="bt-chart"]'));
    const redraw = () => {
      const factor = factors[Number(factorPick.value)];
      if (!factor) return;
      tableHost.innerHTML = quantileTable(factor);
      drawSeries(factor, Number(horizonPick.value), chartHost).catch((error) => {
        chartHost.textContent = `Could not draw the chart: ${error.message}`;
      });
    };
    factorPick.addEventListener('change', redraw);
    horizonPick.addEventListener('change', redraw);
    redraw();
  }

  /**
   * @param {string} id
   * @param {number} mine
   */
  async function follow(id, mine) {
    while (mine === generation) {
      let state;
      try {
        const response = await fetch(`/backtest/${encodeURIComponent(id)}`, { cache: 'no-store' });
        state = /** @type {BacktestState} */ (await response.json());
        if (!response.ok) throw new Error(/** @type {any} */ (state).error?.message || `the server answered ${response.status}`);
      } catch (error) {
        fail(`Lost the backtest: ${/** @type {Error} */ (error).message}`);
        break;
      }
      if (mine !== generation) return;
      status.dataset.status = state.status;
      if (state.status === 'completed') {
        status.textContent = 'Done.';
        show(state);
        break;
      }
      if (state.status === 'failed') {
        fail(`The backtest failed: ${state.error || 'no reason given'}`);
        status.textContent = '';
        break;
      }
      status.textContent = `${state.stage.replace(/_/g, ' ')}… ${Math.round(state.overall_progress)}%`;
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
    }
    start.disabled = false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fail('');
    generation += 1;
    const mine = generation;
    start.disabled = true;
    status.dataset.status = 'starting';
    status.textContent = 'Starting…';
    try {
      const response = await fetch('/backtest', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(backtestBody(form)),
      });
      const answer = await response.json().catch(() => null);
      if (!response.ok) {
        fail((answer && answer.error && answer.error.message) || `The server answered ${response.status}.`);
        status.textContent = '';
        start.disabled = false;
        return;
      }
      follow(answer.backtest_id, mine);
    } catch (error) {
      fail(`Could not reach the server: ${/** @type {Error} */ (error).message}`);
      start.disabled = false;
    }
  });
}

// Only in a browser: node imports this module for its unit tests.
if (typeof document !== 'undefined') init();
