// Unit tests of the scan model's seq handling (assets/model.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyMessage, changesBetween, finished, freshScan } from '../../../assets/model.js';

const result = (seq, symbol, extra = {}) => ({ type: 'result', metadata: { seq }, data: { symbol, signal: 'BUY', tech_rating: 60, ...extra } });

test('each seq is applied once; a replay is counted and dropped', () => {
  const scan = freshScan();
  assert.equal(applyMessage(scan, result(1, 'AAA'), true), 'applied');
  assert.equal(applyMessage(scan, result(2, 'BBB'), true), 'applied');
  assert.equal(applyMessage(scan, result(2, 'BBB', { tech_rating: 1 }), true), 'replay');
  assert.equal(applyMessage(scan, result(1, 'AAA'), false), 'replay');
  assert.equal(scan.replays, 2);
  assert.equal(scan.rows.get('BBB').data.tech_rating, 60);
  assert.equal(scan.lastSeq, 2);
});

test('a jump on a contiguous stream is a gap and changes nothing; polling may jump', () => {
  const scan = freshScan();
  applyMessage(scan, result(1, 'AAA'), true);
  assert.equal(applyMessage(scan, result(3, 'CCC'), true), 'gap');
  assert.equal(scan.lastSeq, 1);
  assert.equal(scan.rows.has('CCC'), false);
  assert.equal(applyMessage(scan, result(3, 'CCC'), false), 'applied');
  assert.equal(scan.lastSeq, 3);
});

test('messages without a seq (keep-alives) are ignored', () => {
  const scan = freshScan();
  assert.equal(applyMessage(scan, { type: 'keep_alive' }, true), 'ignored');
  assert.equal(applyMessage(scan, null, true), 'ignored');
  assert.equal(scan.lastSeq, 0);
});

test('the final message ranks the streamed rows and keeps their seq', () => {
  const scan = freshScan();
  applyMessage(scan, result(1, 'AAA'), true);
  applyMessage(scan, result(2, 'BBB'), true);
  const complete = {
    type: 'complete', metadata: { seq: 3 },
    data: {
      status: 'completed', diagnostics: [], metrics: { symbols_total: 2 },
      ranking: [
        { symbol: 'BBB', rank: 1, alpha_score: 80, tech_rating: 90, signal: 'STRONG_BUY', high_quality: true },
        { symbol: 'AAA', rank: 2, alpha_score: 20, tech_rating: 40, signal: 'HOLD', high_quality: false },
      ],
    },
  };
  assert.equal(applyMessage(scan, complete, true), 'applied');
  assert.ok(finished(scan));
  assert.equal(scan.status, 'completed');
  assert.deepEqual(scan.rows.get('BBB'), { data: { symbol: 'BBB', signal: 'STRONG_BUY', tech_rating: 90, rank: 1, alpha_score: 80, high_quality: true }, seq: 2 });
  assert.equal(scan.final.resultCount, 2);
});

test('a final message naming a result never received asks for the whole report', () => {
  const scan = freshScan();
  applyMessage(scan, result(1, 'AAA'), true);
  const complete = {
    type: 'complete', metadata: { seq: 2 },
    data: { status: 'completed', diagnostics: [], metrics: {}, ranking: [{ symbol: 'ZZZ', rank: 1, alpha_score: 1, tech_rating: 1, signal: 'SELL', high_quality: false }] },
  };
  assert.equal(applyMessage(scan, complete, true), 'incomplete');
  assert.equal(finished(scan), false);
  assert.equal(scan.rows.has('AAA'), true);
});

test('progress sets the status unless a stop was asked for', () => {
  const scan = freshScan();
  applyMessage(scan, { type: 'progress', metadata: { seq: 1 }, data: { status: 'running', stages: {} } }, true, 5);
  assert.equal(scan.status, 'running');
  assert.equal(scan.progressAt, 5);
  scan.stopRequested = true;
  applyMessage(scan, { type: 'progress', metadata: { seq: 2 }, data: { status: 'running', stages: {} } }, true);
  assert.equal(scan.status, 'stopping');
});

test('an error message fails the scan', () => {
  const scan = freshScan();
  applyMessage(scan, { type: 'error', metadata: { seq: 1 }, data: { message: 'disk full' } }, true);
  assert.equal(scan.status, 'failed');
  assert.equal(scan.error, 'disk full');
});

test('changes between two scans: new, gone and changed signal', () => {
  const rows = (list) => new Map(list.map(([symbol, signal]) => [symbol, { data: { symbol, signal, tech_rating: 1 }, seq: 1 }]));
  const { added, gone, changed } = changesBetween(rows([['AAA', 'BUY'], ['BBB', 'SELL']]), rows([['AAA', 'HOLD'], ['CCC', 'BUY']]));
  assert.deepEqual([...added], ['CCC']);
  assert.deepEqual(gone, ['BBB']);
  assert.deepEqual([...changed], [['AAA', 'BUY']]);
});
