// @ts-check
// The scan as the page knows it: rows keyed by symbol, the last `seq` applied, the latest progress
// snapshot, the final report. Messages are applied in `seq` order exactly once: a message at or
// below the last seq applied is a replay and is dropped, and every (re)connection resumes from that
// seq, so a dropped connection can neither lose nor duplicate a row. No DOM here: unit-tested.

/** @typedef {import('./rows.js').Result} Result */
/** @typedef {import('./rows.js').Row} Row */

/**
 * @typedef {object} Message one message of a scan's log (ScanMessage)
 * @property {string} type
 * @property {any} data
 * @property {{seq: number}} metadata
 */

/**
 * @typedef {object} Report the final report (ScanSummary from a stream, ScanReport when polled)
 * @property {string} status
 * @property {string | null} [stop_reason]
 * @property {{kind: string, description: string, synthetic: boolean}} [data_source]
 * @property {string | null} [as_of]
 * @property {Result[]} [results]
 * @property {{symbol: string, rank: number, alpha_score: number | null, tech_rating: number, signal: string, high_quality: boolean}[]} [ranking]
 * @property {{symbol: string, kind: string, message: string, cause?: string | null}[]} diagnostics
 * @property {any} metrics
 */

/**
 * @typedef {object} Scan
 * @property {string | null} scanId
 * @property {boolean} streaming
 * @property {string} status
 * @property {boolean} stopRequested
 * @property {number} lastSeq
 * @property {Map<string, Row>} rows
 * @property {number} rowsVersion bumped on every change to `rows`, so the table is redrawn only then
 * @property {any} progress
 * @property {number} progressAt
 * @property {(Report & {resultCount: number}) | null} final
 * @property {string | null} error
 * @property {number} replays
 * @property {Record<string, any> | null} request the request that started the scan, when known
 */

/** @returns {Scan} */
export function freshScan() {
  return {
    scanId: null,
    streaming: true,
    status: 'idle',
    stopRequested: false,
    lastSeq: 0,
    rows: new Map(),
    rowsVersion: 0,
    progress: null,
    progressAt: 0,
    final: null,
    error: null,
    replays: 0,
    request: null,
  };
}

/** @param {Scan} scan */
export function finished(scan) {
  return scan.final !== null || scan.error !== null;
}

/**
 * What applying a message did: `gap` means a message was missed (the caller resumes from
 * `lastSeq`), `incomplete` that the final message names a result this page never got (the caller
 * fetches the whole report).
 * @typedef {'ignored' | 'replay' | 'gap' | 'applied' | 'incomplete'} Applied
 */

/**
 * Applies one message of the scan's log. `contiguous` is true for the WebSocket, which carries
 * every seq: a jump there means something was missed.
 * @param {Scan} scan
 * @param {unknown} raw
 * @param {boolean} contiguous
 * @param {number} [now] when, for the elapsed-time clock (performance.now())
 * @returns {Applied}
 */
export function applyMessage(scan, raw, contiguous, now = 0) {
  const message = /** @type {Message} */ (raw);
  const seq = message && message.metadata && message.metadata.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) return 'ignored';
  if (seq <= scan.lastSeq) {
    scan.replays += 1;
    return 'replay';
  }
  if (contiguous && seq !== scan.lastSeq + 1) return 'gap';
  scan.lastSeq = seq;
  switch (message.type) {
    case 'result':
      if (message.data && typeof message.data.symbol === 'string') {
        scan.rows.set(message.data.symbol, { data: message.data, seq });
        scan.rowsVersion += 1;
      }
      break;
    case 'progress':
      setProgress(scan, message.data, now);
      break;
    case 'complete':
      return finish(scan, message.data) ? 'applied' : 'incomplete';
    case 'error':
      fail(scan, (message.data && message.data.message) || 'the scan failed');
      break;
    default:
      break;
  }
  return 'applied';
}

/**
 * @param {Scan} scan
 * @param {any} snapshot
 * @param {number} now
 */
export function setProgress(scan, snapshot, now) {
  if (!snapshot || !snapshot.stages) return;
  scan.progress = snapshot;
  scan.progressAt = now;
  if (!finished(scan)) scan.status = scan.stopRequested ? 'stopping' : snapshot.status;
}

/**
 * The final word is the truth: the rows become its ranked results (with exact alpha scores and
 * ratings), keeping the seq each row arrived with. A polled report carries the results whole; the
 * final message names each streamed result's rank, alpha score, rating, signal and quality only.
 * Returns false, changing nothing, when a ranked symbol never came as a result here.
 * @param {Scan} scan
 * @param {Report} report
 * @returns {boolean}
 */
export function finish(scan, report) {
  const streamed = scan.rows;
  /** @type {(Result | null)[]} */
  const ranked = report.results || (report.ranking || []).map((r) => {
    const row = streamed.get(r.symbol);
    return row
      ? {
        ...row.data,
        rank: r.rank,
        alpha_score: r.alpha_score,
        tech_rating: r.tech_rating,
        signal: r.signal,
        high_quality: r.high_quality,
      }
      : null;
  });
  if (ranked.includes(null)) return false;
  const results = /** @type {Result[]} */ (ranked);
  scan.rows = new Map(results.map((r) => {
    const row = streamed.get(r.symbol);
    return [r.symbol, { data: r, seq: row ? row.seq : null }];
  }));
  scan.rowsVersion += 1;
  scan.final = { ...report, resultCount: results.length };
  scan.status = report.status;
  return true;
}

/**
 * @param {Scan} scan
 * @param {string} message
 */
export function fail(scan, message) {
  scan.error = message;
  scan.status = 'failed';
}

/**
 * What changed between two scans' rows, for the auto-rescan's highlights.
 * @param {Map<string, Row>} before
 * @param {Map<string, Row>} after
 * @returns {{added: Set<string>, gone: string[], changed: Map<string, string>}} changed: symbol → its signal before
 */
export function changesBetween(before, after) {
  const added = new Set();
  const changed = new Map();
  for (const [symbol, row] of after) {
    const old = before.get(symbol);
    if (!old) added.add(symbol);
    else if (old.data.signal !== row.data.signal) changed.set(symbol, old.data.signal);
  }
  const gone = [...before.keys()].filter((symbol) => !after.has(symbol)).sort();
  return { added, gone, changed };
}
