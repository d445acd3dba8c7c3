// @ts-check
// How numbers, times and text are written on the page: one place, so a volume reads "27.2M" in
// the table, the cards and the CSV's neighbours alike, and a price always has its separators.

const grouped = new Map();
/**
 * Thousands separators and a fixed number of decimals: 12345.678 → "12,345.68".
 * @param {number | null | undefined} value
 * @param {number} [digits]
 * @returns {string}
 */
export function thousands(value, digits = 0) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  let format = grouped.get(digits);
  if (!format) {
    format = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
    grouped.set(digits, format);
  }
  return format.format(value);
}

// Intl's compact notation rounds 999,950 to "1000K" and writes billions as "B" only in some
// locales; these steps are written out so every large number on the page reads the same way.
const STEPS = /** @type {const} */ ([[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']]);

/**
 * K/M/B/T with one decimal: 27_215_000 → "27.2M", 950 → "950".
 * @param {number | null | undefined} value
 * @returns {string}
 */
export function compact(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  const size = Math.abs(value);
  for (let i = 0; i < STEPS.length; i += 1) {
    const [step, suffix] = STEPS[i];
    if (size >= step) {
      const scaled = value / step;
      // 999.96K rounds to 1000.0K: that is 1.0M.
      if (Math.abs(Number(scaled.toFixed(1))) >= 1000 && i > 0) {
        return `${(value / STEPS[i - 1][0]).toFixed(1)}${STEPS[i - 1][1]}`;
      }
      return `${scaled.toFixed(1)}${suffix}`;
    }
  }
  return thousands(value, Number.isInteger(value) ? 0 : 1);
}

/**
 * @param {number | null | undefined} value
 * @param {number} digits
 * @returns {string}
 */
export function fixed(value, digits) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
}

/**
 * A signed percentage: 1.234 → "+1.23%", -0.5 → "−0.50%" (a true minus sign).
 * @param {number | null | undefined} value
 * @returns {string}
 */
export function signedPercent(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  const text = Math.abs(value).toFixed(2);
  if (Number(text) === 0) return `${text}%`;
  return `${value > 0 ? '+' : '−'}${text}%`;
}

/**
 * A duration for people: 0.25 → "250 ms", 12.3 → "12.3 s", 125 → "2m 5s".
 * @param {number | null | undefined} value seconds
 * @returns {string}
 */
export function seconds(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(1)} s`;
  return `${Math.floor(value / 60)}m ${Math.round(value % 60)}s`;
}

/** @type {Record<string, string>} */
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Text made safe to put in HTML, attributes included.
 * @param {unknown} value
 * @returns {string}
 */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/**
 * A count with its noun: (1, 'symbol') → "1 symbol", (1200, 'symbol') → "1,200 symbols".
 * @param {number} count
 * @param {string} noun
 * @param {string} [plural]
 * @returns {string}
 */
export function counted(count, noun, plural) {
  return `${thousands(count)} ${count === 1 ? noun : plural ?? `${noun}s`}`;
}
