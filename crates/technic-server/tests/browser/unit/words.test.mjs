// Unit tests of the page's plain words (assets/words.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { causeOf, describeRequest, diagnosticText, headline, outcomes, progressText, stopReasonText } from '../../../assets/words.js';

test('every stop reason of the engine reads as plain words', () => {
  const reasons = [
    ['max_signals reached: 5 high-quality signals', /found 5 high-quality signals/],
    ['max_percent_scanned reached: 25% of symbols scanned', /25% of the symbols/],
    ['timeout_seconds reached: 2 s', /time limit of 2 seconds/],
    ['stopped by POST /scan/stop', /^You stopped the scan\.$/],
  ];
  for (const [reason, expected] of reasons) {
    const text = stopReasonText(reason);
    assert.match(text, expected);
    assert.doesNotMatch(text, /_|POST|reached/, `no code in "${text}"`);
  }
});

test('a diagnostic without a cause is read from its kind and message', () => {
  assert.equal(causeOf({ kind: 'error', message: 'bad line 3' }), 'error');
  assert.equal(causeOf({ kind: 'skipped', message: 'not scanned: the scan stopped first (x)' }), 'not_scanned');
  assert.equal(causeOf({ kind: 'skipped', message: 'tech_rating 50.0 is below min_tech_rating 99' }), 'filtered');
  assert.equal(causeOf({ kind: 'skipped', message: 'too little history for the rating: 20 bars' }), 'no_data');
  assert.equal(causeOf({ kind: 'skipped', message: 'whatever', cause: 'filtered' }), 'filtered');
});

test('counts of a finished scan add up to its symbols', () => {
  const report = {
    metrics: { symbols_total: 6 },
    diagnostics: [
      { kind: 'skipped', message: 'tech_rating 50.0 is below min_tech_rating 99', cause: 'filtered' },
      { kind: 'skipped', message: 'no bars', cause: 'no_data' },
      { kind: 'skipped', message: 'not scanned: the scan stopped first (x)', cause: 'not_scanned' },
      { kind: 'error', message: 'bad file', cause: 'error' },
    ],
  };
  const counts = outcomes(report, 2);
  assert.deepEqual(counts, { total: 6, results: 2, filtered: 1, no_data: 1, not_scanned: 1, error: 1 });
  assert.equal(counts.results + counts.filtered + counts.no_data + counts.not_scanned + counts.error, counts.total);
});

test('the headline of a scan where everything was filtered out says so', () => {
  const counts = { total: 500, results: 0, filtered: 490, no_data: 10, not_scanned: 0, error: 0 };
  assert.match(headline('completed', null, counts), /no symbol passed your filters \(490 filtered out\)/);
  assert.doesNotMatch(headline('completed', null, counts), /Every symbol was scanned/);
  assert.match(headline('stopped', 'stopped by POST /scan/stop', counts), /You stopped/);
});

test('diagnostics in plain words', () => {
  assert.equal(diagnosticText({ kind: 'skipped', message: 'tech_rating 50.2 is below min_tech_rating 99' }), 'Rating 50.2 is below your minimum of 99.');
  assert.match(diagnosticText({ kind: 'skipped', message: 'not scanned: the scan stopped first (stopped by POST /scan/stop)' }), /^Not scanned: the scan stopped/);
});

test('the settings of a request, in words', () => {
  const parts = describeRequest({
    sectors: ['Energy'], min_tech_rating: 99, min_avg_volume: 1_000_000,
    termination_criteria: { max_signals: 5, min_signal_rating: 70 }, where: 'rsi_14 < 30',
  });
  assert.deepEqual(parts, ['Sectors: Energy', 'Rating ≥ 99', 'Avg volume ≥ 1.0M', 'Where rsi_14 < 30', 'Stop at 5 signals rated ≥ 70']);
  assert.deepEqual(describeRequest({}), ['All sectors']);
});

test('the live progress keeps filtered-out and no-data apart, and never says skipped', () => {
  assert.equal(progressText('Scanning AAPL (1200/5000): 800 results, 300 filtered out, 100 without data'),
    'Scanning AAPL, 1,200 of 5,000: 800 results, 300 filtered out, 100 without data');
  assert.equal(progressText('Scanning BRK.B (3/10): 1 result, 0 filtered out, 2 without data, 1 error'),
    'Scanning BRK.B, 3 of 10: 1 result, 0 filtered out, 2 without data, 1 error');
  // An older server's message, without the counts, and other stages' messages pass as they are.
  assert.equal(progressText('Scanning X (1/2)'), 'Scanning X, 1 of 2');
  assert.equal(progressText('Snapshot of 500 symbols'), 'Snapshot of 500 symbols');
  assert.equal(progressText(''), '');
  assert.doesNotMatch(progressText('Scanning A (5/9): 1 result, 3 filtered out, 1 without data'), /skip/i);
});
