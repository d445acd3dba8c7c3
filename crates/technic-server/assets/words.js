// @ts-check
// Plain words for what the server says in codes: statuses, stop reasons, why a symbol has no row,
// and the scan's settings. Nothing here touches the page, so all of it is unit-tested under node.

import { compact, counted, thousands } from './format.js';

/** @type {Record<string, string>} */
export const STATUS_TEXT = {
  idle: 'No scan yet',
  pending: 'Starting…',
  running: 'Running',
  stopping: 'Stopping…',
  completed: 'Finished',
  stopped: 'Stopped early',
  failed: 'Failed',
  gone: 'No longer on the server',
};

/**
 * @param {string} status
 * @returns {string}
 */
export function statusText(status) {
  return STATUS_TEXT[status] ?? status.replace(/_/g, ' ');
}

/**
 * The engine's stop reason (its `Display` text, e.g. "max_signals reached: 5 high-quality
 * signals") in words a trader would use. Unknown reasons are passed through without their
 * snake_case.
 * @param {string | null | undefined} reason
 * @returns {string}
 */
export function stopReasonText(reason) {
  if (!reason) return '';
  let m = /^max_signals reached: (\d+)/.exec(reason);
  if (m) return `Stopped early: it found ${counted(Number(m[1]), 'high-quality signal')}, as many as you asked for.`;
  m = /^max_percent_scanned reached: ([\d.]+)%/.exec(reason);
  if (m) return `Stopped early: ${m[1]}% of the symbols were scanned, as you asked.`;
  m = /^timeout_seconds reached: ([\d.]+)/.exec(reason);
  if (m) return `Stopped early: the time limit of ${m[1]} seconds ran out.`;
  m = /^stopped by (.*)$/.exec(reason);
  if (m) return /scan\/stop|POST/i.test(m[1]) ? 'You stopped the scan.' : `Stopped by ${m[1].replace(/_/g, ' ')}.`;
  return `Stopped early: ${reason.replace(/_/g, ' ')}.`;
}

/**
 * The server's progress message in the page's words: "Scanning AAPL (120/500): 80 results, 30
 * filtered out, 10 without data" reads "Scanning AAPL, 120 of 500: 80 results, 30 filtered out,
 * 10 without data". What the symbols finished so far became is the server's count, kept apart as
 * the summary keeps it: a filtered symbol is never called skipped. Other messages pass unchanged.
 * @param {string | null | undefined} message
 * @returns {string}
 */
export function progressText(message) {
  if (!message) return '';
  const m = /^Scanning (\S+) \((\d+)\/(\d+)\)(?:: (.*))?$/.exec(message);
  if (!m) return message;
  const counts = m[4] ? `: ${m[4].replace(/\d+/g, (n) => thousands(Number(n)))}` : '';
  return `Scanning ${m[1]}, ${thousands(Number(m[2]))} of ${thousands(Number(m[3]))}${counts}`;
}

/** Why a symbol of the scan is not a row. */
/** @typedef {'filtered' | 'no_data' | 'not_scanned' | 'error'} Cause */

/** @type {Record<Cause, string>} */
export const CAUSE_TEXT = {
  filtered: 'Filtered out',
  no_data: 'Skipped (no data)',
  not_scanned: 'Not scanned (stopped first)',
  error: 'Error',
};

/**
 * A diagnostic's cause: the server names it (`cause`); a report from a server that does not is
 * read from the kind and message instead.
 * @param {{kind: string, message: string, cause?: string | null}} diagnostic
 * @returns {Cause}
 */
export function causeOf(diagnostic) {
  const { cause } = diagnostic;
  if (cause === 'filtered' || cause === 'no_data' || cause === 'not_scanned' || cause === 'error') return cause;
  if (diagnostic.kind === 'error') return 'error';
  if (diagnostic.message.startsWith('not scanned')) return 'not_scanned';
  if (/below min_|is below|screen/.test(diagnostic.message)) return 'filtered';
  return 'no_data';
}

/**
 * A diagnostic's message in plain words.
 * @param {{kind: string, message: string, cause?: string | null}} diagnostic
 * @returns {string}
 */
export function diagnosticText(diagnostic) {
  const { message } = diagnostic;
  let m = /^tech_rating ([\d.]+) is below min_tech_rating ([\d.]+)/.exec(message);
  if (m) return `Rating ${m[1]} is below your minimum of ${m[2]}.`;
  if (causeOf(diagnostic) === 'not_scanned') return 'Not scanned: the scan stopped before reaching it.';
  m = /below min_price/.exec(message);
  if (m) return message.replace(/min_price/g, 'your minimum price');
  m = /below min_avg_volume/.exec(message);
  if (m) return message.replace(/min_avg_volume/g, 'your minimum average volume');
  return message;
}

/**
 * @typedef {object} Outcomes
 * @property {number} total symbols the scan set out to process
 * @property {number} results
 * @property {number} filtered
 * @property {number} no_data
 * @property {number} not_scanned
 * @property {number} error
 */

/**
 * What became of every symbol of a finished scan; the parts add up to `total` whenever the
 * report accounts for every symbol (every report of this server does).
 * @param {{metrics: {symbols_total: number}, diagnostics: {kind: string, message: string, cause?: string | null}[]}} report
 * @param {number} results
 * @returns {Outcomes}
 */
export function outcomes(report, results) {
  /** @type {Outcomes} */
  const counts = { total: report.metrics.symbols_total, results, filtered: 0, no_data: 0, not_scanned: 0, error: 0 };
  for (const d of report.diagnostics) counts[causeOf(d)] += 1;
  return counts;
}

/**
 * The one line that says how a finished scan ended.
 * @param {string} status
 * @param {string | null | undefined} stopReason
 * @param {Outcomes} counts
 * @returns {string}
 */
export function headline(status, stopReason, counts) {
  if (status === 'stopped') return stopReasonText(stopReason);
  if (counts.results === 0) {
    return counts.filtered > 0
      ? `Finished: no symbol passed your filters (${thousands(counts.filtered)} filtered out).`
      : 'Finished: no symbol gave a result.';
  }
  const passed = counts.filtered > 0 ? `; ${thousands(counts.results)} passed your filters` : '';
  return `Finished: all ${counted(counts.total, 'symbol')} were looked at${passed}.`;
}

/**
 * The scan's settings in words, one entry per setting that was set, from the request the page
 * sent (ScanRequest's fields).
 * @param {Record<string, any> | null | undefined} request
 * @returns {string[]}
 */
export function describeRequest(request) {
  if (!request) return [];
  const parts = [];
  parts.push(request.sectors && request.sectors.length ? `Sectors: ${request.sectors.join(', ')}` : 'All sectors');
  if (request.max_symbols !== undefined) parts.push(`At most ${counted(request.max_symbols, 'symbol')}`);
  if (request.min_tech_rating !== undefined) parts.push(`Rating ≥ ${request.min_tech_rating}`);
  if (request.min_price !== undefined) parts.push(`Price ≥ ${thousands(request.min_price, 2)}`);
  if (request.min_avg_volume !== undefined) parts.push(`Avg volume ≥ ${compact(request.min_avg_volume)}`);
  if (request.where) parts.push(`Where ${request.where}`);
  if (request.screen) parts.push(`Screen ${typeof request.screen === 'string' ? request.screen : JSON.stringify(request.screen)}`);
  if (request.rank_by) parts.push(`Ranked by ${request.rank_by}`);
  const stop = request.termination_criteria || {};
  if (stop.max_signals !== undefined) {
    parts.push(`Stop at ${counted(stop.max_signals, 'signal')}${stop.min_signal_rating !== undefined ? ` rated ≥ ${stop.min_signal_rating}` : ''}`);
  }
  if (stop.max_percent_scanned !== undefined) parts.push(`Stop at ${stop.max_percent_scanned}% scanned`);
  if (stop.timeout_seconds !== undefined) parts.push(`Time limit ${stop.timeout_seconds} s`);
  if (request.enable_prioritization === false) parts.push('No prioritisation');
  if (request.enable_streaming === false) parts.push('Polled, not streamed');
  return parts;
}
