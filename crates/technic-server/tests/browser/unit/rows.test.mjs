// Unit tests of sorting, filtering and CSV (assets/rows.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COLUMNS, RowIndex, cellText, csvField, filterRows, sortRows, sortValue, toCsv, visibleRows } from '../../../assets/rows.js';

/** @param {string} symbol @param {object} fields */
const row = (symbol, fields, seq = 1) => ({ data: { symbol, signal: 'HOLD', tech_rating: 50, ...fields }, seq });

const rows = [
  row('BBB', { tech_rating: 70, signal: 'BUY', sector: 'Energy', name: 'Bravo', rank: 2 }, 3),
  row('AAA', { tech_rating: 70, signal: 'STRONG_BUY', sector: 'Utilities', name: 'Alpha', rank: 1 }, 1),
  row('CCC', { tech_rating: 10, signal: 'SELL', sector: 'Energy', name: 'Charlie', rank: 0, alpha_score: null }, 2),
];

test('ties fall back to the symbol, whatever the direction', () => {
  assert.deepEqual(sortRows(rows, { key: 'tech_rating', dir: 'desc' }).map((r) => r.data.symbol), ['AAA', 'BBB', 'CCC']);
  assert.deepEqual(sortRows(rows, { key: 'tech_rating', dir: 'asc' }).map((r) => r.data.symbol), ['CCC', 'AAA', 'BBB']);
});

test('missing values sort last in both directions; rank 0 is not ranked yet', () => {
  assert.deepEqual(sortRows(rows, { key: 'rank', dir: 'asc' }).map((r) => r.data.symbol), ['AAA', 'BBB', 'CCC']);
  assert.deepEqual(sortRows(rows, { key: 'rank', dir: 'desc' }).map((r) => r.data.symbol), ['BBB', 'AAA', 'CCC']);
  assert.deepEqual(sortRows(rows, { key: 'alpha_score', dir: 'desc' }).map((r) => r.data.symbol), ['AAA', 'BBB', 'CCC']);
});

test('signals sort by strength and arrival by seq', () => {
  assert.deepEqual(sortRows(rows, { key: 'signal', dir: 'desc' }).map((r) => r.data.symbol), ['AAA', 'BBB', 'CCC']);
  assert.deepEqual(sortRows(rows, { key: 'seq', dir: 'asc' }).map((r) => r.data.symbol), ['AAA', 'CCC', 'BBB']);
});

test('sorting does not change the input', () => {
  const before = rows.map((r) => r.data.symbol);
  sortRows(rows, { key: 'symbol', dir: 'asc' });
  assert.deepEqual(rows.map((r) => r.data.symbol), before);
});

test('filters combine, and the text matches symbol or name', () => {
  const filter = { text: '', signal: '', sector: 'Energy', tier: '' };
  assert.deepEqual(filterRows(rows, filter).map((r) => r.data.symbol), ['BBB', 'CCC']);
  assert.deepEqual(filterRows(rows, { ...filter, text: 'char' }).map((r) => r.data.symbol), ['CCC']);
  assert.deepEqual(visibleRows(rows, { ...filter, signal: 'BUY' }, { key: 'symbol', dir: 'asc' }).map((r) => r.data.symbol), ['BBB']);
});

// The speed is the browser test's (tests/page.rs, measured in the page); this is the order.
test('10,000 rows sort into one total order', () => {
  const many = Array.from({ length: 10_000 }, (_, i) => row(`S${i}`, { tech_rating: (i * 7919) % 100, close: i }));
  const sorted = sortRows(many, { key: 'tech_rating', dir: 'desc' });
  assert.equal(sorted.length, 10_000);
  for (let i = 1; i < sorted.length; i += 1) {
    const [a, b] = [sorted[i - 1].data, sorted[i].data];
    assert.ok(a.tech_rating > b.tech_rating || (a.tech_rating === b.tech_rating && a.symbol < b.symbol));
  }
});

test('cells are formatted the same everywhere', () => {
  const r = row('X', { avg_volume_20: 27_215_000, close: 12345.6, change_pct: -1.5 });
  assert.equal(cellText(r, 'avg_volume_20'), '27.2M');
  assert.equal(cellText(r, 'close'), '12,345.60');
  assert.equal(cellText(r, 'change_pct'), '−1.50%');
});

test('CSV quotes what needs quoting and defuses formulas', () => {
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvField(-1.5), '-1.5');
  const csv = toCsv(rows.slice(0, 2), ['symbol', 'name', 'tech_rating', 'rank', 'seq']);
  assert.equal(csv, 'symbol,name,tech_rating,rank,seq\r\nBBB,Bravo,70,2,3\r\nAAA,Alpha,70,1,1\r\n');
});

// The order the index makes, against the plainest reading of the rule: by the column's value
// (a symbol by code unit), ties by symbol, rows without a value last in either direction.
function referenceOrder(list, sort) {
  const column = COLUMNS.find((c) => c.key === sort.key);
  const sign = sort.dir === 'asc' ? 1 : -1;
  const value = (r) => (column.key === 'symbol' ? r.data.symbol : sortValue(r, column));
  return [...list].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
    } else if (x !== y) {
      return sign * (x < y ? -1 : 1);
    }
    return a.data.symbol < b.data.symbol ? -1 : 1;
  });
}

test('the index orders every column as the rule says, and keeps each order for the next time', () => {
  const signals = ['STRONG_BUY', 'BUY', 'HOLD', 'SELL', 'STRONG_SELL'];
  const names = ['Alpha', 'alpha', 'Beta', '', 'Gamma'];
  const many = Array.from({ length: 600 }, (_, i) => row(`S${(i * 7919) % 600}`, {
    tech_rating: (i * 37) % 13,
    close: i % 5 === 0 ? null : (i * 11) % 97,
    name: names[i % names.length],
    sector: i % 3 ? 'Energy' : undefined,
    signal: signals[i % 5],
    priority_tier: i % 4 ? 'high' : null,
    rank: i % 6,
    alpha_score: i % 7 ? i / 7 : null,
  }, i + 1));
  const index = new RowIndex(many);
  const none = { text: '', signal: '', sector: '', tier: '' };
  for (const column of COLUMNS) {
    for (const dir of ['asc', 'desc']) {
      const sort = { key: column.key, dir };
      const expected = referenceOrder(many, sort).map((r) => r.data.symbol);
      assert.deepEqual(index.visible(none, sort).map((r) => r.data.symbol), expected, `${column.key} ${dir}`);
      assert.equal(index.order(sort), index.order(sort), 'the order is made once');
    }
  }
  const filter = { text: 'ALP', signal: 'BUY', sector: 'Energy', tier: 'high' };
  const sort = { key: 'close', dir: 'desc' };
  assert.deepEqual(index.visible(filter, sort).map((r) => r.data.symbol),
    filterRows(referenceOrder(many, sort), filter).map((r) => r.data.symbol));
  assert.ok(index.visible(filter, sort).length > 0, 'the filter leaves some rows');
});
