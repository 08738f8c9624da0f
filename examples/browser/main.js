// The same core as in Node, opened on navigator.gpu. Serve the repository root (npm run serve)
// and open http://localhost:8080/examples/browser/ after `npm run build`.
import { describeAdapter, openBrowserDevice, ops, reference } from '/dist/src/index.js';

const log = document.getElementById('log');
const lines = [];
const say = (line) => {
  lines.push(line);
  log.textContent = lines.join('\n');
};

try {
  const device = await openBrowserDevice();
  say(`adapter: ${describeAdapter(device.report)}`);
  const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 4);
  const y = ops.gelu(device.tensor(x));
  const got = await y.read();
  const want = reference.gelu(x);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  say(`gelu on ${x.length} elements: max |GPU - reference| = ${worst.toExponential(2)}`);
  document.body.dataset.done = worst < 1e-5 ? 'ok' : 'mismatch';
  device.destroy();
} catch (e) {
  say(`error: ${e.message}`);
  document.body.dataset.done = 'error';
}
