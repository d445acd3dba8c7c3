// Unit tests of the pure parts of the page's detail, screen and backtest modules, under node's own
// test runner (`node --test`); tests/page.rs runs them with the browser tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { datedRowsHtml, formatFigure, historyText, meaning } from '../../assets/detail.js';
import { debounce, describe } from '../../assets/expression.js';
import { num } from '../../assets/backtest.js';

test('every indicator column of a scan has its own meaning', () => {
  const columns = ['sma_20', 'sma_50', 'sma_200', 'ema_12', 'ema_26', 'ema_50', 'wma_20', 'rsi_14', 'macd',
    'macd_signal', 'macd_hist', 'bb_upper', 'bb_middle', 'bb_lower', 'atr_14', 'natr_14', 'adx_14',
    'plus_di_14', 'minus_di_14', 'stoch_k', 'stoch_d', 'cci_20', 'mfi_14', 'obv', 'roc_10', 'willr_14',
    'aroon_down_25', 'aroon_up_25', 'sar', 'kama_30'];
  const fallback = meaning('no_such_column');
  for (const column of columns) assert.notEqual(meaning(column), fallback, column);
  assert.match(meaning('sma_50'), /last 50 sessions/);
  assert.match(meaning('rsi_2'), /\(2\)/);
  // The longer names are not read as their prefixes.
  assert.notEqual(meaning('macd_signal'), meaning('macd'));
  assert.notEqual(meaning('natr_14'), meaning('atr_14'));
});

test('figures read as a person expects', () => {
  assert.equal(formatFigure('change_pct', 1.234), '+1.23%');
  assert.equal(formatFigure('change_pct', -0.5), '-0.50%');
  assert.equal(formatFigure('avg_volume_20', 27_200_000), '27.2M');
  assert.equal(formatFigure('high_quality', true), 'Yes');
  assert.equal(formatFigure('alpha_score', null), '—');
  assert.equal(formatFigure('trend_direction', 'strong_up'), 'strong up');
  assert.equal(formatFigure('rank', 0), '—');
  assert.equal(formatFigure('macd', 0.18144), '0.1814');
  assert.equal(formatFigure('close', 235.92), '235.92');
});

test('the signal history says what was recorded', () => {
  assert.equal(historyText({ symbol: 'A', scans: 0, signals: 0, signal_rate: null, last_rating: null, last_scan_date: null }),
    'No earlier scan has recorded this symbol yet.');
  assert.equal(historyText({ symbol: 'A', scans: 4, signals: 1, signal_rate: 0.25, last_rating: 71.25, last_scan_date: '2021-04-21' }),
    'Recorded scans rated it 4 times; 1 of them a high-quality signal (25 %). The last recorded scan rated it 71.3 on data of 2021-04-21.');
});

test('the dated signals are listed newest first, in words', () => {
  const html = datedRowsHtml([
    { as_of: '2021-04-21', signal: 'STRONG_BUY', tech_rating: 91.25, alpha_score: 0.8125, high_quality: true },
    { as_of: '2021-04-20', signal: 'HOLD', tech_rating: 50, alpha_score: null, high_quality: false },
  ]);
  assert.equal((html.match(/<tr /g) || []).length, 2);
  assert.ok(html.indexOf('2021-04-21') < html.indexOf('2021-04-20'), html);
  assert.match(html, /data-signal="STRONG_BUY">.*Strong buy.*high quality.*91\.25.*0\.813/);
  assert.match(html, /Hold<\/span><\/td><td class="num">50\.00<\/td><td class="num">—/);
  assert.equal(datedRowsHtml(undefined), '');
});

test('an expression error points at its column', () => {
  assert.deepEqual(describe({ code: 'invalid_request', message: 'where: column 5: …', column: 5 }, 'rsi14 < 50'),
    { message: 'where: column 5: …', pointer: 'rsi14 < 50\n    ^' });
  // A column past the end (a missing operand) points just after the text; none, or a wrong one, points nowhere.
  assert.equal(describe({ code: 'x', message: 'm', column: 8 }, 'close +').pointer, 'close +\n       ^');
  assert.equal(describe({ code: 'x', message: 'm' }, 'close').pointer, '');
  assert.equal(describe({ code: 'x', message: 'm', column: 40 }, 'close').pointer, '');
});

test('checks wait for a pause in the typing', async () => {
  const calls = [];
  const later = debounce((value) => calls.push(value), 20);
  later('r');
  later('rs');
  later('rsi');
  assert.deepEqual(calls, []);
  await new Promise((resolve) => { setTimeout(resolve, 60); });
  assert.deepEqual(calls, ['rsi']);
});

test('report numbers: undefined stays visible as a dash', () => {
  assert.equal(num(0.0834, 3), '0.083');
  assert.equal(num(-0.0153, 2, true), '-1.53%');
  assert.equal(num(null, 2), '—');
  assert.equal(num(Number.NaN, 2), '—');
});
