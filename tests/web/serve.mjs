// What the browser tests and the playground benchmark share: the dial binary, a
// `dial serve` on a free loopback port, and Chromium's flags.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { homedir } from 'node:os';

const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'dial-target');
export const DIAL = process.env.DIAL || join(targetDir, 'release', 'dial');
export const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run',
  ],
};

/** Starts `dial serve` on the default model and voice; resolves with {child, url}. */
export function startServer(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(DIAL, ['serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`dial serve did not start in 120 s: ${err}`));
    }, 120_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${m[1]}` });
      }
    });
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dial serve exited with ${code}: ${err}`));
    });
  });
}
