import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-'));
const { ReportStore } = await import('./dist/src/store/report-store.js');
const store = ReportStore.open(dir).store;
function report(id) { const now = new Date().toISOString(); return { id, createdAt: now, endedAt: now, durationMs: 50, status: 'CLOSED_BY_TECHNICIAN', endReason: 'done', owner: 'tech-1', creator: 'tech-1', customer: 'Ann', participants: [{role:'technician',name:'tech-1'},{role:'customer',name:'Ann'}], summary: { computerName: 'pc', customerIp: '127.0.0.1' }, log: Array.from({ length: 8 }, (_, k) => ({ seq: k + 1, timeMs: Date.now(), kind: 'event', audience: 'all', type: 'status', actor: 'tech-1', detail: 'Active -> Closed by technician', hash: randomBytes(32).toString('hex') })) }; }
const mode = process.argv[2];
let fake = Date.now();
function tid(){ const b = Buffer.allocUnsafe(12); fake += 1.25; b.writeUIntBE(Math.floor(fake), 0, 6); randomBytes(6).copy(b, 6); return b.toString('base64url'); }
const N = 20000; const batches = [];
for (let i = 0; i < N / 200; i++) batches.push(Array.from({ length: 200 }, () => report(mode === 'seq' ? tid() : randomBytes(12).toString('base64url'))));
let t = performance.now();
for (const b of batches) store.addMany(b);
console.log(mode, ((performance.now() - t) / N * 1000).toFixed(1), 'µs/report');
t = performance.now(); let s = 0; for (const b of batches) for (const r of b) s += JSON.stringify(r).length; console.log('stringify', ((performance.now() - t) / N * 1000).toFixed(1), 'µs/report', s / N | 0, 'bytes');
store.close(); fs.rmSync(dir, { recursive: true });
