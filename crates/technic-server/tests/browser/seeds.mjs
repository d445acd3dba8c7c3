// The seeds' browser code (001_aaded8f220bdfe67.txt, "Frontend Integration") in headless Chromium,
// against a real technic server, driven by tests/seeds.rs.
//
//   node seeds.mjs BASE_URL
//
// The page of the server is only the origin the code runs from: the code itself is the seeds',
// unchanged (`new EventSource('/scan/stream/' + scanId)` with `onmessage`, `new WebSocket(...)` on
// `/scan/ws/{id}` reading `progress.overall_progress`, and REST polling of `/scan/progress/{id}`).
// The last line on stdout is a JSON object of what each client saw.
import { chromium } from 'playwright-core';

const [base] = process.argv.slice(2);
if (!base) {
  console.error('usage: node seeds.mjs BASE_URL');
  process.exit(2);
}
const watchdog = setTimeout(() => {
  console.error('seeds.mjs: gave up after 60 s');
  process.exit(3);
}, 60_000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.goto(base);
  const facts = await page.evaluate(async () => {
    const started = await fetch('/scan/start', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ max_symbols: 40, async_mode: true }),
    });
    if (started.status !== 202) throw new Error(`POST /scan/start: ${started.status} ${await started.text()}`);
    const scanId = (await started.json()).scan_id;

    // "Server-Sent Events (SSE)", as the deployment guide writes it.
    const sse = new Promise((resolve, reject) => {
      const seen = { messages: 0, types: [], overall: [], results: [], ids: [] };
      const eventSource = new EventSource(`/scan/stream/${scanId}`);
      eventSource.onmessage = (event) => {
        const progress = JSON.parse(event.data);
        // Update UI similar to WebSocket
        seen.messages += 1;
        seen.types.push(progress.type);
        seen.ids.push(Number(event.lastEventId));
        if (progress.type === 'progress') seen.overall.push(progress.overall_progress);
        if (progress.type === 'result') seen.results.push(progress.data.symbol);
        if (progress.type === 'complete') {
          eventSource.close();
          resolve(seen);
        }
      };
      eventSource.onerror = () => {
        if (eventSource.readyState === EventSource.CLOSED) reject(new Error('EventSource closed'));
      };
    });

    // "WebSocket Connection (Recommended)".
    const ws = new Promise((resolve) => {
      const seen = { overall: [], stages: [], etas: [], last: null };
      const socket = new WebSocket(`ws://${location.host}/scan/ws/${scanId}`);
      socket.onmessage = (event) => {
        const progress = JSON.parse(event.data);
        seen.last = progress.type;
        if (progress.type !== 'progress') return;
        seen.overall.push(progress.overall_progress);
        seen.stages.push([progress.current_stage, progress.stage_progress]);
        seen.etas.push(progress.overall_eta_formatted ?? null);
      };
      socket.onclose = () => resolve(seen);
    });

    // "REST Polling".
    const polled = [];
    const poll = (async function pollProgress() {
      for (;;) {
        const response = await fetch(`/scan/progress/${scanId}`);
        const progress = await response.json();
        polled.push([progress.status, progress.overall_progress]);
        if (progress.status !== 'running' && progress.status !== 'pending') return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const [sseSeen, wsSeen] = await Promise.all([sse, ws, poll]);
    return { scan_id: scanId, sse: sseSeen, ws: wsSeen, polled };
  });
  console.log(JSON.stringify(facts));
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
