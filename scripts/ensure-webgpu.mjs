// Makes sure a WebGPU adapter exists before the tests or the main job run. When none does, on
// Debian or Ubuntu as root it installs the CPU Vulkan driver (saying so); elsewhere it prints
// the exact command and stops.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'xdg-'));
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function hasAdapter() {
  // A child process, so that a refused driver cannot leave state in this one.
  try {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', `
      import { create } from 'webgpu';
      const a = await create([]).requestAdapter();
      console.log(a ? (a.info.description || a.info.device || 'adapter') : '');
    `], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return out;
  } catch {
    return '';
  }
}

const found = await hasAdapter();
if (found) process.exit(0);

const debianLike = existsSync('/etc/debian_version');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (debianLike && isRoot) {
  console.log('No WebGPU adapter found: installing the CPU Vulkan driver (Mesa lavapipe) with scripts/install-cpu-vulkan.sh ...');
  execFileSync(join(root, 'scripts', 'install-cpu-vulkan.sh'), { stdio: 'inherit' });
  const after = await hasAdapter();
  if (after) {
    console.log(`WebGPU adapter now available: ${after}`);
    process.exit(0);
  }
  console.error('Installed the CPU Vulkan driver, but Dawn still finds no adapter. See README "No GPU?".');
  process.exit(1);
}
console.error([
  'No WebGPU adapter found.',
  debianLike
    ? 'Run as root: sudo scripts/install-cpu-vulkan.sh   (installs Mesa lavapipe, the CPU Vulkan driver)'
    : 'Install a Vulkan driver: your GPU vendor\'s, or Mesa 25+ lavapipe (the CPU Vulkan driver) from your distribution.',
].join('\n'));
process.exit(1);
