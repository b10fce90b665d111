/**
 * File transfer throughput through a loopback gateway with the reference clients: uploads and
 * downloads one file of `--mib` MiB (default 64) `--runs` times each way and prints MiB/s per
 * run and the median, plus the chunk size and window used. One process: gateway, technician and
 * customer share one event loop, so this measures the protocol and the code paths, not a
 * network. Run: `npm run build && node dist/bench/tools/file-transfer.js [--mib 64] [--runs 3]
 * [--chunk-kib 64] [--window 8]`.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { resolveConfig } from '../../src/config/config.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { issueToken } from '../../src/session/tokens.js';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    'chunk-kib': { type: 'string', default: '64' },
    window: { type: 'string', default: '8' },
  },
});
const MiB = 1024 * 1024;
const size = Number(values.mib) * MiB;
const runs = Number(values.runs);
const files = {
  chunkBytes: Number(values['chunk-kib']) * 1024,
  windowChunks: Number(values.window),
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-files-'));
const dirs = ['gateway', 'tech', 'customer'].map((d) => {
  const dir = path.join(root, d);
  fs.mkdirSync(dir);
  return dir;
});
const [dataDir, techDir, customerDir] = dirs as [string, string, string];
const config = resolveConfig(
  {
    host: '127.0.0.1',
    port: 0,
    adminPort: 0,
    dataDir,
    logLevel: 'silent',
    fileTransferMaxBytes: size,
  },
  {},
);
const gateway = await Gateway.start(config, silentLogger());
const url = `ws://127.0.0.1:${gateway.port}/v1/ws`;
const tech = new TechnicianClient({
  url,
  token: issueToken(gateway.config.secret, 'bench', 3600),
  files,
});
await tech.connect();
const { sessionId, pin } = await tech.createSession();
const customer = new CustomerClient({
  url,
  pin,
  consent: ['file'],
  files: { dir: customerDir, ...files },
});
const queued = tech.waitForCustomer(sessionId);
await customer.connect();
await queued;
await tech.pickUp(sessionId);
await tech.requestConsent(['file']);

const source = path.join(techDir, 'source.bin');
const data = randomBytes(size);
fs.writeFileSync(source, data);
const sha = createHash('sha256').update(data).digest('hex');
fs.writeFileSync(path.join(customerDir, 'remote.bin'), data);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (ms: number): number => Math.round((size / MiB / (ms / 1000)) * 10) / 10;
const up: number[] = [];
const down: number[] = [];
for (let i = 0; i < runs; i++) {
  let t0 = performance.now();
  const sent = await tech.files.upload(source, { name: `up-${i}.bin` });
  up.push(rate(performance.now() - t0));
  if (sent.sha256 !== sha) throw new Error('upload digest differs');
  t0 = performance.now();
  const got = await tech.files.download('remote.bin', path.join(techDir, `down-${i}.bin`));
  down.push(rate(performance.now() - t0));
  if (got.sha256 !== sha) throw new Error('download digest differs');
  fs.rmSync(path.join(customerDir, `up-${i}.bin`));
  fs.rmSync(path.join(techDir, `down-${i}.bin`));
}
console.log(
  JSON.stringify({
    mib: size / MiB,
    chunkBytes: files.chunkBytes,
    windowChunks: files.windowChunks,
    uploadMiBps: up,
    downloadMiBps: down,
    medianUploadMiBps: median(up),
    medianDownloadMiBps: median(down),
  }),
);
await tech.close();
await customer.close();
await gateway.close('bench finished');
fs.rmSync(root, { recursive: true, force: true });
