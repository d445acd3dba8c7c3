// @ts-check
// The results as rows: columns, sorting, filtering and CSV. Pure functions over the model's rows,
// unit-tested under node; the table draws whatever `visibleRows` returns.

import { compact, fixed, signedPercent, thousands } from './format.js';

/**
 * A result as the server sends it (ScanResult): the fields the table uses are named, the rest
 * (indicator values, sub-scores) is kept whole for the symbol's detail.
 * @typedef {object} Result
 * @property {string} symbol
 * @property {string} [name]
 * @property {string} [sector]
 * @property {string} signal
 * @property {number} tech_rating
 * @property {number | null} [alpha_score]
 * @property {string | null} [priority_tier]
 * @property {number} [close]
 * @property {number} [change_pct]
 * @property {number} [avg_volume_20]
 * @property {string} [trend_direction]
 * @property {number} [rank]
 * @property {boolean} [high_quality]
 * @property {string} [date]
 */

/**
 * A row: the result and the seq of the message it came in (null for a result only the final
 * report carried).
 * @typedef {{data: Result, seq: number | null}} Row
 */

/**
 * @typedef {object} Column
 * @property {string} key
 * @property {string} label
 * @property {'text' | 'num' | 'signal' | 'tier'} kind
 * @property {'asc' | 'desc'} [dir] first direction when sorted by it
 * @property {boolean} [hidden] left out unless chosen
 * @property {string} [help] what the column means, shown as the header's title
 */

/** @type {Record<string, {label: string, mark: string, strength: number}>} */
export const SIGNALS = {
  STRONG_BUY: { label: 'Strong buy', mark: '▲▲', strength: 5 },
  BUY: { label: 'Buy', mark: '▲', strength: 4 },
  HOLD: { label: 'Hold', mark: '■', strength: 3 },
  SELL: { label: 'Sell', mark: '▼', strength: 2 },
  STRONG_SELL: { label: 'Strong sell', mark: '▼▼', strength: 1 },
};

/** @type {Record<string, {label: string, strength: number}>} */
export const TIERS = {
  high: { label: 'High', strength: 3 },
  medium: { label: 'Medium', strength: 2 },
  low: { label: 'Low', strength: 1 },
  none: { label: 'No tier', strength: 0 },
};

/** @type {Column[]} */
export const COLUMNS = [
  { key: 'symbol', label: 'Symbol', kind: 'text' },
  { key: 'rank', label: 'Rank', kind: 'num', dir: 'asc', help: 'Place in the final ranking, 1 = best; given when the scan ends' },
  { key: 'name', label: 'Name', kind: 'text' },
  { key: 'sector', label: 'Sector', kind: 'text' },
  { key: 'signal', label: 'Signal', kind: 'signal', help: 'What the rating says to do, from strong sell to strong buy' },
  { key: 'tech_rating', label: 'Rating', kind: 'num', help: 'Technical rating 0–100: the percentile of the symbol’s combined trend, momentum, volume and volatility score' },
  { key: 'alpha_score', label: 'Alpha', kind: 'num', help: 'Alpha score 0–100: the percentile of the symbol’s return factors across the scan' },
  { key: 'priority_tier', label: 'Tier', kind: 'tier', help: 'Priority tier: how likely a signal looked before the full scan, which decides the scan order' },
  { key: 'close', label: 'Close', kind: 'num' },
  { key: 'change_pct', label: 'Change', kind: 'num', help: 'Change of the last close from the one before' },
  { key: 'avg_volume_20', label: 'Avg vol', kind: 'num', help: 'Average daily volume over the last 20 days' },
  { key: 'trend_direction', label: 'Trend', kind: 'text' },
  { key: 'seq', label: 'Arrived', kind: 'num', dir: 'asc', hidden: true, help: 'Order of arrival in the scan’s stream' },
];

/** Columns that are always shown: a row without its symbol means nothing. */
export const FIXED_COLUMNS = ['symbol'];

/** @param {string} key */
export function columnOf(key) {
  return COLUMNS.find((c) => c.key === key);
}

/** @returns {string[]} */
export function defaultColumns() {
  return COLUMNS.filter((c) => !c.hidden).map((c) => c.key);
}

/**
 * The value a row is sorted by in a column; null sorts last whatever the direction.
 * @param {Row} row
 * @param {Column} column
 * @returns {number | string | null}
 */
export function sortValue(row, column) {
  const d = row.data;
  switch (column.kind) {
    case 'signal': return SIGNALS[d.signal] ? SIGNALS[d.signal].strength : null;
    case 'tier': return (TIERS[d.priority_tier ?? 'none'] ?? TIERS.none).strength;
    default: break;
  }
  if (column.key === 'seq') return row.seq;
  const value = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (d))[column.key];
  // Streamed results are ranked only at the end: rank 0 means "not ranked yet".
  if (column.key === 'rank' && value === 0) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return value.toLowerCase();
  return null;
}

/** @typedef {{key: string, dir: 'asc' | 'desc'}} Sort */
/** @typedef {{text: string, signal: string, sector: string, tier: string}} Filter */

/**
 * Rows that pass the filter, in the order given.
 * @param {Iterable<Row>} rows
 * @param {Filter} filter
 * @returns {Row[]}
 */
export function filterRows(rows, filter) {
  const needle = filter.text.trim().toLowerCase();
  const out = [];
  for (const row of rows) {
    const d = row.data;
    if (needle && !d.symbol.toLowerCase().includes(needle) && !(d.name || '').toLowerCase().includes(needle)) continue;
    if (filter.signal && d.signal !== filter.signal) continue;
    if (filter.sector && (d.sector || '') !== filter.sector) continue;
    if (filter.tier && (d.priority_tier || 'none') !== filter.tier) continue;
    out.push(row);
  }
  return out;
}

/**
 * One scan's rows made ready for the table: read once, in symbol order, then sorted and filtered
 * any number of times. Each column's sort keys become one number per row (a text column's its
 * place in that column's order), so a sort compares numbers only, ties fall to the symbol order
 * by position, and the order for a column and direction is kept for next time; a filter walks
 * that order over strings lowered once. 10,000 rows sort and filter in a few milliseconds.
 * One row per symbol: a later row of the same symbol replaces an earlier one, as in the model.
 */
export class RowIndex {
  /** @param {Iterable<Row>} rows */
  constructor(rows) {
    /** @type {Map<string, Row>} */
    const bySymbol = new Map();
    for (const row of rows) bySymbol.set(row.data.symbol, row);
    // The default sort compares UTF-16 code units natively: faster than any comparator.
    /** @type {Row[]} in symbol order */
    this.rows = [...bySymbol.keys()].sort().map((symbol) => /** @type {Row} */ (bySymbol.get(symbol)));
    const n = this.rows.length;
    /** @type {string[]} */
    this.signals = new Array(n);
    /** @type {string[]} */
    this.sectors = new Array(n);
    /** @type {string[]} */
    this.tiers = new Array(n);
    for (let i = 0; i < n; i += 1) {
      const d = this.rows[i].data;
      this.signals[i] = d.signal;
      this.sectors[i] = d.sector || '';
      this.tiers[i] = d.priority_tier || 'none';
    }
    /** @type {{symbols: string[], names: string[]} | null} lowered on the first text filter */
    this.lowered = null;
    /** @type {Map<string, Int32Array>} "key.dir" → positions in that order */
    this.orders = new Map();
  }

  /**
   * Each row's sort key as a number, ascending; NaN where the row has no value. A text column's
   * key is the text's place among the column's distinct texts (the symbol's, its place in the
   * symbol order: by code unit, as tickers are upper case).
   * @param {Column} column
   * @returns {Float64Array}
   */
  keys(column) {
    const n = this.rows.length;
    const keys = new Float64Array(n);
    // The rows are in symbol order already.
    if (column.key === 'symbol') {
      for (let i = 0; i < n; i += 1) keys[i] = i;
      return keys;
    }
    const numeric = column.kind !== 'text' || column.key === 'seq';
    /** @type {(string | undefined)[]} */
    const texts = numeric ? [] : new Array(n);
    for (let i = 0; i < n; i += 1) {
      const value = sortValue(this.rows[i], column);
      if (value === null) keys[i] = Number.NaN;
      else if (numeric) keys[i] = Number(value);
      else texts[i] = String(value);
    }
    if (numeric) return keys;
    /** @type {Set<string>} */
    const distinct = new Set();
    for (const text of texts) if (text !== undefined) distinct.add(text);
    /** @type {Map<string, number>} */
    const place = new Map();
    [...distinct].sort().forEach((text, k) => place.set(text, k));
    for (let i = 0; i < n; i += 1) {
      const text = texts[i];
      if (text !== undefined) keys[i] = /** @type {number} */ (place.get(text));
    }
    return keys;
  }

  /**
   * The positions of every row in a sort's order: by the key, ties by symbol, rows without a
   * value last whatever the direction.
   * @param {Sort} sort
   * @returns {Int32Array}
   */
  order(sort) {
    const column = columnOf(sort.key) ?? /** @type {Column} */ (columnOf('tech_rating'));
    const name = `${column.key}.${sort.dir}`;
    const known = this.orders.get(name);
    if (known) return known;
    const keys = this.keys(column);
    const sign = sort.dir === 'asc' ? 1 : -1;
    for (let i = 0; i < keys.length; i += 1) keys[i] = Number.isNaN(keys[i]) ? Infinity : sign * keys[i];
    const order = new Int32Array(keys.length);
    for (let i = 0; i < order.length; i += 1) order[i] = i;
    // Infinity − Infinity is NaN, which falls through to the position, as a tie does.
    order.sort((a, b) => (keys[a] - keys[b]) || (a - b));
    this.orders.set(name, order);
    return order;
  }

  /** The symbols and names in lower case, for the text filter; made once. */
  lower() {
    if (!this.lowered) {
      this.lowered = {
        symbols: this.rows.map((r) => r.data.symbol.toLowerCase()),
        names: this.rows.map((r) => (r.data.name || '').toLowerCase()),
      };
    }
    return this.lowered;
  }

  /**
   * The rows that pass the filter, in the sort's order.
   * @param {Filter} filter
   * @param {Sort} sort
   * @returns {Row[]}
   */
  visible(filter, sort) {
    const order = this.order(sort);
    const needle = filter.text.trim().toLowerCase();
    const { signal, sector, tier } = filter;
    if (!needle && !signal && !sector && !tier) {
      const out = new Array(order.length);
      for (let k = 0; k < order.length; k += 1) out[k] = this.rows[order[k]];
      return out;
    }
    const lowered = needle ? this.lower() : { symbols: [], names: [] };
    const out = [];
    for (let k = 0; k < order.length; k += 1) {
      const i = order[k];
      if (signal && this.signals[i] !== signal) continue;
      if (sector && this.sectors[i] !== sector) continue;
      if (tier && this.tiers[i] !== tier) continue;
      if (needle && !lowered.symbols[i].includes(needle) && !lowered.names[i].includes(needle)) continue;
      out.push(this.rows[i]);
    }
    return out;
  }
}

/**
 * Rows sorted by one column; ties, and equal keys, fall back to the symbol, so the order is
 * total and the same on every render.
 * @param {Iterable<Row>} rows
 * @param {Sort} sort
 * @returns {Row[]}
 */
export function sortRows(rows, sort) {
  return new RowIndex(rows).visible({ text: '', signal: '', sector: '', tier: '' }, sort);
}

/**
 * @param {Iterable<Row>} rows
 * @param {Filter} filter
 * @param {Sort} sort
 * @returns {Row[]}
 */
export function visibleRows(rows, filter, sort) {
  return new RowIndex(rows).visible(filter, sort);
}

/**
 * A cell's text as shown (and exported): the same formatting everywhere.
 * @param {Row} row
 * @param {string} key
 * @returns {string}
 */
export function cellText(row, key) {
  const d = row.data;
  switch (key) {
    case 'symbol': return d.symbol;
    case 'rank': return d.rank ? String(d.rank) : '—';
    case 'name': return d.name || '';
    case 'sector': return d.sector || '—';
    case 'signal': return SIGNALS[d.signal] ? SIGNALS[d.signal].label : d.signal;
    case 'tech_rating': return fixed(d.tech_rating, 1);
    case 'alpha_score': return d.alpha_score === null || d.alpha_score === undefined ? '—' : d.alpha_score.toFixed(2);
    case 'priority_tier': return (TIERS[d.priority_tier ?? 'none'] ?? { label: String(d.priority_tier) }).label;
    case 'close': return thousands(d.close, 2);
    case 'change_pct': return signedPercent(d.change_pct);
    case 'avg_volume_20': return compact(d.avg_volume_20);
    case 'trend_direction': return d.trend_direction || '—';
    case 'seq': return row.seq === null ? '—' : String(row.seq);
    default: return '';
  }
}

/**
 * A CSV field: quoted when it holds a comma, quote or line break (RFC 4180); a leading =, +, -
 * or @ gets a quote mark in front, so a spreadsheet does not run a name as a formula.
 * @param {unknown} value
 * @returns {string}
 */
export function csvField(value) {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@]/.test(text) && !/^-?\d/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The rows as CSV with the given columns: raw values (full precision, no K/M/B), so the file
 * is data for a spreadsheet, not a picture of the table.
 * @param {Row[]} rows
 * @param {string[]} keys
 * @returns {string}
 */
export function toCsv(rows, keys) {
  const header = keys.map((k) => csvField(k)).join(',');
  const lines = rows.map((row) => keys.map((k) => {
    if (k === 'seq') return csvField(row.seq);
    const value = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (row.data))[k];
    if (k === 'rank' && value === 0) return '';
    return csvField(value);
  }).join(','));
  return `${[header, ...lines].join('\r\n')}\r\n`;
}
