// Unit tests of the page's formatting (assets/format.js), under node's test runner.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compact, counted, esc, seconds, signedPercent, thousands } from '../../../assets/format.js';

test('compact writes K, M, B and T with one decimal', () => {
  assert.equal(compact(27_215_000), '27.2M');
  assert.equal(compact(950), '950');
  assert.equal(compact(1_500), '1.5K');
  assert.equal(compact(3_400_000_000), '3.4B');
  assert.equal(compact(2e12), '2.0T');
  assert.equal(compact(-12_000), '-12.0K');
});

test('compact carries a value that rounds up to the next unit', () => {
  assert.equal(compact(999_960), '1.0M');
  assert.equal(compact(999_949), '999.9K');
});

test('missing and non-finite numbers read as a dash', () => {
  for (const value of [undefined, null, NaN, Infinity]) {
    assert.equal(compact(value), '—');
    assert.equal(thousands(value, 2), '—');
    assert.equal(signedPercent(value), '—');
    assert.equal(seconds(value), '—');
  }
});

test('thousands separators with fixed decimals', () => {
  assert.equal(thousands(12345.678, 2), '12,345.68');
  assert.equal(thousands(1234567), '1,234,567');
  assert.equal(thousands(5, 2), '5.00');
});

test('a signed percentage has a true minus and no sign at zero', () => {
  assert.equal(signedPercent(1.234), '+1.23%');
  assert.equal(signedPercent(-0.5), '−0.50%');
  assert.equal(signedPercent(0.001), '0.00%');
});

test('durations', () => {
  assert.equal(seconds(0.25), '250 ms');
  assert.equal(seconds(12.34), '12.3 s');
  assert.equal(seconds(125), '2m 5s');
});

test('escaping and counting', () => {
  assert.equal(esc('<a href="x">&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  assert.equal(counted(1, 'symbol'), '1 symbol');
  assert.equal(counted(1200, 'symbol'), '1,200 symbols');
});
