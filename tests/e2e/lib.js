// Shared by the e2e scenarios: an Atrium server of the test's own (the
// real binary, a free port, a temporary data directory), HTTP helpers, and
// waits that fail with a message instead of hanging (a 1.x SDK that meets a
// frame it cannot handle goes silent, so every step has a deadline).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.ATRIUM_BIN || join(here, '..', '..', 'atrium');
export const MODULE = readFileSync(join(here, 'module.lua'), 'utf8');
const ADMIN_PW = 'e2e-admin-password';
// sanitizer builds run several times slower
export const STEP_MS = (process.env.ATRIUM_SANITIZED ? 4 : 1) * 10000;

export class Server {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'atrium-e2e-'));
  }

  async start() {
    this.proc = spawn(BIN, ['serve', '--data', this.dir, '--port', this.port ? String(this.port) : '0',
      '--threads', '2', '--quiet'], { env: { ...process.env, ATRIUM_ADMIN_PASSWORD: ADMIN_PW },
      stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`atrium did not start: ${out}`)), STEP_MS);
      this.proc.stdout.on('data', chunk => {
        out += chunk;
        const m = out.match(/listening on http:\/\/[\d.]+:(\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      this.proc.on('exit', code => reject(new Error(`atrium exited (${code}): ${out}`)));
    });
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.ws = `ws://127.0.0.1:${port}`;
    return this;
  }

  /** Stops the server; it must exit cleanly (a sanitizer's report makes it fail). */
  async stop() {
    if (!this.proc) return;
    const proc = this.proc;
    this.proc = null;
    if (proc.exitCode === null && proc.signalCode === null) {
      const done = new Promise(resolve => proc.on('exit', resolve));
      proc.kill('SIGTERM');
      await within(done, 'atrium to stop');
    }
    if (proc.exitCode !== 0) throw new Error(`atrium exited with ${proc.exitCode ?? proc.signalCode}`);
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async req(method, path, { token, body, json, type } = {}) {
    const headers = {};
    if (type) headers['Content-Type'] = type;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    }
    const r = await fetch(this.url + path, { method, headers, body });
    return { status: r.status, text: await r.text() };
  }

  async admin() {
    const r = await this.req('POST', '/v1/signin', { json: { username: 'admin', password: ADMIN_PW } });
    return JSON.parse(r.text).token;
  }

  /** Publishes the scenarios' module as a database of that name; the owner's token. */
  async publish(name) {
    const token = await this.admin();
    const r = await this.req('POST', `/v1/database/${name}`, { token, body: MODULE, type: 'text/x-lua' });
    if (r.status !== 200) throw new Error(`publish: ${r.status} ${r.text}`);
    return token;
  }
}

/** p, or a failure naming what did not happen in time. */
export function within(p, what, ms = STEP_MS) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves once check() is true (polled), or fails naming what. */
export async function until(check, what, ms = STEP_MS) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise(r => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A list of events and a way to wait for the n-th matching one. */
export class Events {
  constructor() {
    this.all = [];
  }

  push(kind, value) {
    this.all.push({ kind, value });
  }

  of(kind) {
    return this.all.filter(e => e.kind === kind).map(e => e.value);
  }

  async wait(kind, n = 1, what = kind) {
    await until(() => this.of(kind).length >= n, `${what} (${n}); have ${JSON.stringify(this.all.map(e => e.kind))}`);
    return this.of(kind);
  }
}

export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
