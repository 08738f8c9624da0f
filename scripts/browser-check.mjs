// Runs examples/browser/ in headless Chromium and reports what the page found: the proof that
// the library's core runs unchanged in a browser. Talks to Chromium over its DevTools pipe
// (--remote-debugging-pipe: JSON messages separated by NUL on fds 3 and 4), so no browser
// automation package is needed. Exit code 0 when the page's kernel matched its reference.
//
//   node scripts/browser-check.mjs [--chromium /usr/bin/chromium]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--chromium');
const chromium = at >= 0 ? process.argv[at + 1] : process.env.CHROMIUM ?? '/usr/bin/chromium';
const types = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.map': 'application/json' };

const server = createServer(async (req, res) => {
  const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
  try {
    const file = (await stat(path)).isDirectory() ? join(path, 'index.html') : path;
    if (!file.startsWith(root)) throw new Error('outside the repository');
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/examples/browser/`;

const profile = mkdtempSync(join(tmpdir(), 'sll-chromium-'));
const browser = spawn(
  chromium,
  ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
);
let stderr = '';
browser.stderr.on('data', (d) => (stderr += d));

let nextId = 1;
const waiting = new Map();
const eventWaiters = new Map();
let buffer = '';
browser.stdio[4].on('data', (chunk) => {
  buffer += chunk.toString();
  let end;
  while ((end = buffer.indexOf('\0')) >= 0) {
    const message = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (message.method && eventWaiters.has(message.method)) {
      eventWaiters.get(message.method)(message.params);
      eventWaiters.delete(message.method);
    }
    const pending = waiting.get(message.id);
    if (pending) {
      waiting.delete(message.id);
      if (message.error) pending.reject(new Error(message.error.message));
      else pending.resolve(message.result);
    }
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  browser.stdio[3].write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}

let status = 1;
const deadline = setTimeout(() => {
  console.error('browser-check: no result within 120 s');
  finish(1);
}, 120_000);
function finish(code) {
  clearTimeout(deadline);
  server.close();
  browser.once('exit', () => {
    // Chromium's helper processes can still be writing into the profile when the main process
    // exits: retry, and never let a leftover temp directory turn a passed check into a failure.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (error) {
      console.error(`browser-check: could not remove the profile ${profile}: ${error.message}`);
    }
    process.exit(code);
  });
  browser.kill();
}

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Page.enable', {}, sessionId);
  const loaded = new Promise((resolve) => eventWaiters.set('Page.loadEventFired', resolve));
  await send('Page.navigate', { url }, sessionId);
  await loaded;
  // The page sets body[data-done] when it has finished; wait for it, then read its log.
  const { result } = await send(
    'Runtime.evaluate',
    {
      expression: `new Promise((resolve) => { const poll = () => document.body && document.body.dataset.done ? resolve(document.body.dataset.done + '\\n' + document.getElementById('log').textContent) : setTimeout(poll, 100); poll(); })`,
      awaitPromise: true,
      returnByValue: true,
    },
    sessionId,
  );
  const [verdict, ...log] = String(result.value).split('\n');
  console.log(log.join('\n'));
  console.log(`browser-check: ${verdict}`);
  status = verdict === 'ok' ? 0 : 1;
} catch (e) {
  console.error(`browser-check: ${e.message}\n${stderr.slice(-2000)}`);
}
finish(status);
