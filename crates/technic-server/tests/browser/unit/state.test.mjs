// Unit tests of the view in the URL and the saved views (assets/state.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeState, emptyState, encodeState, parseViews, viewOf } from '../../../assets/state.js';

test('defaults make an empty fragment', () => {
  assert.equal(encodeState(emptyState()), '');
});

test('a view survives a round trip through the fragment', () => {
  const state = {
    ...emptyState(),
    scan: 'abc-123',
    form: { min_tech_rating: '99', sectors: 'Energy,Utilities', enable_streaming: '0', where: 'rsi_14 < 30' },
    filter: { text: 'a&b', signal: 'BUY', sector: 'Energy', tier: 'high' },
    sort: { key: 'close', dir: 'asc' },
    columns: ['symbol', 'close', 'signal'],
    every: 5,
  };
  const fragment = encodeState(state);
  assert.deepEqual(decodeState(`#${fragment}`), state);
});

test('a malformed or old link opens with defaults where it makes no sense', () => {
  const state = decodeState('#sort=nonsense.up&cols=bogus&every=-3&scan=x');
  assert.deepEqual(state.sort, { key: 'tech_rating', dir: 'desc' });
  assert.deepEqual(state.columns, emptyState().columns);
  assert.equal(state.every, 0);
  assert.equal(state.scan, 'x');
  assert.deepEqual(decodeState('#cols=close').columns, ['symbol', 'close']);
});

test('a saved view has no scan, and broken storage reads as no views', () => {
  assert.equal(viewOf({ ...emptyState(), scan: 'x', form: { max_symbols: '40' } }), 'max_symbols=40');
  assert.deepEqual(parseViews('not json'), {});
  assert.deepEqual(parseViews('[1]'), {});
  assert.deepEqual(parseViews('{"a":"q=1","b":3}'), { a: 'q=1' });
});
