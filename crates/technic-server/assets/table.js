// @ts-check
// The results table, virtualised: only the rows in (and just around) the scroll box are in the
// DOM, between two spacer rows that keep the scroll height true, so 10,000 rows sort, filter and
// scroll as fast as 50. Every row has the same height (a CSS variable, larger for the phone's
// cards), which is what lets a scroll position map to a row without measuring any.

import { esc, fixed } from './format.js';
import { COLUMNS, SIGNALS, TIERS, cellText, columnOf } from './rows.js';

/** @typedef {import('./rows.js').Row} Row */
/** @typedef {import('./rows.js').Sort} Sort */

/** Rows drawn above and below the visible ones, so a fast scroll does not show blank space. */
const OVERSCAN = 8;
/** Columns a phone's card shows, whatever the chooser says. */
export const CARD_COLUMNS = ['symbol', 'signal', 'tech_rating', 'change_pct', 'name', 'close'];

/**
 * @param {string} signal
 * @returns {string}
 */
export function signalBadge(signal) {
  const s = SIGNALS[signal];
  return s
    ? `<span class="badge signal-${esc(signal)}"><span aria-hidden="true">${s.mark}</span> ${s.label}</span>`
    : esc(signal);
}

/**
 * @param {string | null | undefined} tier
 * @returns {string}
 */
export function tierBadge(tier) {
  const t = TIERS[tier ?? 'none'];
  return `<span class="badge tier-${esc(tier ?? 'none')}">${esc(t ? t.label : tier)}</span>`;
}

/**
 * One cell's HTML.
 * @param {Row} row
 * @param {string} key
 * @returns {string}
 */
export function cellHtml(row, key) {
  const d = row.data;
  const text = esc(cellText(row, key));
  switch (key) {
    case 'symbol': return `<th scope="row" class="c-symbol">${text}</th>`;
    case 'name': return `<td class="c-name" title="${text}">${text}</td>`;
    case 'sector': return `<td class="c-sector" title="${text}">${text}</td>`;
    case 'signal': return `<td class="c-signal">${signalBadge(d.signal)}</td>`;
    case 'priority_tier': return `<td class="c-priority_tier">${tierBadge(d.priority_tier)}</td>`;
    case 'tech_rating':
      return `<td class="num c-tech_rating"><span class="meter" style="--v:${fixed(d.tech_rating, 1)}%" aria-hidden="true"></span>${text}</td>`;
    case 'change_pct': {
      const direction = (d.change_pct ?? 0) > 0 ? 'up' : (d.change_pct ?? 0) < 0 ? 'down' : 'flat';
      return `<td class="num c-change_pct chg-${direction}">${text}</td>`;
    }
    default: {
      const column = columnOf(key);
      return `<td class="${column && column.kind === 'num' ? 'num ' : ''}c-${esc(key)}">${text}</td>`;
    }
  }
}

/**
 * @typedef {object} Highlights what changed since the scan before (auto-rescan)
 * @property {Set<string>} added
 * @property {Map<string, string>} changed symbol → its signal before
 */

/**
 * @param {Row} row
 * @param {string[]} keys
 * @param {number} index 0-based place among the visible rows
 * @param {Highlights | null} highlights
 * @returns {string}
 */
export function rowHtml(row, keys, index, highlights) {
  const d = row.data;
  const classes = [];
  if (d.high_quality) classes.push('hq');
  let note = '';
  if (highlights && highlights.added.has(d.symbol)) {
    classes.push('is-new');
    note = ' title="New since the last scan"';
  } else if (highlights && highlights.changed.has(d.symbol)) {
    classes.push('sig-changed');
    const before = SIGNALS[highlights.changed.get(d.symbol) ?? ''];
    note = ` title="Signal was ${esc(before ? before.label : highlights.changed.get(d.symbol))}"`;
  }
  const tier = d.priority_tier || 'none';
  return `<tr tabindex="-1" aria-rowindex="${index + 2}" data-index="${index}" data-symbol="${esc(d.symbol)}" data-seq="${row.seq ?? ''}" data-signal="${esc(d.signal)}" data-sector="${esc(d.sector)}" data-tier="${esc(tier)}" data-rating="${d.tech_rating}" data-rank="${d.rank || ''}" data-alpha="${d.alpha_score ?? ''}"${classes.length ? ` class="${classes.join(' ')}"` : ''}${note}>${keys.map((k) => cellHtml(row, k)).join('')}</tr>`;
}

/**
 * @typedef {object} TableParts
 * @property {HTMLElement} wrap the scroll box
 * @property {HTMLTableElement} table
 * @property {HTMLTableRowElement} head
 * @property {HTMLTableSectionElement} body
 */

export class VirtualTable {
  /**
   * @param {TableParts} parts
   * @param {(row: Row) => void} open what a click or Enter on a row does
   */
  constructor(parts, open) {
    this.parts = parts;
    this.open = open;
    /** @type {Row[]} */
    this.rows = [];
    /** @type {string[]} */
    this.keys = [];
    /** @type {Highlights | null} */
    this.highlights = null;
    this.emptyText = '';
    this.drawn = '';
    /** Row index that keeps keyboard focus across redraws; -1 = none. */
    this.focusIndex = -1;
    this.cards = window.matchMedia('(max-width: 640px)');
    /** Read from the style sheet when the layout may have changed, not on every draw. */
    this.height = 0;
    // The scroll position as last seen, so a redraw after a sort reads no layout (reading it
    // would make the browser lay the page out twice in one frame).
    this.scrollTop = 0;
    parts.wrap.addEventListener('scroll', () => {
      this.scrollTop = parts.wrap.scrollTop;
      this.draw();
    }, { passive: true });
    this.cards.addEventListener('change', () => {
      this.height = 0;
      this.draw(true);
    });
    window.addEventListener('resize', () => {
      this.height = 0;
      this.draw();
    });
    parts.body.addEventListener('click', (event) => {
      const target = /** @type {HTMLElement} */ (event.target);
      const tr = /** @type {HTMLElement | null} */ (target.closest('tr[data-index]'));
      if (tr) this.openAt(Number(tr.dataset.index));
    });
    parts.body.addEventListener('keydown', (event) => this.key(event));
  }

  /** The columns drawn: the chooser's on a wide screen, the card's on a phone. */
  shownKeys() {
    return this.cards.matches ? CARD_COLUMNS : this.keys;
  }

  rowHeight() {
    if (!this.height) {
      const value = Number.parseFloat(getComputedStyle(this.parts.wrap).getPropertyValue('--row-h'));
      this.height = Number.isFinite(value) && value > 0 ? value : 32;
    }
    return this.height;
  }

  /**
   * @param {Row[]} rows the visible rows, in order
   * @param {string[]} keys
   * @param {Highlights | null} highlights
   * @param {string} emptyText what an empty table says
   */
  set(rows, keys, highlights, emptyText) {
    this.rows = rows;
    this.keys = keys;
    this.highlights = highlights;
    this.emptyText = emptyText;
    this.draw(true);
  }

  /** @param {boolean} [force] */
  draw(force = false) {
    const { wrap, body, table } = this.parts;
    const keys = this.shownKeys();
    table.setAttribute('aria-rowcount', String(this.rows.length + 1));
    if (!this.rows.length) {
      const html = `<tr class="empty"><td colspan="${keys.length}">${esc(this.emptyText)}</td></tr>`;
      if (force || this.drawn !== html) body.innerHTML = html;
      this.drawn = html;
      return;
    }
    const height = this.rowHeight();
    // The box is at most the window's height (70vh): reading the window's size costs no layout.
    const first = Math.max(0, Math.floor(this.scrollTop / height) - OVERSCAN);
    const count = Math.ceil(window.innerHeight / height) + 2 * OVERSCAN;
    const last = Math.min(this.rows.length, first + count);
    const signature = `${first}:${last}:${keys.join(',')}`;
    if (!force && signature === this.drawn) return;
    this.drawn = signature;
    const parts = [];
    if (first > 0) parts.push(`<tr class="spacer" aria-hidden="true" style="height:${first * height}px"><td colspan="${keys.length}"></td></tr>`);
    for (let i = first; i < last; i += 1) parts.push(rowHtml(this.rows[i], keys, i, this.highlights));
    const below = this.rows.length - last;
    if (below > 0) parts.push(`<tr class="spacer" aria-hidden="true" style="height:${below * height}px"><td colspan="${keys.length}"></td></tr>`);
    const hadFocus = body.contains(document.activeElement);
    body.innerHTML = parts.join('');
    if (hadFocus && this.focusIndex >= 0) this.focusRow(this.focusIndex, false);
  }

  /** @param {number} index */
  openAt(index) {
    const row = this.rows[index];
    if (!row) return;
    this.focusIndex = index;
    this.open(row);
  }

  /**
   * Focuses a row by its index, scrolling it into the box first when it is not drawn.
   * @param {number} index
   * @param {boolean} scroll
   */
  focusRow(index, scroll = true) {
    if (index < 0 || index >= this.rows.length) return;
    this.focusIndex = index;
    const { wrap, body } = this.parts;
    const height = this.rowHeight();
    if (scroll) {
      const top = index * height;
      const headHeight = this.parts.head.getBoundingClientRect().height;
      if (top < wrap.scrollTop) wrap.scrollTop = top;
      else if (top + height > wrap.scrollTop + wrap.clientHeight - headHeight) wrap.scrollTop = top + height - wrap.clientHeight + headHeight;
      this.scrollTop = wrap.scrollTop;
      this.draw();
    }
    const tr = /** @type {HTMLElement | null} */ (body.querySelector(`tr[data-index="${index}"]`));
    if (tr) tr.focus({ preventScroll: true });
  }

  /**
   * Up and down move between rows, Enter opens the focused one.
   * @param {KeyboardEvent} event
   */
  key(event) {
    const target = /** @type {HTMLElement} */ (event.target);
    const tr = /** @type {HTMLElement | null} */ (target.closest('tr[data-index]'));
    if (!tr) return;
    const index = Number(tr.dataset.index);
    if (event.key === 'Enter') {
      event.preventDefault();
      this.openAt(index);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      this.focusRow(index + (event.key === 'ArrowDown' ? 1 : -1));
    }
  }

  /** Puts keyboard focus on the first row (from the table's box). */
  focusFirst() {
    if (this.rows.length) this.focusRow(Math.max(0, this.focusIndex), true);
  }
}

/**
 * The table head: one sort button per column.
 * @param {string[]} keys
 * @param {Sort} sort
 * @returns {string}
 */
export function headHtml(keys, sort) {
  return keys.map((key) => {
    const c = columnOf(key) ?? COLUMNS[0];
    const active = sort.key === c.key;
    const aria = active ? ` aria-sort="${sort.dir === 'asc' ? 'ascending' : 'descending'}"` : '';
    const arrow = active ? (sort.dir === 'asc' ? '▲' : '▼') : '↕';
    const cls = `c-${c.key}${c.kind === 'num' ? ' num' : ''}`;
    const help = c.help ? ` title="${esc(c.help)}"` : '';
    return `<th scope="col" class="${cls}"${aria}><button type="button" class="sort" data-sort="${c.key}" data-testid="sort-${c.key}"${help}>${esc(c.label)}<span class="arrow" aria-hidden="true">${arrow}</span></button></th>`;
  }).join('');
}
