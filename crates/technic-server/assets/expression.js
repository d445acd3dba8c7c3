// @ts-check
// The scan form's screen box: `where` and `rank_by` expressions checked by the server as they are
// typed (`POST /screens/validate`, the compiler a scan uses, so the page never guesses the
// language), the error shown beside them with the column it points at, saved screens to pick from
// (`GET /screens`) and "save as screen" (`POST /screens`).

/**
 * @typedef {{name: string, where: string | null, rank_by: string | null, description?: string | null, error?: string}} Screen
 * @typedef {{code: string, message: string, field?: string, column?: number}} ApiErrorDetail
 */

/** Quiet time after the last keystroke before the server is asked: one request per pause, not per key. */
export const CHECK_AFTER_MS = 250;

/**
 * The error as a person reads it: the message, then the expression with a caret under the column.
 * @param {ApiErrorDetail} error
 * @param {string} text the expression the error is about
 * @returns {{message: string, pointer: string}}
 */
export function describe(error, text) {
  const column = error.column;
  if (!column || column < 1 || column > text.length + 1) return { message: error.message, pointer: '' };
  return { message: error.message, pointer: `${text}\n${' '.repeat(column - 1)}^` };
}

/**
 * Waits `ms` after the last call before running `fn` with the last arguments.
 * @template {unknown[]} A
 * @param {(...args: A) => void} fn
 * @param {number} ms
 * @returns {(...args: A) => void}
 */
export function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** @param {string} id */
const byId = (id) => document.getElementById(id);

function init() {
  const ids = ['where', 'rank_by', 'screen', 'where-error', 'screen_name', 'save-screen', 'save-screen-status'];
  // A page without the screen box (an older index.html) simply has none of this.
  if (!ids.every((id) => byId(id))) return;
  const where = /** @type {HTMLInputElement} */ (byId('where'));
  const rankBy = /** @type {HTMLInputElement} */ (byId('rank_by'));
  const select = /** @type {HTMLSelectElement} */ (byId('screen'));
  const output = /** @type {HTMLElement} */ (byId('where-error'));
  const nameField = /** @type {HTMLInputElement} */ (byId('screen_name'));
  const save = /** @type {HTMLButtonElement} */ (byId('save-screen'));
  const saved = /** @type {HTMLElement} */ (byId('save-screen-status'));
  /** @type {Map<string, Screen>} */
  const screens = new Map();
  let asked = 0;

  /**
   * @param {string} state
   * @param {string} message
   * @param {string} [pointer]
   */
  const show = (state, message, pointer = '') => {
    output.dataset.state = state;
    output.replaceChildren();
    if (message) output.append(message);
    if (pointer) {
      const pre = document.createElement('pre');
      pre.textContent = pointer;
      output.append(pre);
    }
  };

  const body = () => {
    /** @type {Record<string, string>} */
    const request = {};
    if (where.value.trim()) request.where = where.value.trim();
    if (rankBy.value.trim()) request.rank_by = rankBy.value.trim();
    return request;
  };

  async function check() {
    const request = body();
    asked += 1;
    const mine = asked;
    for (const field of [where, rankBy]) field.removeAttribute('aria-invalid');
    if (!request.where && !request.rank_by) {
      show('empty', '');
      return;
    }
    show('checking', 'Checking…');
    let response;
    let answer;
    try {
      response = await fetch('/screens/validate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
      answer = await response.json().catch(() => null);
    } catch (error) {
      if (mine === asked) show('unchecked', `Could not check the expression: ${/** @type {Error} */ (error).message}`);
      return;
    }
    if (mine !== asked) return;
    if (response.ok) {
      show('valid', '✓ Valid');
      return;
    }
    const error = answer && answer.error;
    if (!error) {
      show('unchecked', `Could not check the expression: the server answered ${response.status}`);
      return;
    }
    const field = error.field === 'rank_by' ? rankBy : where;
    field.setAttribute('aria-invalid', 'true');
    const { message, pointer } = describe(error, field.value.trim());
    output.dataset.field = error.field || '';
    output.dataset.column = String(error.column || '');
    show('invalid', message, pointer);
  }

  const checkSoon = debounce(check, CHECK_AFTER_MS);
  for (const field of [where, rankBy]) field.addEventListener('input', checkSoon);

  /** @param {string} [chosen] */
  async function loadScreens(chosen) {
    let list;
    try {
      const response = await fetch('/screens', { cache: 'no-store' });
      if (!response.ok) return;
      list = /** @type {Screen[]} */ (await response.json());
    } catch {
      return;
    }
    screens.clear();
    select.replaceChildren(new Option('None', ''));
    for (const screen of list) {
      screens.set(screen.name, screen);
      const option = new Option(screen.error ? `${screen.name} (no longer compiles)` : screen.name, screen.name);
      select.add(option);
    }
    if (chosen) select.value = chosen;
  }

  select.addEventListener('change', () => {
    const screen = screens.get(select.value);
    if (!screen) return;
    where.value = screen.where || '';
    rankBy.value = screen.rank_by || '';
    nameField.value = screen.name;
    check();
  });

  save.addEventListener('click', async () => {
    const name = nameField.value.trim();
    const request = body();
    if (!name) {
      saved.textContent = 'Give the screen a name first.';
      nameField.focus();
      return;
    }
    if (!request.where && !request.rank_by) {
      saved.textContent = 'Write a Where or a Rank by expression first.';
      where.focus();
      return;
    }
    save.disabled = true;
    try {
      const response = await fetch('/screens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, ...request }),
      });
      const answer = await response.json().catch(() => null);
      if (!response.ok) {
        saved.textContent = `Not saved: ${(answer && answer.error && answer.error.message) || `the server answered ${response.status}`}`;
        saved.dataset.state = 'error';
        return;
      }
      saved.textContent = `Saved as screen “${name}”.`;
      saved.dataset.state = 'saved';
      await loadScreens(name);
    } catch (error) {
      saved.textContent = `Not saved: ${/** @type {Error} */ (error).message}`;
      saved.dataset.state = 'error';
    } finally {
      save.disabled = false;
    }
  });

  loadScreens();
}

// Only in a browser: node imports this module for its unit tests.
if (typeof document !== 'undefined') init();
