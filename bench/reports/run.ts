/**
 * The report search bench (`npm run bench:reports`): stores 10,000 generated session reports
 * in the report store (src/store/report-store.ts, a fresh SQLite file in a temporary data
 * directory), then times searches with limit 50 by technician, customer, customer address and
 * date range, each both on the store alone and through the admin API handler (query parsing,
 * search, JSON). Prints p50/p99 per search against the 50 ms target and writes
 * bench/results/reports-<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createAdminHandler } from '../../src/api/admin.js';
import type { GatewayView } from '../../src/api/gateway-view.js';
import {
  type IndexableReport,
  type ReportQuery,
  ReportStore,
} from '../../src/store/report-store.js';
import { describeMachine, machineInfo, writeResult } from '../common/machine.js';

const TARGET_MS = 50;
const DAY = 86_400_000;
const TOKEN = 'bench-token';

const { values: args } = parseArgs({
  options: {
    reports: { type: 'string', default: '10000' },
    iterations: { type: 'string', default: '400' },
    'no-json': { type: 'boolean', default: false },
  },
});
const REPORTS = Number(args.reports);
const ITERATIONS = Number(args.iterations);

/** A small deterministic generator (mulberry32), so every run stores the same reports. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TECHNICIANS = Array.from({ length: 40 }, (_, i) => `tech-${i + 1}`);
const CUSTOMERS = Array.from({ length: 3000 }, (_, i) => `customer-${i + 1}`);
const ADDRESSES = Array.from(
  { length: 2000 },
  (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`,
);
const NOW = Date.UTC(2026, 11, 1);
const SPAN_MS = 365 * DAY;

function generate(random: () => number, i: number): IndexableReport {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const owner = pick(TECHNICIANS);
  const customer = pick(CUSTOMERS);
  const created = NOW - Math.floor(random() * SPAN_MS);
  const participants = [
    { name: owner, role: 'technician' },
    { name: customer, role: 'customer' },
  ];
  if (random() < 0.2) participants.push({ name: pick(TECHNICIANS), role: 'technician' });
  const log = Array.from({ length: 12 }, (_, seq) =>
    seq % 3 === 0
      ? {
          seq: seq + 1,
          timeMs: created + seq * 1000,
          kind: 'chat',
          senderName: owner,
          text: `message ${seq} of session ${i}`,
        }
      : {
          seq: seq + 1,
          timeMs: created + seq * 1000,
          kind: 'event',
          type: 'status',
          actor: owner,
          detail: 'ACTIVE',
        },
  );
  return {
    id: `r${i.toString(36).padStart(15, '0')}`,
    status: 'CLOSED_BY_TECHNICIAN',
    endReason: null,
    createdAt: new Date(created).toISOString(),
    endedAt: new Date(created + 600_000).toISOString(),
    durationMs: 600_000,
    creator: owner,
    owner,
    customer,
    participants,
    log,
    summary: { customerIp: pick(ADDRESSES), computerName: `pc-${i}` },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  readonly search: string;
  readonly via: 'index' | 'api';
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanHits: number;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  console.log(describeMachine(machine));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-reports-'));
  try {
    const { store: index } = ReportStore.open(dataDir);
    const random = rng(42);
    const storeStart = performance.now();
    for (let i = 0; i < REPORTS; i++) index.add(generate(random, i));
    const storeMs = performance.now() - storeStart;
    console.log(
      `stored ${REPORTS} reports in ${storeMs.toFixed(0)} ms (${((storeMs * 1000) / REPORTS).toFixed(0)} µs a report), index ${(fs.statSync(index.file).size / 1e6).toFixed(1)} MB + WAL`,
    );

    const handler = createAdminHandler({
      adminToken: TOKEN,
      actions: {
        searchReports: (q: ReportQuery) => index.search(q),
        technicianOf: () => null,
        audit: () => undefined,
      },
    } as unknown as GatewayView);

    const searches: Record<string, (r: () => number) => string> = {
      technician: (r) => `technician=${TECHNICIANS[Math.floor(r() * TECHNICIANS.length)]}`,
      customer: (r) => `customer=${CUSTOMERS[Math.floor(r() * CUSTOMERS.length)]}`,
      address: (r) => `address=${ADDRESSES[Math.floor(r() * ADDRESSES.length)]}`,
      'date range (7 days)': (r) => {
        const from = NOW - Math.floor(r() * SPAN_MS);
        return `from=${new Date(from).toISOString()}&to=${new Date(from + 7 * DAY).toISOString()}`;
      },
      'technician + date range (30 days)': (r) => {
        const from = NOW - Math.floor(r() * SPAN_MS);
        return `technician=${TECHNICIANS[Math.floor(r() * TECHNICIANS.length)]}&from=${from}&to=${from + 30 * DAY}`;
      },
    };
    const rows: Row[] = [];
    for (const [name, make] of Object.entries(searches)) {
      for (const via of ['index', 'api'] as const) {
        const r = rng(7);
        const times: number[] = [];
        let hits = 0;
        for (let i = 0; i < ITERATIONS; i++) {
          const query = `${make(r)}&limit=50`;
          const start = performance.now();
          if (via === 'index') {
            const params = new URLSearchParams(query);
            const q = {
              limit: 50,
              ...(params.has('technician') ? { technician: params.get('technician')! } : {}),
              ...(params.has('customer') ? { customer: params.get('customer')! } : {}),
              ...(params.has('address') ? { address: params.get('address')! } : {}),
              ...(params.has('from') ? { fromMs: toMs(params.get('from')!) } : {}),
              ...(params.has('to') ? { toMs: toMs(params.get('to')!) } : {}),
            };
            hits += index.search(q).reports.length;
          } else {
            const reply = await handler({
              method: 'GET',
              path: '/api/v1/reports',
              query,
              authorization: `Bearer ${TOKEN}`,
            });
            if (reply.status !== 200) throw new Error(`${query}: ${reply.status} ${reply.body}`);
            hits += (JSON.parse(reply.body) as { count: number }).count;
          }
          times.push(performance.now() - start);
        }
        times.sort((a, b) => a - b);
        rows.push({
          search: name,
          via,
          p50Ms: percentile(times, 50),
          p99Ms: percentile(times, 99),
          maxMs: times.at(-1)!,
          meanHits: hits / ITERATIONS,
        });
      }
    }
    index.close();

    console.log(
      `\n${ITERATIONS} searches each, limit 50, over ${REPORTS} reports (target p99 <= ${TARGET_MS} ms)\n`,
    );
    console.log(
      'search                              via     p50 ms   p99 ms   max ms   hits  target',
    );
    for (const row of rows) {
      console.log(
        `${row.search.padEnd(36)}${row.via.padEnd(6)}${row.p50Ms.toFixed(3).padStart(8)} ${row.p99Ms.toFixed(3).padStart(8)} ${row.maxMs.toFixed(3).padStart(8)} ${row.meanHits.toFixed(1).padStart(6)}  ${row.p99Ms <= TARGET_MS ? 'ok' : 'MISSED'}`,
      );
    }
    if (!args['no-json']) {
      const file = writeResult('reports', {
        machine,
        reports: REPORTS,
        iterations: ITERATIONS,
        storeMs,
        targetMs: TARGET_MS,
        rows,
      });
      console.log(`\nwrote ${file}`);
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const toMs = (v: string): number => (/^\d+$/.test(v) ? Number(v) : Date.parse(v));

await main();
