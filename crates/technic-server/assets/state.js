// @ts-check
// The view in the URL: the scan, the form, the result filters, the sort and the columns, in the
// fragment (`#scan=…&min_tech_rating=99&sort=close.asc`), so a reload or a shared link shows the
// same view and nothing of it is sent to the server. Only what differs from the defaults is
// written, which keeps links short. Pure: the page reads and writes the DOM around it.

import { COLUMNS, defaultColumns } from './rows.js';

/**
 * @typedef {object} ViewState
 * @property {string | null} scan
 * @property {Record<string, string>} form the form's fields by name (checkboxes '1'/'0', the
 *   ticked sectors joined by commas), only those that differ from the form's defaults
 * @property {import('./rows.js').Filter} filter
 * @property {import('./rows.js').Sort} sort
 * @property {string[]} columns
 * @property {number} every auto-rescan period in minutes, 0 = off
 */

export const DEFAULT_SORT = /** @type {import('./rows.js').Sort} */ ({ key: 'tech_rating', dir: 'desc' });
/** Fragment keys that are not form fields. */
const RESERVED = new Set(['scan', 'q', 'signal', 'sector', 'tier', 'sort', 'cols', 'every']);

/** @returns {ViewState} */
export function emptyState() {
  return {
    scan: null,
    form: {},
    filter: { text: '', signal: '', sector: '', tier: '' },
    sort: { ...DEFAULT_SORT },
    columns: defaultColumns(),
    every: 0,
  };
}

/**
 * @param {ViewState} state
 * @returns {string} the fragment, without '#'
 */
export function encodeState(state) {
  const params = new URLSearchParams();
  if (state.scan) params.set('scan', state.scan);
  for (const [name, value] of Object.entries(state.form)) if (!RESERVED.has(name)) params.set(name, value);
  if (state.filter.text) params.set('q', state.filter.text);
  if (state.filter.signal) params.set('signal', state.filter.signal);
  if (state.filter.sector) params.set('sector', state.filter.sector);
  if (state.filter.tier) params.set('tier', state.filter.tier);
  if (state.sort.key !== DEFAULT_SORT.key || state.sort.dir !== DEFAULT_SORT.dir) {
    params.set('sort', `${state.sort.key}.${state.sort.dir}`);
  }
  if (state.columns.join(',') !== defaultColumns().join(',')) params.set('cols', state.columns.join(','));
  if (state.every > 0) params.set('every', String(state.every));
  return params.toString();
}

/**
 * Reads a fragment back; anything unknown or malformed is left at its default, so an edited or
 * old link still opens.
 * @param {string} fragment with or without '#'
 * @returns {ViewState}
 */
export function decodeState(fragment) {
  const state = emptyState();
  const params = new URLSearchParams(fragment.replace(/^#/, ''));
  state.scan = params.get('scan') || null;
  for (const [name, value] of params) if (!RESERVED.has(name)) state.form[name] = value;
  state.filter = {
    text: params.get('q') || '',
    signal: params.get('signal') || '',
    sector: params.get('sector') || '',
    tier: params.get('tier') || '',
  };
  const sort = /^(\w+)\.(asc|desc)$/.exec(params.get('sort') || '');
  if (sort && COLUMNS.some((c) => c.key === sort[1])) {
    state.sort = { key: sort[1], dir: /** @type {'asc' | 'desc'} */ (sort[2]) };
  }
  const cols = (params.get('cols') || '').split(',').filter((k) => COLUMNS.some((c) => c.key === k));
  if (cols.length) state.columns = cols.includes('symbol') ? cols : ['symbol', ...cols];
  const every = Number(params.get('every'));
  if (Number.isFinite(every) && every > 0) state.every = every;
  return state;
}

/**
 * Named views kept in local storage: a name and the fragment of the view, without its scan (a
 * view is settings, not one scan's results).
 * @param {string | null} stored
 * @returns {Record<string, string>}
 */
export function parseViews(stored) {
  try {
    const views = JSON.parse(stored || '{}');
    if (!views || typeof views !== 'object' || Array.isArray(views)) return {};
    return Object.fromEntries(Object.entries(views).filter(([, v]) => typeof v === 'string'));
  } catch {
    return {};
  }
}

/**
 * @param {ViewState} state
 * @returns {string}
 */
export function viewOf(state) {
  return encodeState({ ...state, scan: null });
}
