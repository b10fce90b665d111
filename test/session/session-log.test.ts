import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionLog } from '../../src/session/session-log.js';

const chat = (text: string) =>
  ({
    kind: 'chat',
    audience: 'all',
    senderId: 'c1',
    senderName: 'A',
    senderRole: 'customer',
    text,
  }) as const;

test('the session log drops its oldest entries past its entry bound and counts them', () => {
  const log = new SessionLog(3, 1_000_000);
  for (let i = 1; i <= 5; i++) log.append(chat(`m${i}`), i);
  assert.deepEqual(
    log.entries.map((e) => e.seq),
    [3, 4, 5],
  );
  assert.equal(log.dropped, 2);
});

test('the session log stays within its size bound however long the chat messages are', () => {
  const log = new SessionLog(10_000, 50_000);
  for (let i = 0; i < 100; i++) log.append(chat('x'.repeat(16_000)), i);
  const chars = log.entries.reduce((n, e) => n + (e.kind === 'chat' ? e.text.length : 0), 0);
  assert.ok(chars <= 50_000, `${chars} characters kept`);
  assert.equal(log.entries.length + log.dropped, 100);
  assert.equal(log.entries.at(-1)?.seq, 100, 'the newest entry is always kept');
});
