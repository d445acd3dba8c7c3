// @ts-check
// One symbol's detail: a panel (at the side on a wide screen, the whole screen on a phone) with a
// candlestick chart of the scan's window (volume, SMA 50/200 and Bollinger bands over the price,
// RSI and MACD in panes below), every indicator value and sub-score of the result with what it
// means, the symbol's record in the learning store with its signal by date, and a link to the symbol on TradingView.
//
// It listens for `technic:open-symbol` on the document, with `detail = {symbol, result}`, where
// `result` is the scan result as the server sent it. The bars and series it draws are the very ones
// the scan rated: they are asked for with the result's own window (`bars` bars up to `date`), so the
// chart's last close is the result's close and each series ends on the value the table shows.
//
// The chart library (TradingView's lightweight-charts 5.2.1, vendored, see vendor/NOTICE) is
// loaded on the first open only: a page that never opens a symbol does not pay for it.

/**
 * @typedef {{
 *   symbol: string, name?: string | null, sector?: string | null, signal: string,
 *   tech_rating: number, alpha_score: number | null, high_quality: boolean, date: string,
 *   close: number, change_pct: number, volume: number, avg_volume_20: number,
 *   trend_direction: string, trend_score: number, momentum_score: number, volume_score: number,
 *   volatility_score: number, bars: number, priority_tier: string | null, rank: number,
 *   indicators: Record<string, number | null>
 * }} ScanResult
 * @typedef {{date: string, open: number, high: number, low: number, close: number, volume: number}} Bar
 * @typedef {{symbol: string, name: string | null, sector: string | null, bars: Bar[],
 *   source: {kind: string, description: string, synthetic: boolean}}} BarsBody
 * @typedef {{symbol: string, dates: string[], series: Record<string, (number | null)[]>}} IndicatorsBody
 * @typedef {{as_of: string, signal: string, tech_rating: number, alpha_score: number | null,
 *   high_quality: boolean}} DatedSignal
 * @typedef {{symbol: string, scans: number, signals: number, signal_rate: number | null,
 *   last_rating: number | null, last_scan_date: string | null, dated?: DatedSignal[]}} HistoryBody
 * @typedef {{symbol: string, result: ScanResult}} OpenSymbol
 */

const CHARTS_MODULE = './vendor/lightweight-charts.standalone.production.mjs';
const SERIES = 'sma_50,sma_200,bb_20_2,rsi_14,macd_12_26_9';
const COLOURS = {
  up: '#0b6b3a', down: '#a1261b', sma50: '#1f5fbf', sma200: '#8a3ffc', band: '#9aa5b4',
  rsi: '#1f5fbf', macd: '#1f5fbf', signal: '#d9480f',
};

/** What each figure of a result is, in a line. Sub-scores follow docs/rating.md. */
const FIGURES = [
  ['tech_rating', 'Rating', 'Where the symbol stands against the whole market today, 0–100: 90 beats 90 % of symbols.'],
  ['signal', 'Signal', 'The rating in words: strong buy at the top of the market, strong sell at the bottom.'],
  ['high_quality', 'High-quality', 'Whether this is a high-quality signal: a rating high enough to act on.'],
  ['alpha_score', 'Alpha', 'Percentile (0–1) of the multi-factor composite among this scan\'s results.'],
  ['trend_score', 'Trend score', '0–100; 100 = at its 52-week high and well above its 200-day average.'],
  ['momentum_score', 'Momentum score', '0–100; 100 = a strong return over the last 12 months, less the last one.'],
  ['volume_score', 'Volume score', '0–100; 100 = a week of unusually heavy volume.'],
  ['volatility_score', 'Volatility score', '0–100; 100 = calm: low volatility over the last 63 days.'],
  ['trend_direction', 'Trend', 'The direction of the price trend the averages show.'],
  ['priority_tier', 'Tier', 'How early the scan looked at it: high-tier symbols are the likeliest signals.'],
  ['rank', 'Rank', 'Place in this scan\'s final ranking (by rating, then alpha); 1 is best.'],
  ['close', 'Close', 'The last close of the data, split- and dividend-adjusted.'],
  ['change_pct', 'Change', 'The last close against the one before, in percent.'],
  ['avg_volume_20', 'Avg volume 20d', 'Mean daily volume (shares) over the last 20 sessions.'],
  ['bars', 'Bars', 'Daily bars the scan read for this symbol (its lookback window).'],
  ['date', 'Data date', 'The date of the newest bar the scan saw.'],
];

/**
 * One line on what an indicator column means, from its name (`rsi_14`, `bb_upper`, `macd_hist`…).
 * @param {string} column
 * @returns {string}
 */
export function meaning(column) {
  const n = (/_(\d+)(?:_|$)/.exec(column) || [])[1];
  const rules = /** @type {[RegExp, string][]} */ ([
    [/^sma_/, `Simple moving average: the mean close of the last ${n} sessions.`],
    [/^ema_/, `Exponential moving average of the close over ${n} sessions; recent closes weigh more.`],
    [/^wma_/, `Weighted moving average of the close over ${n} sessions, weights falling linearly.`],
    [/^kama_/, `Kaufman's adaptive average (${n}): follows the price closely when it trends, slowly when it chops.`],
    [/^rsi_/, `Relative strength index (${n}), 0–100: above 70 overbought, below 30 oversold.`],
    [/^macd_signal/, 'MACD signal line: a 9-session EMA of the MACD line.'],
    [/^macd_hist/, 'MACD histogram: MACD minus its signal line; above 0 momentum is rising.'],
    [/^macd/, 'MACD: the 12-session EMA of the close minus the 26-session EMA.'],
    [/^bb_upper/, 'Upper Bollinger band: the 20-session average plus two standard deviations.'],
    [/^bb_middle/, 'Middle Bollinger band: the 20-session average of the close.'],
    [/^bb_lower/, 'Lower Bollinger band: the 20-session average minus two standard deviations.'],
    [/^natr_/, `Normalised average true range (${n}): the daily range as a percent of the close.`],
    [/^atr_/, `Average true range (${n}): the typical daily range in price units.`],
    [/^adx_/, `Average directional index (${n}): trend strength, 0–100; above 25 a strong trend.`],
    [/^plus_di_/, `Plus directional indicator (${n}): the strength of up moves.`],
    [/^minus_di_/, `Minus directional indicator (${n}): the strength of down moves.`],
    [/^stoch_k/, 'Stochastic %K: where the close sits in the recent high–low range, 0–100.'],
    [/^stoch_d/, 'Stochastic %D: a 3-session average of %K.'],
    [/^cci_/, `Commodity channel index (${n}): distance from the average price in mean deviations.`],
    [/^mfi_/, `Money flow index (${n}), 0–100: RSI weighted by volume.`],
    [/^obv/, 'On-balance volume: volume added on up days and taken away on down days, running total.'],
    [/^roc_/, `Rate of change: the percent change of the close over ${n} sessions.`],
    [/^willr_/, `Williams %R (${n}), −100–0: near 0 the close is at the top of the recent range.`],
    [/^aroon_up/, 'Aroon up, 0–100: how recently the highest high of the period was set.'],
    [/^aroon_down/, 'Aroon down, 0–100: how recently the lowest low of the period was set.'],
    [/^sar/, 'Parabolic SAR: a trailing stop level that flips side when the trend turns.'],
  ]);
  const rule = rules.find(([pattern]) => pattern.test(column));
  return rule ? rule[1] : 'An indicator column of the scan.';
}

/**
 * @param {unknown} value
 * @returns {string}
 */
const esc = (value) => String(value ?? '').replace(/[&<>"']/g,
  (c) => /** @type {Record<string, string>} */ ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/**
 * A figure of a result as a person reads it.
 * @param {string} key
 * @param {unknown} value
 * @returns {string}
 */
export function formatFigure(key, value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (typeof value !== 'number') return String(value).replace(/_/g, ' ');
  if (key === 'change_pct') return `${value > 0 ? '+' : ''}${value.toFixed(2)}%`;
  if (key === 'avg_volume_20' || key === 'obv' || key === 'volume') {
    return new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 2 }).format(value);
  }
  if (key === 'alpha_score') return value.toFixed(3);
  if (key === 'rank' || key === 'bars') return value ? String(value) : '—';
  return Math.abs(value) >= 1000 ? value.toFixed(0) : value.toFixed(Math.abs(value) < 1 ? 4 : 2);
}

/**
 * @param {string} path
 * @returns {Promise<any>}
 */
async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error && body.error.message;
    throw new Error(message || `the server answered ${response.status}`);
  }
  return body;
}

/** The panel's elements, built once. */
function buildPanel() {
  const panel = document.createElement('aside');
  panel.id = 'detail';
  panel.className = 'detail';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-modal', 'true');
  panel.setAttribute('aria-labelledby', 'detail-title');
  panel.dataset.testid = 'detail';
  panel.innerHTML = `
    <div class="detail-head">
      <div>
        <h2 id="detail-title" data-testid="detail-title" tabindex="-1"></h2>
        <p class="muted" data-testid="detail-subtitle"></p>
      </div>
      <button type="button" class="detail-close" data-testid="detail-close" aria-label="Close the detail">✕</button>
    </div>
    <p class="detail-quote" data-testid="detail-quote"></p>
    <p class="detail-state muted" data-testid="detail-state" role="status"></p>
    <div class="detail-chart" data-testid="detail-chart" role="figure" aria-label="Price chart: candles with volume, SMA 50 and 200, Bollinger bands; RSI and MACD panes"></div>
    <p class="detail-legend muted" aria-hidden="true">
      <span class="key" style="--c:${COLOURS.sma50}">SMA 50</span>
      <span class="key" style="--c:${COLOURS.sma200}">SMA 200</span>
      <span class="key" style="--c:${COLOURS.band}">Bollinger 20, 2</span>
      <span>· panes: RSI 14, MACD 12/26/9</span>
    </p>
    <p><a data-testid="detail-link" target="_blank" rel="noopener noreferrer"></a></p>
    <section aria-labelledby="detail-scores-title">
      <h3 id="detail-scores-title">Rating and scores</h3>
      <table class="detail-table" data-testid="detail-scores"><tbody></tbody></table>
    </section>
    <section aria-labelledby="detail-history-title">
      <h3 id="detail-history-title">Signal history</h3>
      <p data-testid="detail-history">…</p>
      <table class="detail-dated" data-testid="detail-dated" hidden>
        <caption class="visually-hidden">Signal by date of the data, newest first</caption>
        <thead><tr><th scope="col">Data of</th><th scope="col">Signal</th><th scope="col" class="num">Rating</th><th scope="col" class="num">Alpha</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section aria-labelledby="detail-indicators-title">
      <h3 id="detail-indicators-title">Indicators</h3>
      <table class="detail-table" data-testid="detail-indicators"><tbody></tbody></table>
    </section>
    <p class="muted small">Charts by TradingView Lightweight Charts™, Copyright (c) 2026 TradingView, Inc., under the Apache License 2.0.</p>`;
  document.body.append(panel);
  /** @param {string} id */
  const part = (id) => /** @type {HTMLElement} */ (panel.querySelector(`[data-testid="${id}"]`));
  return {
    panel,
    title: part('detail-title'),
    subtitle: part('detail-subtitle'),
    close: /** @type {HTMLButtonElement} */ (part('detail-close')),
    quote: part('detail-quote'),
    state: part('detail-state'),
    chart: part('detail-chart'),
    link: /** @type {HTMLAnchorElement} */ (part('detail-link')),
    scores: /** @type {HTMLElement} */ (part('detail-scores').querySelector('tbody')),
    history: part('detail-history'),
    dated: /** @type {HTMLTableElement} */ (part('detail-dated')),
    indicators: /** @type {HTMLElement} */ (part('detail-indicators').querySelector('tbody')),
  };
}

/** @type {ReturnType<typeof buildPanel> | null} */
let ui = null;
/** @type {{remove: () => void} | null} */
let chart = null;
/** @type {Element | null} */
let opener = null;
/** The symbol of the row that opened the panel, if a row did. */
let openerSymbol = '';
/** Bumped on every open, so answers for a symbol no longer shown are dropped. */
let generation = 0;

/**
 * @param {number | null | undefined} value
 * @returns {number | undefined}
 */
const finite = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/**
 * @param {string[]} dates
 * @param {(number | null)[] | undefined} values
 */
function line(dates, values) {
  const points = [];
  for (let i = 0; i < dates.length; i += 1) {
    const value = finite(values ? values[i] : undefined);
    if (value !== undefined) points.push({ time: dates[i], value });
  }
  return points;
}

/**
 * Draws the chart into the panel.
 * @param {HTMLElement} host
 * @param {BarsBody} bars
 * @param {IndicatorsBody} indicators
 */
async function draw(host, bars, indicators) {
  const charts = await import(CHARTS_MODULE);
  if (chart) chart.remove();
  host.replaceChildren();
  const narrow = window.matchMedia('(max-width: 700px)').matches;
  const made = charts.createChart(host, {
    autoSize: true,
    layout: { background: { color: '#ffffff' }, textColor: '#18202b', fontSize: 11, attributionLogo: true },
    grid: { vertLines: { color: '#eef1f5' }, horzLines: { color: '#eef1f5' } },
    rightPriceScale: { borderColor: '#d9dee6' },
    timeScale: { borderColor: '#d9dee6' },
    crosshair: { mode: charts.CrosshairMode.Normal },
  });
  chart = made;
  const candles = made.addSeries(charts.CandlestickSeries, {
    upColor: COLOURS.up, downColor: COLOURS.down, borderVisible: false,
    wickUpColor: COLOURS.up, wickDownColor: COLOURS.down,
  });
  candles.setData(bars.bars.map((b) => ({ time: b.date, open: b.open, high: b.high, low: b.low, close: b.close })));
  const volume = made.addSeries(charts.HistogramSeries, {
    priceScaleId: 'volume', priceFormat: { type: 'volume' }, lastValueVisible: false, priceLineVisible: false,
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  volume.setData(bars.bars.map((b, i) => ({
    time: b.date,
    value: b.volume,
    color: i > 0 && b.close < bars.bars[i - 1].close ? 'rgba(161,38,27,0.35)' : 'rgba(11,107,58,0.35)',
  })));
  const { dates, series } = indicators;
  const overlay = { lineWidth: 1, lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false };
  for (const [column, color, style] of /** @type {[string, string, number][]} */ ([
    ['bb_upper', COLOURS.band, 2], ['bb_middle', COLOURS.band, 1], ['bb_lower', COLOURS.band, 2],
    ['sma_50', COLOURS.sma50, 0], ['sma_200', COLOURS.sma200, 0],
  ])) {
    made.addSeries(charts.LineSeries, { ...overlay, color, lineStyle: style, title: narrow ? '' : column }).setData(line(dates, series[column]));
  }
  const rsi = made.addSeries(charts.LineSeries, { color: COLOURS.rsi, lineWidth: 1, title: 'RSI 14' }, 1);
  rsi.setData(line(dates, series.rsi_14));
  for (const level of [70, 30]) rsi.createPriceLine({ price: level, color: '#9aa5b4', lineStyle: 2, lineWidth: 1, axisLabelVisible: false });
  const hist = made.addSeries(charts.HistogramSeries, { lastValueVisible: false, priceLineVisible: false }, 2);
  hist.setData(line(dates, series.macd_hist).map((p) => ({ ...p, color: p.value >= 0 ? 'rgba(11,107,58,0.5)' : 'rgba(161,38,27,0.5)' })));
  made.addSeries(charts.LineSeries, { color: COLOURS.macd, lineWidth: 1, title: 'MACD' }, 2).setData(line(dates, series.macd));
  made.addSeries(charts.LineSeries, { color: COLOURS.signal, lineWidth: 1, title: 'signal' }, 2).setData(line(dates, series.macd_signal));
  // Price three fifths of the height, RSI and MACD a fifth each.
  const panes = made.panes();
  if (panes.length === 3) {
    panes[0].setStretchFactor(3);
    panes[1].setStretchFactor(1);
    panes[2].setStretchFactor(1);
  }
  made.timeScale().fitContent();
  // What the chart itself holds, for whoever checks it against the table.
  const data = candles.data();
  const last = data[data.length - 1];
  host.dataset.lastClose = last && 'close' in last ? String(last.close) : '';
  host.dataset.lastDate = last ? String(last.time) : '';
  host.dataset.candles = String(data.length);
}

/**
 * @param {ScanResult} result
 */
function renderFigures(result) {
  if (!ui) return;
  ui.scores.innerHTML = FIGURES.map(([key, label, text]) => {
    const value = /** @type {Record<string, unknown>} */ (result)[key];
    return `<tr data-figure="${esc(key)}"><th scope="row">${esc(label)}</th><td class="num">${esc(formatFigure(key, value))}</td><td class="muted">${esc(text)}</td></tr>`;
  }).join('');
  const columns = Object.entries(result.indicators || {});
  ui.indicators.innerHTML = columns.length
    ? columns.map(([name, value]) =>
      `<tr data-indicator="${esc(name)}"><th scope="row"><code>${esc(name)}</code></th><td class="num">${esc(formatFigure(name, value))}</td><td class="muted">${esc(meaning(name))}</td></tr>`).join('')
    : '<tr><td>This result carries no indicator values.</td></tr>';
}

/**
 * @param {HistoryBody} history
 * @returns {string}
 */
export function historyText(history) {
  if (!history.scans) return 'No earlier scan has recorded this symbol yet.';
  const times = history.scans === 1 ? 'once' : `${history.scans} times`;
  const rate = history.signal_rate === null ? '' : ` (${Math.round(history.signal_rate * 100)} %)`;
  const last = history.last_rating === null ? '' : ` The last recorded scan rated it ${history.last_rating.toFixed(1)}${history.last_scan_date ? ` on data of ${history.last_scan_date}` : ''}.`;
  return `Recorded scans rated it ${times}; ${history.signals} of them a high-quality signal${rate}.${last}`;
}

/** @type {Record<string, string>} */
const SIGNAL_WORDS = { STRONG_BUY: 'Strong buy', BUY: 'Buy', HOLD: 'Hold', SELL: 'Sell', STRONG_SELL: 'Strong sell' };

/**
 * The dated signals as table rows, newest first as the server sends them.
 * @param {DatedSignal[] | undefined} dated
 * @returns {string}
 */
export function datedRowsHtml(dated) {
  return (dated || []).map((d) => {
    const words = SIGNAL_WORDS[d.signal] ?? d.signal;
    const quality = d.high_quality ? ' <span class="hq-mark">high quality</span>' : '';
    return `<tr data-as-of="${esc(d.as_of)}" data-signal="${esc(d.signal)}"><th scope="row">${esc(d.as_of)}</th>`
      + `<td><span class="badge signal-${esc(d.signal)}">${esc(words)}</span>${quality}</td>`
      + `<td class="num">${esc(formatFigure('tech_rating', d.tech_rating))}</td>`
      + `<td class="num">${esc(formatFigure('alpha_score', d.alpha_score))}</td></tr>`;
  }).join('');
}

/**
 * Opens the panel for one result.
 * @param {OpenSymbol} detail
 */
async function open(detail) {
  const { symbol, result } = detail;
  if (!ui) {
    ui = buildPanel();
    ui.close.addEventListener('click', close);
  }
  generation += 1;
  const mine = generation;
  if (ui.panel.hidden) {
    opener = document.activeElement;
    const row = opener instanceof HTMLElement ? opener.closest('tr[data-symbol]') : null;
    openerSymbol = row instanceof HTMLElement ? row.dataset.symbol ?? '' : '';
  }
  ui.panel.hidden = false;
  ui.panel.dataset.symbol = symbol;
  ui.panel.dataset.state = 'loading';
  document.body.classList.add('detail-open');
  ui.title.textContent = symbol;
  ui.subtitle.textContent = [result.name, result.sector].filter(Boolean).join(' · ');
  ui.quote.textContent = `${formatFigure('close', result.close)} · ${formatFigure('change_pct', result.change_pct)} · ${result.date}`;
  ui.link.href = `https://www.tradingview.com/symbols/${encodeURIComponent(symbol)}/`;
  ui.link.textContent = `${symbol} on TradingView ↗`;
  ui.state.textContent = 'Loading the chart…';
  ui.chart.dataset.lastClose = '';
  ui.history.textContent = '…';
  ui.dated.hidden = true;
  renderFigures(result);
  // The title, not the close button: the Enter that opened the panel would otherwise go on to
  // press the button it lands on, and close the panel again.
  ui.title.focus();

  const id = encodeURIComponent(symbol);
  const span = `lookback_days=${encodeURIComponent(String(result.bars))}&as_of=${encodeURIComponent(result.date)}`;
  const history = getJson(`/symbols/${id}/history`)
    .then((body) => ({ text: historyText(body), rows: datedRowsHtml(body.dated) }))
    .catch((error) => ({ text: `No signal history: ${error.message}.`, rows: '' }));
  try {
    const [bars, indicators] = await Promise.all([
      getJson(`/symbols/${id}/bars?${span}`),
      getJson(`/symbols/${id}/indicators?${span}&indicators=${SERIES}`),
    ]);
    if (mine !== generation || !ui) return;
    await draw(ui.chart, bars, indicators);
    if (mine !== generation) return;
    const synthetic = bars.source.synthetic ? ' Synthetic demo data.' : '';
    ui.state.textContent = `${bars.bars.length} daily bars to ${result.date} from ${bars.source.description}.${synthetic}`;
    ui.panel.dataset.state = 'ready';
  } catch (error) {
    if (mine !== generation || !ui) return;
    ui.state.textContent = `Could not draw the chart: ${/** @type {Error} */ (error).message}`;
    ui.panel.dataset.state = 'error';
  }
  const { text, rows } = await history;
  if (mine !== generation || !ui) return;
  /** @type {HTMLElement} */ (ui.dated.tBodies[0]).innerHTML = rows;
  ui.dated.hidden = !rows;
  ui.history.textContent = text;
}

function close() {
  if (!ui || ui.panel.hidden) return;
  generation += 1;
  ui.panel.hidden = true;
  ui.panel.dataset.state = 'closed';
  document.body.classList.remove('detail-open');
  if (chart) {
    chart.remove();
    chart = null;
  }
  // The table reuses its row elements: the row that opened the panel is found by its symbol,
  // wherever it is drawn now.
  const row = openerSymbol ? document.querySelector(`#results-body tr[data-symbol="${CSS.escape(openerSymbol)}"]`) : null;
  const back = row ?? opener;
  if (back instanceof HTMLElement && back.isConnected) back.focus();
  opener = null;
  openerSymbol = '';
}

// Only in a browser: node imports this module for its unit tests of the pure parts above.
if (typeof document !== 'undefined') listen();

function listen() {
  document.addEventListener('technic:open-symbol', (event) => {
    const detail = /** @type {CustomEvent<OpenSymbol>} */ (event).detail;
    if (detail && detail.symbol && detail.result) open(detail);
  });
  document.addEventListener('keydown', (event) => {
    if (!ui || ui.panel.hidden) return;
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
      return;
    }
    // A modal dialog keeps Tab inside it: from the last control back to the first, and round.
    if (event.key === 'Tab') {
      const controls = /** @type {HTMLElement[]} */ ([...ui.panel.querySelectorAll('button, a[href], select, input, [tabindex="0"]')]);
      if (!controls.length) return;
      const first = controls[0];
      const last = controls[controls.length - 1];
      const inside = ui.panel.contains(document.activeElement);
      if (event.shiftKey && (document.activeElement === first || !inside)) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
        event.preventDefault();
        first.focus();
      }
    }
  });
}
