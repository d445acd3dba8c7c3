// @ts-check
// Following a scan: `/ws/results/{id}` (or polling `/scan/results` when streaming is off), with
// reconnection from the last seq applied after a drop, and a watchdog for a stream that stalls
// without closing: the server sends a keep-alive frame at least every `keepAliveMs` (the page asks
// for them with `?keep_alive=true`, as a script never sees WebSocket pings), so twice that long
// without a frame means the connection is dead even though no close came.

/** @typedef {import('./model.js').Applied} Applied */

/**
 * @typedef {object} Hooks
 * @property {() => string | null} scanId
 * @property {() => number} lastSeq
 * @property {(lastSeq: number) => void} setLastSeq for a poll's `last_seq`
 * @property {(message: unknown, contiguous: boolean) => Applied} apply
 * @property {(snapshot: unknown) => void} progress a polled progress snapshot
 * @property {(report: any) => void} finishPolled the polled final report
 * @property {(message: string) => void} failPolled
 * @property {() => boolean} finished
 * @property {() => boolean} streaming
 * @property {(on: boolean) => void} setStreaming
 * @property {() => void} gone the scan is no longer on the server
 * @property {(state: string, text: string) => void} show
 * @property {(text: string) => void} announce
 * @property {() => void} changed something to draw
 */

// Backoff after a dropped connection: doubles from the base up to the cap, with jitter so that
// many pages cut off at once do not come back in lockstep.
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;
const REFUSED_HANDSHAKES_BEFORE_POLLING = 3;
const POLL_MS = 750;
// Close codes with which the server asks the client to come back (too slow, stalled).
const SERVER_RESUME_CODES = new Set([4000, 4001]);

/**
 * @param {number} attempt
 * @returns {number}
 */
export function backoff(attempt) {
  const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return Math.round(delay * (0.8 + Math.random() * 0.4));
}

export class Connection {
  /** @param {Hooks} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {WebSocket | null} */
    this.socket = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.attempts = 0;
    this.resuming = false;
    this.reconnects = 0;
    this.refusedHandshakes = 0;
    this.stalls = 0;
    // Changes with every new scan, so callbacks of an older scan's socket, timer or fetch that
    // fire late do nothing.
    this.generation = 0;
    this.state = 'idle';
    this.keepAliveMs = 15_000;
    this.lastHeard = 0;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.watchdog = null;
  }

  /**
   * @param {string} state
   * @param {string} text
   */
  show(state, text) {
    this.state = state;
    this.hooks.show(state, text);
  }

  /** Forgets the current scan's connection (a new scan, or none). */
  detach() {
    this.generation += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) this.drop(this.socket);
    this.attempts = 0;
    this.resuming = false;
    this.refusedHandshakes = 0;
  }

  /** Starts following the current scan. */
  follow() {
    this.startWatchdog();
    if (this.hooks.streaming()) this.connect();
    else this.poll(this.generation);
  }

  /** @param {WebSocket} socket */
  drop(socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    if (this.socket === socket) this.socket = null;
    socket.close();
  }

  connect() {
    const id = this.hooks.scanId();
    if (!id) return;
    const url = new URL(`/ws/results/${encodeURIComponent(id)}?from_seq=${this.hooks.lastSeq()}&keep_alive=true`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.socket) this.drop(this.socket);
    const socket = new WebSocket(url);
    this.socket = socket;
    this.lastHeard = performance.now();
    if (!this.resuming) this.show('connecting', 'Connecting…');
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.refusedHandshakes = 0;
      this.lastHeard = performance.now();
      if (this.resuming) {
        this.reconnects += 1;
        this.hooks.announce(`Reconnected; resuming after message ${this.hooks.lastSeq()}.`);
      }
      this.attempts = 0;
      this.resuming = false;
      this.show('live', 'Live');
    };
    socket.onmessage = (event) => {
      this.lastHeard = performance.now();
      if (this.state === 'stalled') this.show('live', 'Live');
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      const applied = this.hooks.apply(message, true);
      if (applied === 'gap') {
        this.drop(socket);
        this.reconnectLater(0);
        return;
      }
      if (applied === 'incomplete') {
        // Polled from here on: a reconnection after a failed poll would start past the final
        // message, which named a result this page never got.
        this.drop(socket);
        this.hooks.setStreaming(false);
        this.poll(this.generation);
        return;
      }
      if (this.hooks.finished()) {
        this.drop(socket);
        this.show('done', 'Scan finished');
      }
      this.hooks.changed();
    };
    socket.onclose = (event) => {
      this.socket = null;
      if (this.hooks.finished()) {
        this.show('done', 'Scan finished');
        return;
      }
      // A handshake refused while the scan answers over HTTP is the server declining streams
      // (streaming turned off: 503; every stream slot taken: 429), not a network drop: after a
      // few, follow the scan by polling instead of retrying forever.
      if (!opened) this.refusedHandshakes += 1;
      // The server names a resume point in the close reason of 4000/4001; the last seq applied
      // here is the one that cannot skip anything, so that is where the next connection starts.
      this.reconnectLater(SERVER_RESUME_CODES.has(event.code) ? 0 : null);
    };
  }

  startWatchdog() {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => this.checkStall(), 250);
  }

  /** A socket that is open but silent for twice the keep-alive period is given up on. */
  checkStall() {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || this.hooks.finished()) return;
    const silent = performance.now() - this.lastHeard;
    if (silent <= 2 * this.keepAliveMs) return;
    this.stalls += 1;
    this.drop(socket);
    this.hooks.announce(`No word from the server for ${Math.round(silent / 1000)} seconds; reconnecting.`);
    this.show('stalled', 'Stalled — reconnecting…');
    this.attempts += 1;
    this.resuming = true;
    const generation = this.generation;
    if (this.timer) clearTimeout(this.timer);
    // Long enough for the "stalled" state to be seen, short enough not to lose time.
    this.timer = setTimeout(() => this.resume(generation), 600);
  }

  /** @param {number | null} delayMs */
  reconnectLater(delayMs) {
    this.attempts += 1;
    this.resuming = true;
    const delay = delayMs ?? backoff(this.attempts);
    this.show('reconnecting', `Reconnecting… (attempt ${this.attempts})`);
    if (this.attempts === 1) this.hooks.announce('Connection lost; reconnecting.');
    const generation = this.generation;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.resume(generation), delay);
  }

  /** A browser that knows it is back online need not wait out the backoff. */
  online() {
    if (this.state === 'reconnecting' && this.timer) {
      clearTimeout(this.timer);
      this.resume(this.generation);
    }
  }

  /**
   * Asks over plain HTTP whether the scan still exists before opening a socket: a failed
   * WebSocket handshake does not tell "server unreachable" from "scan dropped".
   * @param {number} generation
   */
  async resume(generation) {
    this.timer = null;
    const id = this.hooks.scanId();
    if (!id) return;
    let response;
    try {
      response = await fetch(`/scan/progress/${encodeURIComponent(id)}`, { cache: 'no-store' });
    } catch {
      if (generation === this.generation) this.reconnectLater(null);
      return;
    }
    if (generation !== this.generation) return;
    if (response.status === 404) {
      this.show('gone', 'Scan no longer on the server');
      this.hooks.gone();
      return;
    }
    if (this.hooks.streaming() && this.refusedHandshakes >= REFUSED_HANDSHAKES_BEFORE_POLLING) {
      this.hooks.setStreaming(false);
      this.hooks.announce('Live streaming is not available; following the scan by polling.');
    }
    if (this.hooks.streaming()) this.connect();
    else this.poll(generation);
  }

  /**
   * Without streaming the page asks for what is new every POLL_MS; `since_seq` makes the answers
   * incremental and the last seq keeps them free of duplicates.
   * @param {number} generation
   */
  async poll(generation) {
    const scanId = this.hooks.scanId();
    if (!scanId) return;
    const id = encodeURIComponent(scanId);
    let progress;
    let results;
    try {
      [progress, results] = await Promise.all([
        getJson(`/scan/progress/${id}`),
        getJson(`/scan/results/${id}?since_seq=${this.hooks.lastSeq()}`),
      ]);
    } catch {
      if (generation === this.generation) this.reconnectLater(null);
      return;
    }
    if (generation !== this.generation) return;
    if (progress.status === 404 || results.status === 404) {
      this.show('gone', 'Scan no longer on the server');
      this.hooks.gone();
      return;
    }
    this.attempts = 0;
    this.resuming = false;
    this.show('polling', 'Polling');
    if (progress.body) this.hooks.progress(progress.body);
    if (results.body) {
      for (const message of results.body.results || []) this.hooks.apply(message, false);
      this.hooks.setLastSeq(Math.max(this.hooks.lastSeq(), results.body.last_seq || 0));
      // The server says `complete` once it has the outcome; the final report or the error comes
      // with it. Anything else is not an ending yet: poll again.
      if (results.body.complete && results.body.final) this.hooks.finishPolled(results.body.final);
      else if (results.body.complete && results.body.error) this.hooks.failPolled(results.body.error);
    }
    this.hooks.changed();
    if (this.hooks.finished()) this.show('done', 'Scan finished');
    else this.timer = setTimeout(() => this.poll(generation), POLL_MS);
  }
}

/**
 * @param {string} path
 * @returns {Promise<{status: number, body: any}>}
 */
export async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  return { status: response.status, body: await response.json().catch(() => null) };
}
