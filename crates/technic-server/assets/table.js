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
const OVERSCAN = 4;
/**
 * The scroll box's greatest height as a share of the window's (`max-height: 70vh` in app.css):
 * the rows that fit are all that is drawn, as each drawn row costs its share of a sort's style,
 * layout and paint.
 */
const BOX_SHARE = 0.7;
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
 * @param {boolean} [tabStop] the one row Tab lands on
 * @returns {string}
 */
export function rowHtml(row, keys, index, highlights, tabStop = false) {
  const d = row.data;
  const marks = rowMarks(d, highlights);
  const classes = marks.classes;
  const note = marks.note ? ` title="${esc(marks.note)}"` : '';
  const tier = d.priority_tier || 'none';
  return `<tr tabindex="${tabStop ? 0 : -1}" aria-rowindex="${index + 2}" data-index="${index}" data-symbol="${esc(d.symbol)}" data-seq="${row.seq ?? ''}" data-signal="${esc(d.signal)}" data-sector="${esc(d.sector)}" data-tier="${esc(tier)}" data-rating="${d.tech_rating}" data-rank="${d.rank || ''}" data-alpha="${d.alpha_score ?? ''}"${classes.length ? ` class="${classes.join(' ')}"` : ''}${note}>${keys.map((k) => cellHtml(row, k)).join('')}</tr>`;
}

/**
 * A row's classes and its title (plain text): high quality, and what changed since the last scan.
 * @param {Row['data']} d
 * @param {Highlights | null} highlights
 * @returns {{ classes: string[], note: string }}
 */
function rowMarks(d, highlights) {
  const classes = [];
  if (d.high_quality) classes.push('hq');
  let note = '';
  if (highlights && highlights.added.has(d.symbol)) {
    classes.push('is-new');
    note = 'New since the last scan';
  } else if (highlights && highlights.changed.has(d.symbol)) {
    classes.push('sig-changed');
    const before = SIGNALS[highlights.changed.get(d.symbol) ?? ''];
    note = `Signal was ${before ? before.label : highlights.changed.get(d.symbol)}`;
  }
  return { classes, note };
}

/**
 * A cell's text, written only where it changed (the browser then has nothing to redo).
 * @param {Element} cell
 * @param {string} text
 */
function setText(cell, text) {
  const node = cell.lastChild;
  if (node && node.nodeType === Node.TEXT_NODE && node === cell.firstChild) {
    if (node.nodeValue !== text) node.nodeValue = text;
  } else if (cell.textContent !== text) {
    cell.textContent = text;
  }
}

/**
 * @param {Element} element
 * @param {string} name
 * @param {string} value
 */
function setAttr(element, name, value) {
  if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

/**
 * Writes one row into a row element `rowHtml` made for the same columns: the same attributes
 * and cells as `rowHtml(row, keys, index, highlights, tabStop)` would give.
 * @param {HTMLTableRowElement} tr
 * @param {Row} row
 * @param {string[]} keys
 * @param {number} index
 * @param {Highlights | null} highlights
 * @param {boolean} tabStop
 */
export function fillRow(tr, row, keys, index, highlights, tabStop) {
  const d = row.data;
  const { classes, note } = rowMarks(d, highlights);
  setAttr(tr, 'tabindex', tabStop ? '0' : '-1');
  setAttr(tr, 'aria-rowindex', String(index + 2));
  setAttr(tr, 'data-index', String(index));
  setAttr(tr, 'data-symbol', d.symbol);
  setAttr(tr, 'data-seq', String(row.seq ?? ''));
  setAttr(tr, 'data-signal', d.signal);
  setAttr(tr, 'data-sector', String(d.sector ?? ''));
  setAttr(tr, 'data-tier', d.priority_tier || 'none');
  setAttr(tr, 'data-rating', String(d.tech_rating));
  setAttr(tr, 'data-rank', String(d.rank || ''));
  setAttr(tr, 'data-alpha', String(d.alpha_score ?? ''));
  if (classes.length) setAttr(tr, 'class', classes.join(' '));
  else if (tr.hasAttribute('class')) tr.removeAttribute('class');
  if (note) setAttr(tr, 'title', note);
  else if (tr.hasAttribute('title')) tr.removeAttribute('title');
  for (let k = 0; k < keys.length; k += 1) fillCell(/** @type {HTMLElement} */ (tr.cells[k]), row, keys[k]);
}

/**
 * @param {HTMLElement} cell a cell `cellHtml(…, key)` made
 * @param {Row} row
 * @param {string} key
 */
function fillCell(cell, row, key) {
  const d = row.data;
  switch (key) {
    case 'name':
    case 'sector': {
      const text = cellText(row, key);
      setText(cell, text);
      setAttr(cell, 'title', text);
      return;
    }
    case 'signal': {
      const s = SIGNALS[d.signal];
      const badge = cell.firstElementChild;
      const mark = badge && badge.firstElementChild;
      if (s && badge && mark && mark.nextSibling) {
        setAttr(badge, 'class', `badge signal-${d.signal}`);
        setText(mark, s.mark);
        const label = ` ${s.label}`;
        if (mark.nextSibling.nodeValue !== label) mark.nextSibling.nodeValue = label;
      } else {
        cell.innerHTML = signalBadge(d.signal);
      }
      return;
    }
    case 'priority_tier': {
      const badge = cell.firstElementChild;
      const tier = d.priority_tier ?? 'none';
      if (!badge) {
        cell.innerHTML = tierBadge(d.priority_tier);
        return;
      }
      setAttr(badge, 'class', `badge tier-${tier}`);
      setText(badge, TIERS[tier] ? TIERS[tier].label : String(d.priority_tier));
      return;
    }
    case 'tech_rating': {
      const meter = /** @type {HTMLElement | null} */ (cell.firstElementChild);
      if (meter) meter.style.setProperty('--v', `${fixed(d.tech_rating, 1)}%`);
      const text = cellText(row, key);
      const node = cell.lastChild;
      if (node && node.nodeType === Node.TEXT_NODE) {
        if (node.nodeValue !== text) node.nodeValue = text;
      } else {
        cell.append(text);
      }
      return;
    }
    case 'change_pct': {
      const direction = (d.change_pct ?? 0) > 0 ? 'up' : (d.change_pct ?? 0) < 0 ? 'down' : 'flat';
      setAttr(cell, 'class', `num c-change_pct chg-${direction}`);
      setText(cell, cellText(row, key));
      return;
    }
    default:
      setText(cell, cellText(row, key));
  }
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
    /** Whether the body holds the spacers and row elements `refill` reuses, and for which columns. */
    this.pooled = false;
    this.shape = '';
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
    parts.body.addEventListener('focusin', (event) => {
      const tr = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('tr[data-index]'));
      if (!tr) return;
      this.focusIndex = Number(tr.dataset.index);
      this.moveTabStop(tr);
    });
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
    // The row that had focus keeps it (and the tab stop) wherever the new order puts it.
    const focused = this.rows[this.focusIndex];
    this.focusIndex = focused ? rows.findIndex((r) => r.data.symbol === focused.data.symbol) : -1;
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
      wrap.classList.remove('full');
      const html = `<tr class="empty"><td colspan="${keys.length}">${esc(this.emptyText)}</td></tr>`;
      if (force || this.drawn !== html) body.innerHTML = html;
      this.drawn = html;
      this.pooled = false;
      return;
    }
    const height = this.rowHeight();
    // The box's height is known from the window's, whose reading costs no layout.
    const box = window.innerHeight * BOX_SHARE;
    wrap.classList.toggle('full', this.rows.length * height > box);
    const first = Math.max(0, Math.floor(this.scrollTop / height) - OVERSCAN);
    const count = Math.ceil(box / height) + 2 * OVERSCAN;
    const last = Math.min(this.rows.length, first + count);
    const signature = `${first}:${last}:${keys.join(',')}`;
    if (!force && signature === this.drawn) return;
    this.drawn = signature;
    const stop = this.tabStop(first, last, height);
    const hadFocus = body.contains(document.activeElement);
    const shape = keys.join(',');
    if (this.shape !== shape || !this.pooled) {
      this.rebuild(first, last, keys, height, stop);
      this.shape = shape;
    } else {
      this.refill(first, last, keys, height, stop);
    }
    if (hadFocus && this.focusIndex >= first && this.focusIndex < last) {
      this.focusRow(this.focusIndex, false);
    } else if (hadFocus) {
      // The focused row scrolled or sorted out of the drawn ones: the box keeps the focus, so
      // the keyboard stays in the table (and no drawn row pretends to be the focused one).
      wrap.focus({ preventScroll: true });
    }
  }

  /**
   * Draws the rows `first` to `last` anew: the two spacers (their heights keep the scroll
   * height true) and a row element for each.
   * @param {number} first
   * @param {number} last
   * @param {string[]} keys
   * @param {number} height
   * @param {number} stop
   */
  rebuild(first, last, keys, height, stop) {
    const spacer = (/** @type {number} */ rows) => `<tr class="spacer" aria-hidden="true" style="height:${rows * height}px"><td colspan="${keys.length}"></td></tr>`;
    const parts = [spacer(first)];
    for (let i = first; i < last; i += 1) parts.push(rowHtml(this.rows[i], keys, i, this.highlights, i === stop));
    parts.push(spacer(this.rows.length - last));
    this.parts.body.innerHTML = parts.join('');
    this.pooled = true;
  }

  /**
   * Draws the rows `first` to `last` into the row elements already there, adding or removing
   * only the difference. A sort or a scroll then changes text and attributes, not elements: the
   * browser parses nothing and restyles little.
   * @param {number} first
   * @param {number} last
   * @param {string[]} keys
   * @param {number} height
   * @param {number} stop
   */
  refill(first, last, keys, height, stop) {
    const { body } = this.parts;
    const wanted = last - first;
    const bottom = /** @type {HTMLTableRowElement} */ (body.rows[body.rows.length - 1]);
    let have = body.rows.length - 2;
    if (have < wanted) {
      const template = document.createElement('template');
      let html = '';
      for (let k = have; k < wanted; k += 1) html += rowHtml(this.rows[first + k], keys, first + k, this.highlights, false);
      template.innerHTML = `<table><tbody>${html}</tbody></table>`;
      const added = /** @type {HTMLTableElement} */ (template.content.firstElementChild).tBodies[0];
      bottom.before(...added.rows);
      have = wanted;
    }
    while (have > wanted) {
      body.rows[have].remove();
      have -= 1;
    }
    /** @type {HTMLElement} */ (body.rows[0]).style.height = `${first * height}px`;
    bottom.style.height = `${(this.rows.length - last) * height}px`;
    for (let k = 0; k < wanted; k += 1) {
      const i = first + k;
      fillRow(/** @type {HTMLTableRowElement} */ (body.rows[k + 1]), this.rows[i], keys, i, this.highlights, i === stop);
    }
  }

  /**
   * The row Tab lands on (a roving tab stop: one row in the tab order, the arrows move within):
   * the row last focused or opened while it is drawn, else the first row in view.
   * @param {number} first
   * @param {number} last
   * @param {number} height
   * @returns {number}
   */
  tabStop(first, last, height) {
    if (this.focusIndex >= first && this.focusIndex < last) return this.focusIndex;
    return Math.min(last - 1, Math.max(first, Math.ceil(this.scrollTop / height)));
  }

  /**
   * Moves the tab stop to a drawn row without redrawing.
   * @param {HTMLElement} tr
   */
  moveTabStop(tr) {
    for (const other of this.parts.body.querySelectorAll('tr[tabindex="0"]')) {
      if (other !== tr) other.setAttribute('tabindex', '-1');
    }
    tr.setAttribute('tabindex', '0');
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
    if (tr) {
      this.moveTabStop(tr);
      tr.focus({ preventScroll: true });
    }
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
