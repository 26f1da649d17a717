// Starting and stopping a real spindle broker for the JavaScript client
// tests, as harness.py does for the Python ones: 127.0.0.1 port 0, a
// temporary data dir under SPINDLE_TEST_DIR (a real disk: O_DIRECT), the
// readiness line read from stdout instead of sleeping.
//
// A test is run as `node test_x.mjs <spindle> <smp>`; exit 0 pass, 1 fail,
// 77 skip.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const READY = /^spindle ready listeners=(\S+) node\.id=(\d+)$/;

export const SKIP = 77;

export function workDir() {
    const d = process.env.SPINDLE_TEST_DIR || tmpdir();
    mkdirSync(d, { recursive: true });
    return d;
}

export class Broker {
    constructor(exe, { dataDir = null, extra = [] } = {}) {
        this.exe = exe;
        this.ownDir = dataDir === null;
        this.dataDir = dataDir ?? mkdtempSync(join(workDir(), 'spindle-it-'));
        this.extra = extra;
        this.proc = null;
        this.log = [];
    }

    // Resolves once the broker printed its readiness line; rejects (and
    // kills it) when it exits or stays silent for timeoutMs.
    start(timeoutMs = 30000) {
        const args = ['--set', 'listeners=PLAINTEXT://127.0.0.1:0', '--set',
            'log.dirs=' + this.dataDir, ...this.extra];
        this.proc = spawn(this.exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        this.log = [];
        this.proc.stderr.setEncoding('utf8');
        this.proc.stderr.on('data', (chunk) => this.log.push(chunk));
        this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve(code ?? sig)));
        return new Promise((resolve, reject) => {
            let buf = '';
            let done = false;
            const finish = (err) => {
                if (done) return;
                done = true;
                clearTimeout(timer);
                if (err) {
                    this.proc.kill('SIGKILL');
                    reject(new Error(err + '\n' + this.logText()));
                } else {
                    resolve(this);
                }
            };
            const timer = setTimeout(() => finish('broker did not become ready'), timeoutMs);
            this.proc.stdout.setEncoding('utf8');
            this.proc.stdout.on('data', (chunk) => {
                if (done) return;
                buf += chunk;
                const nl = buf.indexOf('\n');
                if (nl < 0) return;
                const m = READY.exec(buf.slice(0, nl).trim());
                if (!m) return finish('unexpected first line: ' + JSON.stringify(buf.slice(0, nl)));
                this.listeners = m[1].split(',');
                this.nodeId = Number(m[2]);
                const hostPort = this.listeners[0].split('://')[1];
                const colon = hostPort.lastIndexOf(':');
                this.host = hostPort.slice(0, colon);
                this.port = Number(hostPort.slice(colon + 1));
                this.bootstrap = `${this.host}:${this.port}`;
                finish(null);
            });
            this.proc.on('exit', (code, sig) => finish(`broker exited (${code ?? sig}) before ready`));
        });
    }

    logText() {
        return this.log.join('');
    }

    // SIGTERM, then the exit code (SIGKILL after timeoutMs).
    async stop(timeoutMs = 30000) {
        if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) {
            return this.proc ? this.proc.exitCode : null;
        }
        this.proc.kill('SIGTERM');
        let timer;
        const late = new Promise((resolve) => {
            timer = setTimeout(() => {
                this.proc.kill('SIGKILL');
                resolve('killed after SIGTERM timeout');
            }, timeoutMs);
        });
        const rc = await Promise.race([this.exited, late]);
        clearTimeout(timer);
        return rc;
    }

    kill() {
        if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
            this.proc.kill('SIGKILL');
        }
    }

    cleanup() {
        if (this.ownDir) rmSync(this.dataDir, { recursive: true, force: true });
    }
}

// Loads an npm package from NODE_PATH (meson sets it to
// tests/clients/node/node_modules); exits 77 when it is not installed.
export async function requireClient(name) {
    const require = createRequire(import.meta.url);
    const paths = (process.env.NODE_PATH || '').split(':').filter(Boolean);
    try {
        const where = require.resolve(name, { paths });
        return await import(where);
    } catch (err) {
        console.log(`SKIP: ${name} is not installed (tools/deps.sh --test): ${err.message}`);
        process.exit(SKIP);
    }
}

// Runs body(broker) against a started broker: prints FAIL with the broker's
// log and exits 1 when it throws, stops the broker and checks its exit code.
export async function withBroker(extra, body, { dataDir = null } = {}) {
    const exe = process.argv[2];
    const smp = process.argv[3] || '2';
    const broker = new Broker(exe, { dataDir, extra: ['--smp', smp, ...extra] });
    // A client's unhandled 'error' event ends the process: say why, with the broker's side.
    process.on('uncaughtException', (err) => {
        console.log('FAIL: uncaught:', err && err.stack ? err.stack : err);
        console.log('--- broker log ---\n' + broker.logText());
        process.exit(1);
    });
    let failed = null;
    try {
        await broker.start();
        await body(broker);
    } catch (err) {
        failed = err;
    }
    const rc = await broker.stop();
    if (!failed && rc !== 0) failed = new Error(`broker exited with ${rc}`);
    if (failed) {
        console.log('FAIL:', failed && failed.stack ? failed.stack : failed);
        console.log('--- broker log ---\n' + broker.logText());
        broker.cleanup();
        process.exit(1);
    }
    broker.cleanup();
}

export function check(cond, what) {
    if (!cond) throw new Error('check failed: ' + what);
}

export function checkEqual(got, want, what) {
    const g = JSON.stringify(got, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
    const w = JSON.stringify(want, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
    if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

// Kafka's default partitioner (murmur2 of the key, positive, mod n), the
// one librdkafka calls murmur2_random and the Java client uses; both
// JavaScript clients here use it too.
export function murmur2(buf) {
    const seed = 0x9747b28c;
    const m = 0x5bd1e995;
    const r = 24;
    const len = buf.length;
    let h = seed ^ len;
    const n4 = len >> 2;
    for (let i = 0; i < n4; i++) {
        const o = i * 4;
        let k = (buf[o] & 0xff) + ((buf[o + 1] & 0xff) << 8) + ((buf[o + 2] & 0xff) << 16) +
            ((buf[o + 3] & 0xff) << 24);
        k = Math.imul(k, m);
        k ^= k >>> r;
        k = Math.imul(k, m);
        h = Math.imul(h, m);
        h ^= k;
    }
    const rest = len & 3;
    const o = len - rest;
    if (rest === 3) h ^= (buf[o + 2] & 0xff) << 16;
    if (rest >= 2) h ^= (buf[o + 1] & 0xff) << 8;
    if (rest >= 1) {
        h ^= buf[o] & 0xff;
        h = Math.imul(h, m);
    }
    h ^= h >>> 13;
    h = Math.imul(h, m);
    h ^= h >>> 15;
    return h | 0;
}

export function keyPartition(key, n) {
    return (murmur2(Buffer.from(key)) & 0x7fffffff) % n;
}
