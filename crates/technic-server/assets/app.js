// technic's live scan page: plain browser JavaScript, no build step, nothing fetched from outside
// the server that serves it.
//
// One model holds the scan (rows keyed by symbol, the last `seq` applied, the latest progress
// snapshot, the final report) and everything on screen is rendered from it, so sorting and
// filtering never touch the data. Messages are applied in `seq` order exactly once: a message at
// or below the last seq applied is a replay and is dropped, and every (re)connection resumes from
// that seq, so a dropped connection can neither lose nor duplicate a row.
'use strict';

(() => {
  const SECTORS = [
    'Communication Services', 'Consumer Discretionary', 'Consumer Staples', 'Energy', 'Financials',
    'Health Care', 'Industrials', 'Information Technology', 'Materials', 'Real Estate', 'Utilities',
  ];
  // Arrows as well as colour, so a signal reads without colour vision.
  const SIGNALS = {
    STRONG_BUY: { label: 'Strong buy', mark: '▲▲', strength: 5 },
    BUY: { label: 'Buy', mark: '▲', strength: 4 },
    HOLD: { label: 'Hold', mark: '■', strength: 3 },
    SELL: { label: 'Sell', mark: '▼', strength: 2 },
    STRONG_SELL: { label: 'Strong sell', mark: '▼▼', strength: 1 },
  };
  const TIERS = {
    high: { label: 'High', strength: 3 },
    medium: { label: 'Medium', strength: 2 },
    low: { label: 'Low', strength: 1 },
    none: { label: 'No tier', strength: 0 },
  };
  // Name, label and weight in the overall progress (DESIGN.md).
  const STAGES = [
    ['universe_loading', 'Universe loading', 0.05],
    ['data_fetching', 'Data fetching', 0.2],
    ['symbol_scanning', 'Symbol scanning', 0.7],
    ['finalization', 'Finalization', 0.05],
  ];
  const NARROW = window.matchMedia('(max-width: 1000px)');
  const COLUMNS = [
    { key: 'symbol', label: 'Symbol', kind: 'text' },
    { key: 'rank', label: 'Rank', kind: 'num', dir: 'asc' },
    { key: 'name', label: 'Name', kind: 'text' },
    { key: 'sector', label: 'Sector', kind: 'text' },
    { key: 'signal', label: 'Signal', kind: 'signal' },
    { key: 'tech_rating', label: 'Rating', kind: 'num' },
    { key: 'alpha_score', label: 'Alpha', kind: 'num' },
    { key: 'priority_tier', label: 'Tier', kind: 'tier' },
    { key: 'close', label: 'Close', kind: 'num' },
    { key: 'change_pct', label: 'Change', kind: 'num' },
    { key: 'avg_volume_20', label: 'Avg vol 20d', kind: 'num' },
    { key: 'trend_direction', label: 'Trend', kind: 'text' },
    { key: 'seq', label: 'Arrived', kind: 'num', dir: 'asc' },
  ];
  // Backoff after a dropped connection: doubles from the base up to the cap, with jitter so that
  // many pages cut off at once do not come back in lockstep.
  const RETRY_BASE_MS = 250;
  const RETRY_MAX_MS = 5000;
  const REFUSED_HANDSHAKES_BEFORE_POLLING = 3;
  const POLL_MS = 750;
  // Close codes with which the server asks the client to come back (too slow, stalled).
  const SERVER_RESUME_CODES = new Set([4000, 4001]);

  const $ = (id) => document.getElementById(id);
  const el = {
    formPanel: $('form-panel'), form: $('scan-form'), start: $('start'), stop: $('stop'), formError: $('form-error'),
    sectors: $('sector-list'), connection: $('connection'), status: $('scan-status'),
    overall: $('overall-progress'), overallText: $('overall-text'), message: $('scan-message'),
    stages: $('stages'), throughput: $('metric-throughput'), elapsed: $('metric-elapsed'),
    eta: $('metric-eta'), results: $('metric-results'), signals: $('metric-signals'),
    summary: $('summary'), summaryStatus: $('summary-status'), summaryReason: $('summary-reason'),
    summaryUniverse: $('summary-universe'), summaryResults: $('summary-results'),
    summaryDiagnostics: $('summary-diagnostics'), summarySignals: $('summary-signals'),
    summaryTtfr: $('summary-ttfr'), summaryTotal: $('summary-total'),
    summaryStages: $('summary-stages'), diagnosticsCount: $('diagnostics-count'),
    diagnosticsList: $('diagnostics-list'), rowCount: $('row-count'),
    summaryBody: document.querySelector('#summary .summary-body'),
    diagnosticsBlock: $('diagnostics-count').closest('details'),
    filterText: $('filter-text'), filterSignal: $('filter-signal'), filterSector: $('filter-sector'),
    filterTier: $('filter-tier'), clearFilters: $('clear-filters'), head: $('results-head'),
    body: $('results-body'), announcer: $('announcer'),
  };

  const freshScan = () => ({
    scanId: null,
    streaming: true,
    status: 'idle',
    stopRequested: false,
    lastSeq: 0,
    rows: new Map(),
    // Bumped on every change to `rows`, so the table is rebuilt only when it has to be.
    rowsVersion: 0,
    progress: null,
    progressAt: 0,
    final: null,
    error: null,
    replays: 0,
  });
  let model = freshScan();
  const view = {
    sort: { key: 'tech_rating', dir: 'desc' },
    filter: { text: '', signal: '', sector: '', tier: '' },
    renderedVersion: -1,
    renderedView: '',
  };
  // `generation` changes with every new scan, so callbacks of an older scan's socket, timer or
  // fetch that fire late do nothing.
  const link = { socket: null, timer: null, attempts: 0, resuming: false, reconnects: 0, generation: 0, state: 'idle' };

  // ---- formatting --------------------------------------------------------------------------

  const esc = (value) => String(value ?? '').replace(/[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
  const fixed = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
  const seconds = (value) => {
    if (!Number.isFinite(value)) return '—';
    if (value < 1) return `${Math.round(value * 1000)} ms`;
    if (value < 60) return `${value.toFixed(1)} s`;
    return `${Math.floor(value / 60)}m ${Math.round(value % 60)}s`;
  };
  const signalBadge = (signal) => {
    const s = SIGNALS[signal];
    return s
      ? `<span class="badge signal-${esc(signal)}"><span aria-hidden="true">${s.mark}</span> ${s.label}</span>`
      : esc(signal);
  };
  const tierBadge = (tier) => {
    const t = TIERS[tier ?? 'none'];
    return `<span class="badge tier-${esc(tier ?? 'none')}">${esc(t ? t.label : tier)}</span>`;
  };
  const announce = (text) => { el.announcer.textContent = text; };

  // ---- the model ---------------------------------------------------------------------------

  const finished = () => model.final !== null || model.error !== null;

  // Applies one message of the scan's log. `contiguous` is true for the WebSocket, which carries
  // every seq: a jump there means something was missed, and the caller resumes from lastSeq.
  function apply(message, contiguous) {
    const seq = message && message.metadata && message.metadata.seq;
    if (!Number.isSafeInteger(seq)) return 'ignored';
    if (seq <= model.lastSeq) {
      model.replays += 1;
      return 'replay';
    }
    if (contiguous && seq !== model.lastSeq + 1) return 'gap';
    model.lastSeq = seq;
    switch (message.type) {
      case 'result':
        model.rows.set(message.data.symbol, { data: message.data, seq });
        model.rowsVersion += 1;
        break;
      case 'progress':
        setProgress(message.data);
        break;
      case 'complete':
        finish(message.data);
        break;
      case 'error':
        fail((message.data && message.data.message) || 'the scan failed');
        break;
      default:
        break;
    }
    return 'applied';
  }

  function setProgress(snapshot) {
    if (!snapshot || !snapshot.stages) return;
    model.progress = snapshot;
    model.progressAt = performance.now();
    if (!finished()) model.status = model.stopRequested ? 'stopping' : snapshot.status;
  }

  // The final word is the truth: the rows become its ranked results (with exact alpha scores and
  // ratings), keeping the seq each row arrived with. A polled report carries the results whole; the
  // final message names each streamed result's rank, alpha score, rating, signal and quality only.
  // Should a ranked symbol never have come as a result here, the whole report is fetched instead.
  function finish(report) {
    const streamed = model.rows;
    const ranked = report.results || report.ranking.map((r) =>
      streamed.has(r.symbol)
        ? {
          ...streamed.get(r.symbol).data,
          rank: r.rank,
          alpha_score: r.alpha_score,
          tech_rating: r.tech_rating,
          signal: r.signal,
          high_quality: r.high_quality,
        }
        : null);
    if (ranked.includes(null)) {
      // Polled from here on: a reconnection after a failed poll would start past the final message.
      if (link.socket) drop(link.socket);
      model.streaming = false;
      poll(link.generation);
      return;
    }
    model.rows = new Map(ranked.map((r) => [r.symbol, { data: r, seq: streamed.has(r.symbol) ? streamed.get(r.symbol).seq : null }]));
    model.rowsVersion += 1;
    model.final = { ...report, resultCount: ranked.length };
    model.status = report.status;
    const reason = report.stop_reason ? `: ${report.stop_reason}` : '';
    announce(`Scan ${report.status}${reason}. ${ranked.length} results.`);
  }

  function fail(message) {
    model.error = message;
    model.status = 'failed';
    announce(`Scan failed: ${message}`);
  }

  // ---- the connection ----------------------------------------------------------------------

  function showConnection(state, text) {
    link.state = state;
    el.connection.dataset.state = state;
    el.connection.textContent = text;
  }

  function detach() {
    link.generation += 1;
    clearTimeout(link.timer);
    link.timer = null;
    if (link.socket) drop(link.socket);
    link.attempts = 0;
    link.resuming = false;
  }

  function drop(socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    if (link.socket === socket) link.socket = null;
    socket.close();
  }

  function connect() {
    const url = new URL(`/ws/results/${encodeURIComponent(model.scanId)}?from_seq=${model.lastSeq}`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (link.socket) drop(link.socket);
    const socket = new WebSocket(url);
    link.socket = socket;
    if (!link.resuming) showConnection('connecting', 'Connecting…');
    let opened = false;
    socket.onopen = () => {
      opened = true;
      link.refusedHandshakes = 0;
      if (link.resuming) {
        link.reconnects += 1;
        announce(`Reconnected; resuming after message ${model.lastSeq}.`);
      }
      link.attempts = 0;
      link.resuming = false;
      showConnection('live', 'Live');
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (apply(message, true) === 'gap') {
        drop(socket);
        reconnectLater(0);
        return;
      }
      if (finished()) {
        drop(socket);
        showConnection('done', 'Scan finished');
      }
      scheduleRender();
    };
    socket.onclose = (event) => {
      link.socket = null;
      if (finished()) {
        showConnection('done', 'Scan finished');
        return;
      }
      // A handshake refused while the scan answers over HTTP is the server declining streams
      // (streaming turned off: 503; every stream slot taken: 429), not a network drop: after a
      // few, follow the scan by polling instead of retrying forever.
      if (!opened) link.refusedHandshakes = (link.refusedHandshakes || 0) + 1;
      // The server names a resume point in the close reason of 4000/4001; the last seq applied
      // here is the one that cannot skip anything, so that is where the next connection starts.
      reconnectLater(SERVER_RESUME_CODES.has(event.code) ? 0 : null);
    };
  }

  function backoff(attempt) {
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
    return Math.round(delay * (0.8 + Math.random() * 0.4));
  }

  function reconnectLater(delayMs) {
    link.attempts += 1;
    link.resuming = true;
    const delay = delayMs ?? backoff(link.attempts);
    showConnection('reconnecting', `Reconnecting… (attempt ${link.attempts})`);
    if (link.attempts === 1) announce('Connection lost; reconnecting.');
    const generation = link.generation;
    clearTimeout(link.timer);
    link.timer = setTimeout(() => resume(generation), delay);
  }

  // Asks over plain HTTP whether the scan still exists before opening a socket: a failed
  // WebSocket handshake does not tell "server unreachable" from "scan dropped".
  async function resume(generation) {
    link.timer = null;
    let response;
    try {
      response = await fetch(`/scan/progress/${encodeURIComponent(model.scanId)}`, { cache: 'no-store' });
    } catch {
      if (generation === link.generation) reconnectLater(null);
      return;
    }
    if (generation !== link.generation) return;
    if (response.status === 404) {
      gone();
      return;
    }
    if (model.streaming && (link.refusedHandshakes || 0) >= REFUSED_HANDSHAKES_BEFORE_POLLING) {
      model.streaming = false;
      announce('Live streaming is not available; following the scan by polling.');
    }
    if (model.streaming) connect();
    else poll(generation);
  }

  function gone() {
    model.status = 'gone';
    showConnection('gone', 'Scan no longer on the server');
    announce('The scan is no longer on the server.');
    scheduleRender();
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: 'no-store' });
    return { status: response.status, body: await response.json().catch(() => null) };
  }

  // Without streaming the page asks for what is new every POLL_MS; `since_seq` makes the answers
  // incremental and lastSeq keeps them free of duplicates.
  async function poll(generation) {
    const id = encodeURIComponent(model.scanId);
    let progress;
    let results;
    try {
      [progress, results] = await Promise.all([
        getJson(`/scan/progress/${id}`),
        getJson(`/scan/results/${id}?since_seq=${model.lastSeq}`),
      ]);
    } catch {
      if (generation === link.generation) reconnectLater(null);
      return;
    }
    if (generation !== link.generation) return;
    if (progress.status === 404 || results.status === 404) {
      gone();
      return;
    }
    link.attempts = 0;
    link.resuming = false;
    showConnection('polling', 'Polling');
    if (progress.body) setProgress(progress.body);
    if (results.body) {
      for (const message of results.body.results || []) apply(message, false);
      model.lastSeq = Math.max(model.lastSeq, results.body.last_seq || 0);
      // The server says `complete` once it has the outcome; the final report or the error comes
      // with it. Anything else is not an ending yet: poll again.
      if (results.body.complete && results.body.final) finish(results.body.final);
      else if (results.body.complete && results.body.error) fail(results.body.error);
    }
    scheduleRender();
    if (finished()) showConnection('done', 'Scan finished');
    else link.timer = setTimeout(() => poll(generation), POLL_MS);
  }

  function attach(scanId, streaming) {
    detach();
    model = freshScan();
    model.scanId = scanId;
    model.streaming = streaming;
    model.status = 'running';
    history.replaceState(null, '', `#scan=${encodeURIComponent(scanId)}`);
    // On a narrow screen the form would push the scan below the fold; it stays one tap away.
    if (NARROW.matches) el.formPanel.open = false;
    announce(`Scan ${scanId} started.`);
    if (streaming) connect();
    else poll(link.generation);
    scheduleRender();
  }

  // ---- the form ----------------------------------------------------------------------------

  function numberField(name, integer) {
    const raw = el.form.elements[name].value.trim();
    if (raw === '') return undefined;
    return integer ? Number.parseInt(raw, 10) : Number(raw);
  }

  // Only fields the server's ScanRequest knows, and only those the user filled in: the server
  // rejects unknown fields and applies its own defaults to missing ones.
  function requestBody() {
    const body = {};
    const sectors = [...el.sectors.querySelectorAll('input:checked')].map((input) => input.value);
    if (sectors.length) body.sectors = sectors;
    for (const [name, integer] of [['max_symbols', true], ['min_tech_rating', false], ['min_price', false], ['min_avg_volume', false]]) {
      const value = numberField(name, integer);
      if (value !== undefined) body[name] = value;
    }
    body.enable_prioritization = el.form.elements.enable_prioritization.checked;
    body.enable_streaming = el.form.elements.enable_streaming.checked;
    const termination = {};
    for (const [name, integer] of [['max_signals', true], ['min_signal_rating', false], ['max_percent_scanned', false], ['timeout_seconds', false]]) {
      const value = numberField(name, integer);
      if (value !== undefined) termination[name] = value;
    }
    if (Object.keys(termination).length) body.termination_criteria = termination;
    // The screen's expressions (expression.js checks them as they are typed).
    for (const name of ['where', 'rank_by']) {
      const field = el.form.elements[name];
      const value = field ? field.value.trim() : '';
      if (value) body[name] = value;
    }
    return body;
  }

  function showFormError(text) {
    el.formError.textContent = text;
    el.formError.hidden = !text;
  }

  async function startScan(event) {
    event.preventDefault();
    showFormError('');
    el.start.disabled = true;
    try {
      const response = await fetch('/scan/start', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(requestBody()),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        showFormError((body && body.error && body.error.message) || `The server answered ${response.status}.`);
        return;
      }
      attach(body.scan_id, !(body.features && body.features.streaming === false));
    } catch (error) {
      showFormError(`Could not reach the server: ${error.message}`);
    } finally {
      el.start.disabled = false;
    }
  }

  async function stopScan() {
    const id = model.scanId;
    if (!id || finished()) return;
    model.stopRequested = true;
    model.status = 'stopping';
    scheduleRender();
    try {
      const response = await fetch(`/scan/stop/${encodeURIComponent(id)}`, { method: 'POST' });
      // 409: it finished on its own in the meantime; its final message is on its way.
      if (!response.ok && response.status !== 409) {
        const body = await response.json().catch(() => null);
        throw new Error((body && body.error && body.error.message) || `the server answered ${response.status}`);
      }
      announce('Stopping the scan; results so far are kept.');
    } catch (error) {
      if (id !== model.scanId) return;
      model.stopRequested = false;
      if (!finished()) model.status = 'running';
      showFormError(`Could not stop the scan: ${error.message}`);
      scheduleRender();
    }
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

  const STATUS_TEXT = {
    idle: 'No scan yet', pending: 'Starting…', running: 'Running', stopping: 'Stopping…',
    completed: 'Completed', stopped: 'Stopped', failed: 'Failed', gone: 'No longer on the server',
  };

  function renderStatus() {
    el.status.dataset.status = model.status;
    el.status.textContent = STATUS_TEXT[model.status] || model.status;
    el.stop.disabled = !model.scanId || finished() || model.stopRequested || model.status === 'gone';
    el.connection.dataset.reconnects = String(link.reconnects);
    el.connection.dataset.lastSeq = String(model.lastSeq);
    el.connection.dataset.replays = String(model.replays);
    el.connection.dataset.scanId = model.scanId || '';
  }

  // The share of the scanning stage a stopped scan got through; null when it was not cut short.
  function stoppedAt() {
    if (!model.final || model.final.status !== 'stopped') return null;
    const m = model.final.metrics;
    return m.symbols_total ? (100 * m.symbols_scanned) / m.symbols_total : 0;
  }

  function stageProgress(name, snapshot) {
    const stopped = stoppedAt();
    if (name === 'symbol_scanning' && stopped !== null) return stopped;
    if (model.final) return name in model.final.metrics.stage_seconds ? 100 : 0;
    return snapshot && snapshot.stages[name] ? snapshot.stages[name].progress : 0;
  }

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
    const ticking = !finished() && model.status !== 'gone';
    return snapshot.elapsed + (ticking ? (performance.now() - model.progressAt) / 1000 : 0);
  }

  function renderProgress() {
    const snapshot = model.progress;
    // A stopped scan shows how far it got, not the 100% of "nothing left to do".
    const overall = model.final
      ? STAGES.reduce((sum, [name, , weight]) => sum + weight * stageProgress(name, snapshot), 0)
      : snapshot ? snapshot.overall_progress : 0;
    el.overall.setAttribute('aria-valuenow', String(Math.round(overall * 10) / 10));
    el.overall.style.setProperty('--value', `${overall}%`);
    el.overall.dataset.state = model.status;
    const eta = model.final ? '' : snapshot && snapshot.overall_eta_formatted ? ` · ETA ${snapshot.overall_eta_formatted}` : '';
    el.overallText.textContent = `${fixed(overall, 1)}%${eta}`;
    el.message.textContent = snapshot ? snapshot.message : '';

    el.stages.innerHTML = STAGES.map(([name, label]) => {
      const state = stageState(name, snapshot);
      const progress = stageProgress(name, snapshot);
      return `<li class="stage" data-testid="stage-${name}" data-stage="${name}" data-state="${state}">
        <span class="stage-name">${label}</span>
        <span class="stage-state state-${state}">${state}</span>
        <span class="mini-bar" aria-hidden="true"><span style="width:${progress}%"></span></span>
        <span class="stage-pct">${fixed(progress, 0)}%</span></li>`;
    }).join('');

    const throughput = model.final ? model.final.metrics.symbols_per_second : snapshot ? snapshot.stage_throughput : NaN;
    el.throughput.textContent = fixed(throughput, 1);
    el.elapsed.textContent = seconds(elapsedNow());
    el.eta.textContent = model.final ? 'done' : (snapshot && snapshot.overall_eta_formatted) || '—';
    el.results.textContent = String(model.rows.size);
    let signals = 0;
    for (const row of model.rows.values()) if (row.data.high_quality) signals += 1;
    el.signals.textContent = String(signals);
  }

  function renderSummary() {
    if (!finished()) {
      el.summary.hidden = true;
      el.summary.dataset.status = '';
      return;
    }
    if (!el.summary.hidden && el.summary.dataset.scanId === model.scanId) return;
    el.summary.hidden = false;
    el.summary.dataset.scanId = model.scanId;
    el.summary.dataset.status = model.status;
    el.summaryStatus.className = `badge status-${model.status}`;
    el.summaryStatus.textContent = STATUS_TEXT[model.status] || model.status;
    const report = model.final;
    el.summaryBody.hidden = !report;
    el.diagnosticsBlock.hidden = !report;
    if (!report) {
      el.summaryReason.textContent = model.error;
      return;
    }
    el.summaryReason.textContent = report.stop_reason
      ? `Reason: ${report.stop_reason}`
      : 'Every symbol was scanned.';
    const m = report.metrics;
    el.summaryUniverse.textContent = `${m.symbols_total} (${m.symbols_scanned} scanned)`;
    el.summaryResults.textContent = String(report.resultCount);
    el.summaryDiagnostics.textContent = `${m.skipped} skipped, ${m.errors} errors`;
    el.summarySignals.textContent = String(m.high_quality_signals);
    el.summaryTtfr.textContent = m.time_to_first_result === null ? 'no result' : seconds(m.time_to_first_result);
    el.summaryTotal.textContent = seconds(m.seconds_total);
    el.summaryStages.innerHTML = STAGES.map(([name, label]) =>
      `<tr data-stage="${name}"><th scope="row">${label}</th><td class="num">${name in m.stage_seconds ? m.stage_seconds[name].toFixed(3) : '—'}</td></tr>`).join('');
    el.diagnosticsCount.textContent = String(report.diagnostics.length);
    el.diagnosticsList.innerHTML = report.diagnostics.map((d) =>
      `<li data-symbol="${esc(d.symbol)}" data-kind="${esc(d.kind)}"><span class="badge kind-${esc(d.kind)}">${esc(d.kind)}</span> <strong>${esc(d.symbol)}</strong> ${esc(d.message)}</li>`).join('');
  }

  function sortValue(data, seq, column) {
    switch (column.kind) {
      case 'signal': return SIGNALS[data.signal] ? SIGNALS[data.signal].strength : null;
      case 'tier': return TIERS[data.priority_tier ?? 'none'].strength;
      default: break;
    }
    if (column.key === 'seq') return seq;
    const value = data[column.key];
    // Streamed results are ranked only at the end: rank 0 means "not ranked yet".
    if (column.key === 'rank' && value === 0) return null;
    return value === undefined ? null : value;
  }

  function comparator() {
    const column = COLUMNS.find((c) => c.key === view.sort.key);
    const sign = view.sort.dir === 'asc' ? 1 : -1;
    return (a, b) => {
      const x = sortValue(a.data, a.seq, column);
      const y = sortValue(b.data, b.seq, column);
      // Missing values go last whatever the direction; ties fall back to the symbol.
      if (x === null || y === null) {
        if (x !== y) return x === null ? 1 : -1;
      } else if (x !== y) {
        return sign * (typeof x === 'string' ? x.localeCompare(y) : x - y);
      }
      return a.data.symbol < b.data.symbol ? -1 : a.data.symbol > b.data.symbol ? 1 : 0;
    };
  }

  function visibleRows() {
    const { text, signal, sector, tier } = view.filter;
    const needle = text.trim().toLowerCase();
    const rows = [];
    for (const row of model.rows.values()) {
      const d = row.data;
      if (needle && !d.symbol.toLowerCase().includes(needle) && !(d.name || '').toLowerCase().includes(needle)) continue;
      if (signal && d.signal !== signal) continue;
      if (sector && (d.sector || '') !== sector) continue;
      if (tier && (d.priority_tier || 'none') !== tier) continue;
      rows.push(row);
    }
    return rows.sort(comparator());
  }

  function rowHtml({ data: d, seq }) {
    const change = Number.isFinite(d.change_pct) ? `${d.change_pct > 0 ? '+' : ''}${d.change_pct.toFixed(2)}%` : '—';
    const direction = d.change_pct > 0 ? 'up' : d.change_pct < 0 ? 'down' : 'flat';
    const tier = d.priority_tier || 'none';
    return `<tr tabindex="0" data-symbol="${esc(d.symbol)}" data-seq="${seq ?? ''}" data-signal="${esc(d.signal)}" data-sector="${esc(d.sector)}" data-tier="${esc(tier)}" data-rating="${d.tech_rating}" data-rank="${d.rank || ''}" data-alpha="${d.alpha_score ?? ''}"${d.high_quality ? ' class="hq"' : ''}>
      <th scope="row" class="sym">${esc(d.symbol)}</th>
      <td class="num">${d.rank ? d.rank : '—'}</td>
      <td class="name" title="${esc(d.name || '')}">${esc(d.name || '')}</td>
      <td class="sector" title="${esc(d.sector || '')}">${esc(d.sector || '—')}</td>
      <td>${signalBadge(d.signal)}</td>
      <td class="num rating"><span class="meter" style="--v:${fixed(d.tech_rating, 1)}%" aria-hidden="true"></span>${fixed(d.tech_rating, 1)}</td>
      <td class="num">${d.alpha_score === null || d.alpha_score === undefined ? '—' : d.alpha_score.toFixed(2)}</td>
      <td>${tierBadge(d.priority_tier)}</td>
      <td class="num">${fixed(d.close, 2)}</td>
      <td class="num chg-${direction}">${change}</td>
      <td class="num">${Number.isFinite(d.avg_volume_20) ? compact.format(d.avg_volume_20) : '—'}</td>
      <td>${esc(d.trend_direction)}</td>
      <td class="num">${seq ?? '—'}</td></tr>`;
  }

  function renderHead() {
    el.head.innerHTML = COLUMNS.map((c) => {
      const active = view.sort.key === c.key;
      const aria = active ? ` aria-sort="${view.sort.dir === 'asc' ? 'ascending' : 'descending'}"` : '';
      const arrow = active ? (view.sort.dir === 'asc' ? '▲' : '▼') : '↕';
      const numeric = c.kind === 'num' ? ' class="num"' : '';
      return `<th scope="col"${aria}${numeric}><button type="button" class="sort" data-sort="${c.key}" data-testid="sort-${c.key}">${c.label}<span class="arrow" aria-hidden="true">${arrow}</span></button></th>`;
    }).join('');
  }

  function renderTable() {
    const viewKey = JSON.stringify([view.sort, view.filter]);
    if (view.renderedVersion === model.rowsVersion && view.renderedView === viewKey) return;
    view.renderedVersion = model.rowsVersion;
    view.renderedView = viewKey;
    renderSectorOptions();
    const rows = visibleRows();
    el.body.innerHTML = rows.length
      ? rows.map(rowHtml).join('')
      : `<tr class="empty"><td colspan="${COLUMNS.length}">${model.rows.size ? 'No row matches the filters.' : 'Results appear here as the scan finds them.'}</td></tr>`;
    el.rowCount.dataset.visible = String(rows.length);
    el.rowCount.dataset.total = String(model.rows.size);
    el.rowCount.textContent = model.rows.size === 0
      ? 'No results'
      : rows.length === model.rows.size ? `${rows.length} rows` : `Showing ${rows.length} of ${model.rows.size}`;
  }

  // The sector list is GICS plus any other sector a result names, so no row is unfilterable.
  function renderSectorOptions() {
    const known = new Set([...el.filterSector.options].map((o) => o.value));
    for (const row of model.rows.values()) {
      const sector = row.data.sector;
      if (sector && !known.has(sector)) {
        known.add(sector);
        el.filterSector.add(new Option(sector, sector));
      }
    }
  }

  // ---- wiring ------------------------------------------------------------------------------

  function init() {
    el.sectors.innerHTML = SECTORS.map((s, i) =>
      `<label class="check" for="sector-${i}"><input id="sector-${i}" type="checkbox" name="sectors" value="${esc(s)}"> ${esc(s)}</label>`).join('');
    for (const [value, s] of Object.entries(SIGNALS)) el.filterSignal.add(new Option(s.label, value));
    for (const s of SECTORS) el.filterSector.add(new Option(s, s));
    for (const [value, t] of Object.entries(TIERS)) el.filterTier.add(new Option(t.label, value));
    renderHead();

    el.form.addEventListener('submit', startScan);
    el.stop.addEventListener('click', stopScan);
    el.head.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-sort]');
      if (!button) return;
      const column = COLUMNS.find((c) => c.key === button.dataset.sort);
      if (view.sort.key === column.key) {
        view.sort.dir = view.sort.dir === 'asc' ? 'desc' : 'asc';
      } else {
        view.sort = { key: column.key, dir: column.dir || (column.kind === 'text' ? 'asc' : 'desc') };
      }
      renderHead();
      renderTable();
      // The header was rebuilt: put focus back on the same button so keyboard users stay put.
      el.head.querySelector(`button[data-sort="${column.key}"]`).focus();
      announce(`Sorted by ${column.label}, ${view.sort.dir === 'asc' ? 'ascending' : 'descending'}.`);
    });
    const onFilter = () => {
      view.filter = {
        text: el.filterText.value,
        signal: el.filterSignal.value,
        sector: el.filterSector.value,
        tier: el.filterTier.value,
      };
      renderTable();
      announce(el.rowCount.textContent);
    };
    // A row opens the symbol's detail (detail.js), by click or Enter.
    const openRow = (target) => {
      const tr = target.closest('tr[data-symbol]');
      const row = tr && model.rows.get(tr.dataset.symbol);
      if (row) document.dispatchEvent(new CustomEvent('technic:open-symbol', { detail: { symbol: row.data.symbol, result: row.data } }));
    };
    el.body.addEventListener('click', (event) => openRow(event.target));
    el.body.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      openRow(event.target);
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
    // A browser that knows it is back online need not wait out the backoff.
    window.addEventListener('online', () => {
      if (link.state === 'reconnecting' && link.timer) {
        clearTimeout(link.timer);
        resume(link.generation);
      }
    });
    // Elapsed time moves between progress messages too.
    setInterval(() => {
      if (model.scanId && !finished()) el.elapsed.textContent = seconds(elapsedNow());
    }, 250);

    // A reload (or a shared link) picks the scan up again from its first message.
    const match = /^#scan=(.+)$/.exec(location.hash);
    if (match) attach(decodeURIComponent(match[1]), true);
    render();
  }

  init();
})();
