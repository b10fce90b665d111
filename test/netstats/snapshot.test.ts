import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinkStats } from '../../src/netstats/link-stats.js';
import { buildParticipantRow } from '../../src/netstats/snapshot.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

function busyLink(): LinkStats {
  const link = new LinkStats(0);
  for (const ms of [40, 60, 50]) link.addSample(ms);
  link.addCensoredSample(5000);
  link.sampleBytes(4000, 500_000, 250_000);
  return link;
}

test('a customer row carries the upload rate and no download rate', () => {
  const row = buildParticipantRow(
    busyLink(),
    { participantId: 'p-1', displayName: 'Alice', role: ferry.v1.Role.ROLE_CUSTOMER },
    4000,
  );
  assert.equal(row.uploadBps, 1_000_000);
  assert.equal(row.downloadBps, null);
  const decoded = ferry.v1.ParticipantNetStats.decode(
    ferry.v1.ParticipantNetStats.encode(row).finish(),
  );
  assert.equal(Object.hasOwn(decoded, 'downloadBps'), false, 'download_bps is not on the wire');
  assert.equal(Number(decoded.uploadBps), 1_000_000);
});

test('a technician row carries the download rate and no upload rate', () => {
  const row = buildParticipantRow(
    busyLink(),
    { participantId: 'p-2', displayName: 'tech-1', role: ferry.v1.Role.ROLE_TECHNICIAN },
    4000,
  );
  assert.equal(row.downloadBps, 500_000);
  assert.equal(row.uploadBps, null);
});

test('a row reports the window figures, the class, and gateway-measured relayed rates', () => {
  const row = buildParticipantRow(
    busyLink(),
    { participantId: 'p-2', displayName: 'tech-1', role: ferry.v1.Role.ROLE_TECHNICIAN },
    4000,
  );
  assert.deepEqual(
    { ...row, downloadBps: 0 },
    {
      participantId: 'p-2',
      displayName: 'tech-1',
      role: ferry.v1.Role.ROLE_TECHNICIAN,
      lastRttMs: 5000,
      avgRttMs: (40 + 60 + 50 + 5000) / 4,
      sampleCount: 4,
      stalledProbes: 1,
      status: ferry.v1.Connectivity.CONNECTIVITY_POOR,
      uploadBps: null,
      downloadBps: 0,
      rateSource: ferry.v1.RateSource.RATE_SOURCE_GATEWAY_MEASURED,
      peerToPeer: false,
      jitterMs: (20 + 10 + 4950) / 3,
    },
  );
});
