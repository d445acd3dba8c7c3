// @ts-check
// technic's live scan page: plain browser JavaScript in ES modules, no build step, nothing fetched
// from outside the server that serves it.
//
// One model (model.js) holds the scan and everything on screen is drawn from it, so sorting and
// filtering never touch the data; the view (form, filters, sort, columns) lives in the URL's
// fragment (state.js), so a reload or a shared link shows the same thing. This file wires the
// parts to the page.

import { Connection, getJson } from './connection.js';
import { compact, counted, esc, fixed, seconds, thousands } from './format.js';
import { applyMessage, changesBetween, fail, finish, finished, freshScan, setProgress } from './model.js';
import { COLUMNS, FIXED_COLUMNS, RowIndex, SIGNALS, TIERS, columnOf, defaultColumns, toCsv } from './rows.js';
import { decodeState, encodeState, parseViews, viewOf } from './state.js';
import { CARD_COLUMNS, VirtualTable, headHtml } from './table.js';
import { CAUSE_TEXT, causeOf, describeRequest, diagnosticText, headline, outcomes, progressText, statusText } from './words.js';

/** @typedef {import('./model.js').Scan} Scan */
/** @typedef {import('./rows.js').Row} Row */
/** @typedef {import('./state.js').ViewState} ViewState */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function $(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return /** @type {T} */ (found);
}

const el = {
  formPanel: /** @type {HTMLDetailsElement} */ ($('form-panel')),
  form: /** @type {HTMLFormElement} */ ($('scan-form')),
  start: /** @type {HTMLButtonElement} */ ($('start')),
  stop: /** @type {HTMLButtonElement} */ ($('stop')),
  formError: $('form-error'),
  every: /** @type {HTMLInputElement} */ ($('every')),
  sectors: $('sector-list'),
  source: $('source'),
  sourceKind: $('source-kind'),
  asOf: $('as-of'),
  connection: $('connection'),
  status: $('scan-status'),
  overall: $('overall-progress'),
  overallText: $('overall-text'),
  message: $('scan-message'),
  stages: $('stages'),
  throughput: $('metric-throughput'),
  elapsed: $('metric-elapsed'),
  eta: $('metric-eta'),
  results: $('metric-results'),
  signals: $('metric-signals'),
  summary: $('summary'),
  summaryStatus: $('summary-status'),
  summaryReason: $('summary-reason'),
  summarySettings: $('summary-settings'),
  summaryUniverse: $('summary-universe'),
  summaryResults: $('summary-results'),
  summaryFiltered: $('summary-filtered'),
  summaryNoData: $('summary-nodata'),
  summaryNotScanned: $('summary-notscanned'),
  summaryErrors: $('summary-errors'),
  summarySignals: $('summary-signals'),
  summaryTtfr: $('summary-ttfr'),
  summaryTotal: $('summary-total'),
  summaryStages: $('summary-stages'),
  diagnosticsCount: $('diagnostics-count'),
  diagnosticsList: $('diagnostics-list'),
  rowCount: $('row-count'),
  summaryBody: /** @type {HTMLElement} */ (document.querySelector('#summary .summary-body')),
  diagnosticsBlock: $('diagnostics'),
  filterText: /** @type {HTMLInputElement} */ ($('filter-text')),
  filterSignal: /** @type {HTMLSelectElement} */ ($('filter-signal')),
  filterSector: /** @type {HTMLSelectElement} */ ($('filter-sector')),
  filterTier: /** @type {HTMLSelectElement} */ ($('filter-tier')),
  clearFilters: $('clear-filters'),
  columnList: $('column-list'),
  exportCsv: $('export-csv'),
  copySymbols: $('copy-symbols'),
  viewSelect: /** @type {HTMLSelectElement} */ ($('view-select')),
  viewName: /** @type {HTMLInputElement} */ ($('view-name')),
  saveView: $('save-view'),
  deleteView: $('delete-view'),
  changes: $('changes'),
  wrap: $('results-wrap'),
  table: /** @type {HTMLTableElement} */ ($('results-table')),
  head: /** @type {HTMLTableRowElement} */ ($('results-head')),
  body: /** @type {HTMLTableSectionElement} */ ($('results-body')),
  dialog: /** @type {HTMLDialogElement} */ ($('running-dialog')),
  announcer: $('announcer'),
};

const NARROW = window.matchMedia('(max-width: 1000px)');
const COLUMNS_KEY = 'technic.columns';
const VIEWS_KEY = 'technic.views';
const REQUESTS_KEY = 'technic.requests';

/**
 * What the server says of itself (`GET /meta`); the defaults stand in until it answers.
 * @type {{data_source: {kind: string, description: string, synthetic: boolean} | null, stages: {name: string, weight: number}[], sectors: string[], keep_alive_seconds: number}}
 */
const meta = {
  data_source: null,
  stages: [],
  sectors: [],
  keep_alive_seconds: 15,
};
/** @type {Record<string, string>} */
const STAGE_LABELS = {
  universe_loading: 'Universe loading',
  data_fetching: 'Data fetching',
  symbol_scanning: 'Symbol scanning',
  finalization: 'Finalization',
};

/** @type {Scan} */
let model = freshScan();
/** @type {ViewState} */
let view = decodeState(location.hash);
/** What the auto-rescan compares the next scan with, and what it found. */
const rescan = {
  /** @type {Map<string, Row> | null} */
  previous: null,
  /** @type {import('./table.js').Highlights | null} */
  highlights: null,
  /** @type {string[]} */
  gone: [],
  /** @type {ReturnType<typeof setTimeout> | null} */
  timer: null,
};
/** Bumped with the model's rowsVersion and the view, so the table is rebuilt only when it has to be. */
const drawn = { version: -1, view: '', scanId: '' };
/** @type {Row[]} */
let shownRows = [];
/** The last sort's or filter's time from the event to the next paint, in ms. */
let lastPaint = { what: '', ms: NaN, script: NaN, rows: 0 };

const announce = (/** @type {string} */ text) => { el.announcer.textContent = text; };

const link = new Connection({
  scanId: () => model.scanId,
  lastSeq: () => model.lastSeq,
  setLastSeq: (seq) => { model.lastSeq = seq; },
  apply: (message, contiguous) => {
    const applied = applyMessage(model, message, contiguous, performance.now());
    if (applied === 'applied' && finished(model)) ended();
    return applied;
  },
  progress: (snapshot) => setProgress(model, snapshot, performance.now()),
  finishPolled: (report) => {
    if (finish(model, report)) ended();
  },
  failPolled: (message) => {
    fail(model, message);
    ended();
  },
  finished: () => finished(model),
  streaming: () => model.streaming,
  setStreaming: (on) => { model.streaming = on; },
  gone: () => {
    model.status = 'gone';
    announce('The scan is no longer on the server.');
    scheduleRender();
  },
  show: (state, text) => {
    el.connection.dataset.state = state;
    el.connection.textContent = text;
    el.connection.dataset.stalls = String(link ? link.stalls : 0);
  },
  announce,
  changed: () => scheduleRender(),
});

// ---- the scan's life ---------------------------------------------------------------------------

/** Called once when the model gets its final report or error. */
function ended() {
  if (model.final) {
    const counts = outcomes(model.final, model.final.resultCount);
    announce(`${headline(model.final.status, model.final.stop_reason, counts)} ${counted(counts.results, 'result')}.`);
    if (rescan.previous) {
      const { added, gone, changed } = changesBetween(rescan.previous, model.rows);
      rescan.highlights = { added, changed };
      rescan.gone = gone;
    }
  } else if (model.error) {
    announce(`Scan failed: ${model.error}`);
  }
  el.stop.disabled = true;
  scheduleRescan();
  scheduleRender();
}

/**
 * @param {string} scanId
 * @param {boolean} streaming
 * @param {Record<string, any> | null} request
 */
function attach(scanId, streaming, request) {
  link.detach();
  model = freshScan();
  model.scanId = scanId;
  model.streaming = streaming;
  model.status = 'running';
  model.request = request ?? storedRequest(scanId);
  view.scan = scanId;
  writeUrl();
  // On a narrow screen the form would push the scan below the fold; it stays one tap away.
  if (NARROW.matches) el.formPanel.open = false;
  announce(`Scan ${scanId} started.`);
  link.follow();
  scheduleRender();
}

// The request of each scan started here, so its summary can name its settings after a reload
// even when the form has been changed since; a shared link falls back to the link's form.
/** @param {string} scanId @param {Record<string, any>} request */
function storeRequest(scanId, request) {
  try {
    const stored = JSON.parse(sessionStorage.getItem(REQUESTS_KEY) || '{}');
    stored[scanId] = request;
    const ids = Object.keys(stored);
    for (const old of ids.slice(0, Math.max(0, ids.length - 20))) delete stored[old];
    sessionStorage.setItem(REQUESTS_KEY, JSON.stringify(stored));
  } catch {
    // Storage full or off: the summary falls back to the form.
  }
}

/** @param {string} scanId @returns {Record<string, any> | null} */
function storedRequest(scanId) {
  try {
    const stored = JSON.parse(sessionStorage.getItem(REQUESTS_KEY) || '{}');
    return stored[scanId] ?? null;
  } catch {
    return null;
  }
}

// ---- the form ----------------------------------------------------------------------------------

/**
 * @param {string} name
 * @returns {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null}
 */
function field(name) {
  const found = el.form.elements.namedItem(name);
  return found instanceof HTMLInputElement || found instanceof HTMLSelectElement || found instanceof HTMLTextAreaElement
    ? found
    : null;
}

/** @param {string} name @param {boolean} integer */
function numberField(name, integer) {
  const input = field(name);
  const raw = input ? input.value.trim() : '';
  if (raw === '') return undefined;
  return integer ? Number.parseInt(raw, 10) : Number(raw);
}

// Only fields the server's ScanRequest knows, and only those the user filled in: the server
// rejects unknown fields and applies its own defaults to missing ones.
/** @returns {Record<string, any>} */
function requestBody() {
  /** @type {Record<string, any>} */
  const body = {};
  const sectors = [...el.sectors.querySelectorAll('input:checked')].map((input) => /** @type {HTMLInputElement} */ (input).value);
  if (sectors.length) body.sectors = sectors;
  for (const [name, integer] of /** @type {[string, boolean][]} */ ([['max_symbols', true], ['min_tech_rating', false], ['min_price', false], ['min_avg_volume', false]])) {
    const value = numberField(name, integer);
    if (value !== undefined) body[name] = value;
  }
  // The screen's fields, where the form has them.
  for (const name of ['where', 'rank_by', 'screen']) {
    const input = field(name);
    const value = input ? input.value.trim() : '';
    if (value) body[name] = value;
  }
  body.enable_prioritization = /** @type {HTMLInputElement} */ (field('enable_prioritization')).checked;
  body.enable_streaming = /** @type {HTMLInputElement} */ (field('enable_streaming')).checked;
  /** @type {Record<string, number>} */
  const termination = {};
  for (const [name, integer] of /** @type {[string, boolean][]} */ ([['max_signals', true], ['min_signal_rating', false], ['max_percent_scanned', false], ['timeout_seconds', false]])) {
    const value = numberField(name, integer);
    if (value !== undefined) termination[name] = value;
  }
  if (Object.keys(termination).length) body.termination_criteria = termination;
  return body;
}

/**
 * The form's fields that differ from their defaults, for the URL.
 * @returns {Record<string, string>}
 */
function readForm() {
  /** @type {Record<string, string>} */
  const out = {};
  const sectors = [...el.sectors.querySelectorAll('input:checked')].map((input) => /** @type {HTMLInputElement} */ (input).value);
  if (sectors.length) out.sectors = sectors.join(',');
  for (const element of el.form.elements) {
    if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement || element instanceof HTMLTextAreaElement)) continue;
    if (!element.name || element.name === 'sectors' || !element.id || element === el.every) continue;
    if (element instanceof HTMLInputElement && element.type === 'checkbox') {
      if (element.checked !== element.defaultChecked) out[element.name] = element.checked ? '1' : '0';
    } else if (element.value.trim() !== '') {
      out[element.name] = element.value.trim();
    }
  }
  return out;
}

/** @param {Record<string, string>} form */
function writeForm(form) {
  const sectors = new Set((form.sectors || '').split(',').filter(Boolean));
  for (const input of el.sectors.querySelectorAll('input')) {
    /** @type {HTMLInputElement} */ (input).checked = sectors.has(/** @type {HTMLInputElement} */ (input).value);
  }
  for (const element of el.form.elements) {
    if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement || element instanceof HTMLTextAreaElement)) continue;
    if (!element.name || element.name === 'sectors' || element === el.every) continue;
    const value = form[element.name];
    if (element instanceof HTMLInputElement && element.type === 'checkbox') {
      element.checked = value === undefined ? element.defaultChecked : value === '1';
    } else {
      element.value = value ?? '';
    }
  }
}

/** @param {string} text */
function showFormError(text) {
  el.formError.textContent = text;
  el.formError.hidden = !text;
}

/** @param {SubmitEvent} event */
async function onSubmit(event) {
  event.preventDefault();
  showFormError('');
  if (model.scanId && !finished(model) && model.status !== 'gone') {
    // A second scan here would replace the running one on screen without a word: ask.
    el.dialog.returnValue = '';
    el.dialog.showModal();
    return;
  }
  await startScan();
}

async function onDialogClose() {
  const choice = el.dialog.returnValue;
  if (choice === 'stop') {
    await stopScan();
    await startScan();
  } else if (choice === 'tab') {
    const fragment = encodeState({ ...view, scan: null, form: readForm() });
    window.open(`${location.pathname}#${fragment}${fragment ? '&' : ''}start=1`, '_blank', 'noopener');
  }
}

async function startScan() {
  el.start.disabled = true;
  const request = requestBody();
  try {
    const response = await fetch('/scan/start', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      showFormError((body && body.error && body.error.message) || `The server answered ${response.status}.`);
      return;
    }
    storeRequest(body.scan_id, request);
    // The scan before is what an auto-rescan's changes are taken against.
    rescan.previous = model.final && model.request && JSON.stringify(model.request) === JSON.stringify(request) ? model.rows : null;
    rescan.highlights = null;
    rescan.gone = [];
    attach(body.scan_id, !(body.features && body.features.streaming === false), request);
  } catch (error) {
    showFormError(`Could not reach the server: ${/** @type {Error} */ (error).message}`);
  } finally {
    el.start.disabled = false;
  }
}

async function stopScan() {
  const id = model.scanId;
  if (!id || finished(model) || model.stopRequested) return;
  model.stopRequested = true;
  model.status = 'stopping';
  scheduleRender();
  try {
    // A scan that already ended (its final message still on its way) is not stopped again: the
    // server would answer 409, and the page would say "Stopping…" for nothing.
    const progress = await getJson(`/scan/progress/${encodeURIComponent(id)}`);
    if (id !== model.scanId) return;
    const status = progress.body && progress.body.status;
    if (status === 'completed' || status === 'stopped' || status === 'failed') {
      model.stopRequested = false;
      if (!finished(model)) model.status = 'running';
      announce('The scan had already finished.');
      scheduleRender();
      return;
    }
    const response = await fetch(`/scan/stop/${encodeURIComponent(id)}`, { method: 'POST' });
    if (response.status === 409) {
      // It finished between the two requests; its final message is on its way.
      model.stopRequested = false;
      if (!finished(model)) model.status = 'running';
      scheduleRender();
      return;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error((body && body.error && body.error.message) || `the server answered ${response.status}`);
    }
    announce('Stopping the scan; results so far are kept.');
  } catch (error) {
    if (id !== model.scanId) return;
    model.stopRequested = false;
    if (!finished(model)) model.status = 'running';
    showFormError(`Could not stop the scan: ${/** @type {Error} */ (error).message}`);
    scheduleRender();
  }
}

function scheduleRescan() {
  if (rescan.timer) clearTimeout(rescan.timer);
  rescan.timer = null;
  if (!(view.every > 0) || !model.final) return;
  const scanId = model.scanId;
  rescan.timer = setTimeout(() => {
    if (model.scanId === scanId && finished(model)) startScan();
  }, view.every * 60_000);
}

// ---- the view in the URL -------------------------------------------------------------------

function writeUrl() {
  view.form = readForm();
  const fragment = encodeState(view);
  const url = `${location.pathname}${location.search}${fragment ? `#${fragment}` : ''}`;
  if (`${location.pathname}${location.search}${location.hash}` !== url) history.replaceState(null, '', url);
}

/** Puts a view's form, filters, sort and columns on the page. */
function showView() {
  writeForm(view.form);
  el.every.value = view.every > 0 ? String(view.every) : '';
  el.filterText.value = view.filter.text;
  for (const [select, value] of /** @type {[HTMLSelectElement, string][]} */ ([[el.filterSignal, view.filter.signal], [el.filterSector, view.filter.sector], [el.filterTier, view.filter.tier]])) {
    if (value && ![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
    select.value = value;
  }
  renderColumnChooser();
  renderHead();
  renderTable();
}

// ---- rendering ---------------------------------------------------------------------------

// Results can arrive hundreds a second; rebuilding the table for each would starve the page.
// Renders are batched into one per frame and at most one per RENDER_EVERY_MS; what the user
// does (sort, filter) renders at once.
const RENDER_EVERY_MS = 100;
let renderQueued = false;
let lastRender = 0;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, lastRender + RENDER_EVERY_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    renderQueued = false;
    lastRender = performance.now();
    render();
  }), wait);
}

function render() {
  renderStatus();
  renderProgress();
  renderSummary();
  renderTable();
}

function renderStatus() {
  el.status.dataset.status = model.status;
  el.status.textContent = statusText(model.status);
  el.stop.disabled = !model.scanId || finished(model) || model.stopRequested || model.status === 'gone';
  el.start.textContent = model.scanId && !finished(model) && model.status !== 'gone' ? 'Start another scan…' : 'Start scan';
  el.connection.dataset.reconnects = String(link.reconnects);
  el.connection.dataset.stalls = String(link.stalls);
  el.connection.dataset.lastSeq = String(model.lastSeq);
  el.connection.dataset.replays = String(model.replays);
  el.connection.dataset.scanId = model.scanId || '';
  renderSource();
}

function renderSource() {
  const source = (model.final && model.final.data_source) || meta.data_source;
  if (source) {
    el.source.dataset.synthetic = String(source.synthetic);
    el.sourceKind.textContent = source.synthetic ? 'Synthetic demo data — not real prices' : `Data: ${source.kind}`;
    el.sourceKind.title = source.description;
  }
  // The newest bar among the rows, until the final report names the scan's date.
  let asOf = model.final && model.final.as_of;
  if (!asOf) {
    for (const row of model.rows.values()) if (row.data.date && (!asOf || row.data.date > asOf)) asOf = row.data.date;
  }
  el.asOf.hidden = !asOf;
  el.asOf.textContent = asOf ? `as of ${asOf}` : '';
  el.asOf.dataset.date = asOf || '';
}

// The share of the scanning stage a stopped scan got through; null when it was not cut short.
function stoppedAt() {
  if (!model.final || model.final.status !== 'stopped') return null;
  const m = model.final.metrics;
  return m.symbols_total ? (100 * m.symbols_scanned) / m.symbols_total : 0;
}

/** @param {string} name @param {any} snapshot */
function stageProgress(name, snapshot) {
  const stopped = stoppedAt();
  if (name === 'symbol_scanning' && stopped !== null) return stopped;
  if (model.final) return name in model.final.metrics.stage_seconds ? 100 : 0;
  return snapshot && snapshot.stages[name] ? snapshot.stages[name].progress : 0;
}

/** @param {string} name @param {any} snapshot */
function stageState(name, snapshot) {
  if (name === 'symbol_scanning' && stoppedAt() !== null) return 'stopped';
  if (model.final) return name in model.final.metrics.stage_seconds ? 'complete' : 'pending';
  if (!snapshot) return 'pending';
  const progress = snapshot.stages[name] ? snapshot.stages[name].progress : 0;
  if (progress >= 100) return 'complete';
  if (snapshot.current_stage === name || progress > 0) return 'running';
  return 'pending';
}

function elapsedNow() {
  if (model.final) return model.final.metrics.seconds_total;
  const snapshot = model.progress;
  if (!snapshot || typeof snapshot.elapsed !== 'number') return NaN;
  const ticking = !finished(model) && model.status !== 'gone';
  return snapshot.elapsed + (ticking ? (performance.now() - model.progressAt) / 1000 : 0);
}

/** The stages: the server's, or those a progress snapshot names before it answered. */
function stages() {
  if (meta.stages.length) return meta.stages;
  const snapshot = model.progress;
  return snapshot ? Object.entries(snapshot.stages).map(([name, s]) => ({ name, weight: /** @type {any} */ (s).weight })) : [];
}

function renderProgress() {
  const snapshot = model.progress;
  // A stopped scan shows how far it got, not the 100% of "nothing left to do".
  const overall = model.final
    ? stages().reduce((sum, { name, weight }) => sum + weight * stageProgress(name, snapshot), 0)
    : snapshot ? snapshot.overall_progress : 0;
  el.overall.setAttribute('aria-valuenow', String(Math.round(overall * 10) / 10));
  el.overall.style.setProperty('--value', `${overall}%`);
  el.overall.dataset.state = model.status;
  const eta = model.final ? '' : snapshot && snapshot.overall_eta_formatted ? ` · ETA ${snapshot.overall_eta_formatted}` : '';
  el.overallText.textContent = `${fixed(overall, 1)}%${eta}`;
  el.message.textContent = model.final || !snapshot ? '' : progressText(snapshot.message);

  el.stages.innerHTML = stages().map(({ name }) => {
    const state = stageState(name, snapshot);
    const progress = stageProgress(name, snapshot);
    return `<li class="stage" data-testid="stage-${esc(name)}" data-stage="${esc(name)}" data-state="${state}">
      <span class="stage-name">${esc(STAGE_LABELS[name] ?? name.replace(/_/g, ' '))}</span>
      <span class="stage-state state-${state}">${state}</span>
      <span class="mini-bar" aria-hidden="true"><span style="width:${progress}%"></span></span>
      <span class="stage-pct">${fixed(progress, 0)}%</span></li>`;
  }).join('');

  const throughput = model.final ? model.final.metrics.symbols_per_second : snapshot ? snapshot.stage_throughput : NaN;
  el.throughput.textContent = fixed(throughput, 1);
  el.elapsed.textContent = seconds(elapsedNow());
  el.eta.textContent = model.final ? 'done' : (snapshot && snapshot.overall_eta_formatted) || '—';
  el.results.textContent = thousands(model.rows.size);
  el.results.dataset.count = String(model.rows.size);
  let signals = 0;
  for (const row of model.rows.values()) if (row.data.high_quality) signals += 1;
  el.signals.textContent = thousands(signals);
  el.signals.dataset.count = String(signals);
}

function renderSummary() {
  if (!finished(model)) {
    el.summary.hidden = true;
    el.summary.dataset.status = '';
    return;
  }
  if (!el.summary.hidden && el.summary.dataset.scanId === model.scanId) return;
  el.summary.hidden = false;
  el.summary.dataset.scanId = model.scanId || '';
  el.summary.dataset.status = model.status;
  el.summaryStatus.className = `badge status-${model.status}`;
  el.summaryStatus.textContent = statusText(model.status);
  const request = model.request ?? (model.scanId === view.scan ? requestBody() : null);
  el.summarySettings.textContent = describeRequest(request).join(' · ') || 'Server defaults';
  const report = model.final;
  el.summaryBody.hidden = !report;
  el.diagnosticsBlock.hidden = !report;
  if (!report) {
    el.summaryReason.textContent = model.error ? `The scan failed: ${model.error}` : '';
    return;
  }
  const counts = outcomes(report, report.resultCount);
  el.summaryReason.textContent = headline(report.status, report.stop_reason, counts);
  el.summaryReason.dataset.stopReason = report.stop_reason || '';
  const m = report.metrics;
  el.summaryUniverse.textContent = thousands(counts.total);
  el.summaryResults.textContent = thousands(counts.results);
  el.summaryFiltered.textContent = thousands(counts.filtered);
  el.summaryNoData.textContent = thousands(counts.no_data);
  el.summaryNotScanned.textContent = thousands(counts.not_scanned);
  el.summaryErrors.textContent = thousands(counts.error);
  el.summary.dataset.counts = JSON.stringify(counts);
  el.summarySignals.textContent = thousands(m.high_quality_signals);
  el.summaryTtfr.textContent = m.time_to_first_result === null ? 'no result' : seconds(m.time_to_first_result);
  el.summaryTotal.textContent = seconds(m.seconds_total);
  el.summaryStages.innerHTML = stages().map(({ name }) =>
    `<tr data-stage="${esc(name)}"><th scope="row">${esc(STAGE_LABELS[name] ?? name)}</th><td class="num">${name in m.stage_seconds ? m.stage_seconds[name].toFixed(3) : '—'}</td></tr>`).join('');
  el.diagnosticsCount.textContent = thousands(report.diagnostics.length);
  el.diagnosticsCount.dataset.count = String(report.diagnostics.length);
  el.diagnosticsList.innerHTML = report.diagnostics.map((d) => {
    const cause = causeOf(d);
    return `<li data-symbol="${esc(d.symbol)}" data-kind="${esc(d.kind)}" data-cause="${cause}"><span class="badge cause-${cause}">${esc(CAUSE_TEXT[cause])}</span> <strong>${esc(d.symbol)}</strong> ${esc(diagnosticText(d))}</li>`;
  }).join('');
}

/** What the table says when it has no row to show. */
function emptyText() {
  if (model.rows.size) return 'No row matches the filters.';
  if (!model.scanId) return 'Start a scan to see results here.';
  if (model.final) {
    const counts = outcomes(model.final, 0);
    if (counts.filtered) return `Nothing matched: all ${counted(counts.filtered, 'symbol')} that could be rated were filtered out by your settings. Loosen the filters (e.g. the minimum rating) and scan again.`;
    return 'This scan found no result.';
  }
  if (model.error) return 'The scan failed before any result.';
  if (model.status === 'gone') return 'The scan is no longer on the server.';
  return 'Results appear here as the scan finds them.';
}

function renderHead() {
  el.head.innerHTML = headHtml(table.cards.matches ? CARD_COLUMNS : view.columns, view.sort);
}

// The head's sort marks, changed in place: the buttons (and the focus on one) stay.
function renderSortMarks() {
  for (const button of el.head.querySelectorAll('button[data-sort]')) {
    const th = /** @type {HTMLElement} */ (button.parentElement);
    const active = /** @type {HTMLElement} */ (button).dataset.sort === view.sort.key;
    if (active) th.setAttribute('aria-sort', view.sort.dir === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
    const arrow = button.querySelector('.arrow');
    if (arrow) arrow.textContent = active ? (view.sort.dir === 'asc' ? '▲' : '▼') : '↕';
  }
}

function renderTable() {
  const viewKey = JSON.stringify([view.sort, view.filter, view.columns, model.scanId, finished(model), model.status]);
  if (drawn.version === model.rowsVersion && drawn.view === viewKey) return;
  drawn.version = model.rowsVersion;
  drawn.view = viewKey;
  renderSectorOptions();
  shownRows = rowIndex().visible(view.filter, view.sort);
  table.set(shownRows, view.columns, rescan.highlights, emptyText());
  el.rowCount.dataset.visible = String(shownRows.length);
  el.rowCount.dataset.total = String(model.rows.size);
  el.rowCount.textContent = model.rows.size === 0
    ? 'No results'
    : shownRows.length === model.rows.size ? counted(shownRows.length, 'row') : `Showing ${thousands(shownRows.length)} of ${thousands(model.rows.size)}`;
  renderChanges();
}

// The rows read for sorting and filtering, kept until they change: a sort or filter of the same
// rows then reuses their keys and the orders already made.
let indexed = { rows: model.rows, version: -1, index: new RowIndex([]) };
function rowIndex() {
  if (indexed.rows !== model.rows || indexed.version !== model.rowsVersion) {
    indexed = { rows: model.rows, version: model.rowsVersion, index: new RowIndex(model.rows.values()) };
  }
  return indexed.index;
}

function renderChanges() {
  const h = rescan.highlights;
  el.changes.hidden = !h;
  if (!h) return;
  const gone = rescan.gone.length ? ` Gone: ${rescan.gone.slice(0, 20).join(', ')}${rescan.gone.length > 20 ? '…' : ''}.` : '';
  el.changes.textContent = `Since the last scan: ${thousands(h.added.size)} new, ${thousands(rescan.gone.length)} gone, ${thousands(h.changed.size)} changed signal.${gone}`;
}

// The sector list is the server's plus any other sector a result names, so no row is unfilterable.
let sectorsSeen = -1;
function renderSectorOptions() {
  if (sectorsSeen === model.rowsVersion) return;
  sectorsSeen = model.rowsVersion;
  const known = new Set([...el.filterSector.options].map((o) => o.value));
  for (const row of model.rows.values()) {
    const sector = row.data.sector;
    if (sector && !known.has(sector)) {
      known.add(sector);
      el.filterSector.add(new Option(sector, sector));
    }
  }
}

function renderColumnChooser() {
  el.columnList.innerHTML = COLUMNS.map((c) => {
    const fixedColumn = FIXED_COLUMNS.includes(c.key);
    return `<label class="check" for="col-${c.key}"><input id="col-${c.key}" type="checkbox" value="${c.key}" data-testid="col-${c.key}"${view.columns.includes(c.key) ? ' checked' : ''}${fixedColumn ? ' disabled' : ''}> ${esc(c.label)}</label>`;
  }).join('');
}

/**
 * Runs a change of sort or filter and records the time from now to the next paint, so the page
 * itself says how long 10,000 rows take (`data-paint-ms` on the table).
 * @param {string} what
 * @param {() => void} change
 */
function timed(what, change) {
  const started = performance.now();
  change();
  const script = performance.now() - started;
  requestAnimationFrame(() => setTimeout(() => {
    lastPaint = { what, ms: performance.now() - started, script, rows: shownRows.length };
    el.table.dataset.paintMs = lastPaint.ms.toFixed(1);
    el.table.dataset.paintWhat = what;
    el.table.dataset.paintRows = String(lastPaint.rows);
  }, 0));
}

/**
 * Runs `after` once the browser has painted what the current task changed. Writing the URL
 * (history.replaceState took 30 ms a time in Chromium under load) and the screen reader's
 * announcement wait until the sorted or filtered rows are on screen, rather than hold them back.
 * @param {() => void} after
 */
function afterPaint(after) {
  requestAnimationFrame(() => setTimeout(after, 0));
}

// ---- export, copy, views -------------------------------------------------------------------

function exportCsv() {
  const csv = toCsv(shownRows, view.columns);
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `technic-${model.scanId || 'results'}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  announce(`Exported ${counted(shownRows.length, 'row')} as CSV.`);
}

async function copySymbols() {
  const text = shownRows.map((r) => r.data.symbol).join('\n');
  try {
    await navigator.clipboard.writeText(text);
    announce(`Copied ${counted(shownRows.length, 'symbol')}.`);
  } catch (error) {
    announce(`Could not copy: ${/** @type {Error} */ (error).message}`);
  }
}

function loadViews() {
  try {
    return parseViews(localStorage.getItem(VIEWS_KEY));
  } catch {
    return {};
  }
}

function renderViews() {
  const views = loadViews();
  el.viewSelect.innerHTML = '<option value="">Saved views…</option>'
    + Object.keys(views).sort().map((name) => `<option value="${esc(name)}">${esc(name)}</option>`).join('');
}

function saveView() {
  const name = el.viewName.value.trim();
  if (!name) {
    announce('Name the view first.');
    el.viewName.focus();
    return;
  }
  view.form = readForm();
  const views = loadViews();
  views[name] = viewOf(view);
  localStorage.setItem(VIEWS_KEY, JSON.stringify(views));
  renderViews();
  el.viewSelect.value = name;
  announce(`Saved the view ${name}.`);
}

function applySavedView() {
  const name = el.viewSelect.value;
  const fragment = loadViews()[name];
  if (fragment === undefined) return;
  const saved = decodeState(fragment);
  view = { ...saved, scan: view.scan };
  el.viewName.value = name;
  showView();
  writeUrl();
  announce(`Showing the view ${name}.`);
}

function deleteView() {
  const name = el.viewSelect.value || el.viewName.value.trim();
  const views = loadViews();
  if (!(name in views)) return;
  delete views[name];
  localStorage.setItem(VIEWS_KEY, JSON.stringify(views));
  renderViews();
  announce(`Deleted the view ${name}.`);
}

// ---- wiring ------------------------------------------------------------------------------

const table = new VirtualTable(
  { wrap: el.wrap, table: el.table, head: el.head, body: el.body },
  (row) => {
    // The symbol's detail is another module's: it listens for this event.
    document.dispatchEvent(new CustomEvent('technic:open-symbol', { detail: { symbol: row.data.symbol, result: row.data } }));
  },
);

async function loadMeta() {
  try {
    const answer = await getJson('/meta');
    if (answer.status === 200 && answer.body) {
      Object.assign(meta, answer.body);
      link.keepAliveMs = meta.keep_alive_seconds * 1000;
    }
  } catch {
    // The page works without: the stages come with the first progress message, the sectors
    // from the results, and the keep-alive period stays at its default.
  }
}

function renderSectors() {
  el.sectors.innerHTML = meta.sectors.map((s, i) =>
    `<label class="check" for="sector-${i}"><input id="sector-${i}" type="checkbox" name="sectors" value="${esc(s)}"> ${esc(s)}</label>`).join('');
  for (const s of meta.sectors) if (![...el.filterSector.options].some((o) => o.value === s)) el.filterSector.add(new Option(s, s));
}

function remembered() {
  try {
    const stored = JSON.parse(localStorage.getItem(COLUMNS_KEY) || 'null');
    if (Array.isArray(stored) && stored.every((k) => typeof k === 'string' && columnOf(k))) return stored;
  } catch {
    // Nothing remembered.
  }
  return null;
}

function onFilter() {
  timed('filter', () => {
    view.filter = {
      text: el.filterText.value,
      signal: el.filterSignal.value,
      sector: el.filterSector.value,
      tier: el.filterTier.value,
    };
    renderTable();
  });
  afterPaint(() => {
    writeUrl();
    announce(el.rowCount.textContent || '');
  });
}

async function init() {
  // A link's columns win; without, the columns this browser was last left with.
  if (!/(^|[#&])cols=/.test(location.hash)) view.columns = remembered() ?? defaultColumns();
  for (const [value, s] of Object.entries(SIGNALS)) el.filterSignal.add(new Option(s.label, value));
  for (const [value, t] of Object.entries(TIERS)) el.filterTier.add(new Option(t.label, value));
  renderViews();
  // Before the wait for /meta: a Start pressed meanwhile must start a scan, not submit the form
  // as a plain page load.
  el.form.addEventListener('submit', onSubmit);
  await loadMeta();
  renderSectors();
  showView();

  el.form.addEventListener('input', () => writeUrl());
  el.form.addEventListener('change', () => writeUrl());
  el.every.addEventListener('change', () => {
    const every = Number(el.every.value);
    view.every = Number.isFinite(every) && every > 0 ? every : 0;
    writeUrl();
    scheduleRescan();
  });
  el.dialog.addEventListener('close', onDialogClose);
  el.stop.addEventListener('click', stopScan);
  el.head.addEventListener('click', (event) => {
    const button = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('button[data-sort]'));
    if (!button) return;
    const column = columnOf(button.dataset.sort || '');
    if (!column) return;
    timed('sort', () => {
      if (view.sort.key === column.key) {
        view.sort = { key: column.key, dir: view.sort.dir === 'asc' ? 'desc' : 'asc' };
      } else {
        view.sort = { key: column.key, dir: column.dir || (column.kind === 'text' ? 'asc' : 'desc') };
      }
      renderSortMarks();
      renderTable();
    });
    afterPaint(() => {
      writeUrl();
      announce(`Sorted by ${column.label}, ${view.sort.dir === 'asc' ? 'ascending' : 'descending'}.`);
    });
  });
  el.filterText.addEventListener('input', onFilter);
  for (const select of [el.filterSignal, el.filterSector, el.filterTier]) select.addEventListener('change', onFilter);
  el.clearFilters.addEventListener('click', () => {
    el.filterText.value = '';
    el.filterSignal.value = '';
    el.filterSector.value = '';
    el.filterTier.value = '';
    onFilter();
  });
  el.columnList.addEventListener('change', () => {
    const chosen = new Set([...el.columnList.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value));
    view.columns = COLUMNS.filter((c) => chosen.has(c.key) || FIXED_COLUMNS.includes(c.key)).map((c) => c.key);
    localStorage.setItem(COLUMNS_KEY, JSON.stringify(view.columns));
    renderHead();
    renderTable();
    writeUrl();
  });
  el.exportCsv.addEventListener('click', exportCsv);
  el.copySymbols.addEventListener('click', copySymbols);
  el.saveView.addEventListener('click', saveView);
  el.deleteView.addEventListener('click', deleteView);
  el.viewSelect.addEventListener('change', applySavedView);
  el.wrap.addEventListener('keydown', (event) => {
    if (event.target === el.wrap && (event.key === 'ArrowDown' || event.key === 'Enter')) {
      event.preventDefault();
      table.focusFirst();
    }
  });
  table.cards.addEventListener('change', () => renderHead());
  window.addEventListener('online', () => link.online());
  // Elapsed time moves between progress messages too.
  setInterval(() => {
    if (model.scanId && !finished(model)) el.elapsed.textContent = seconds(elapsedNow());
  }, 250);

  // A reload (or a shared link) picks the scan up again from its first message; a link made by
  // "open in a new tab" starts its scan.
  const startNow = /(^|[#&])start=1(&|$)/.test(location.hash);
  if (view.scan) attach(view.scan, true, null);
  else if (startNow) await startScan();
  if (startNow) writeUrl();
  render();
  // For tests and tools: every control is wired.
  document.documentElement.dataset.ready = 'true';
}

// For tests and the console: the rows as the table orders them, all of them (the DOM holds only
// those in view), and the last sort's or filter's time to paint.
Object.defineProperty(window, 'technicPage', {
  value: Object.freeze({
    visibleRows: () => shownRows.map((r) => ({ ...r.data, seq: r.seq })),
    lastPaint: () => ({ ...lastPaint }),
    compact,
  }),
});

init();
