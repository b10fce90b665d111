/**
 * The `ferry customer` consent prompt: one question at a time, answered by the next line; once
 * input has ended every question, waiting or new, is answered "no".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsentPrompt } from '../../src/clients/consent-prompt.js';
import type { ConsentPromptRequest } from '../../src/clients/customer.js';

const request = (
  permissions: ConsentPromptRequest['permissions'],
  consentId = 1,
): ConsentPromptRequest => ({ consentId, permissions, requestedBy: 'tech-1', reason: 'printer' });

test('y grants everything asked, n nothing, a list only what is both asked and named', async () => {
  const shown: string[] = [];
  const prompt = new ConsentPrompt((l) => shown.push(l));
  const all = prompt.ask(request(['view', 'control']));
  assert.equal(prompt.waiting, true);
  assert.deepEqual(shown, [
    'tech-1 asks to: see your screen; use your mouse and keyboard (printer)',
    'allow? y = all, n = none, or name them (e.g. "view"):',
  ]);
  prompt.answer('Y');
  assert.deepEqual(await all, ['view', 'control']);
  const none = prompt.ask(request(['view']));
  prompt.answer('no');
  assert.deepEqual(await none, []);
  const some = prompt.ask(request(['view', 'sysinfo']));
  prompt.answer('sysinfo, control');
  assert.deepEqual(await some, ['sysinfo'], 'control was not asked for');
  assert.equal(prompt.waiting, false);
});

test('questions wait in turn: the second is shown once the first is answered', async () => {
  const shown: string[] = [];
  const prompt = new ConsentPrompt((l) => shown.push(l));
  const first = prompt.ask(request(['view'], 1));
  const second = prompt.ask(request(['sysinfo'], 2));
  assert.equal(shown.filter((l) => l.includes('asks to')).length, 1);
  prompt.answer('y');
  assert.deepEqual(await first, ['view']);
  assert.ok(shown.some((l) => l.includes('read system information')));
  prompt.answer('n');
  assert.deepEqual(await second, []);
});

test('an unknown permission name grants nothing and says why', async () => {
  const shown: string[] = [];
  const prompt = new ConsentPrompt((l) => shown.push(l));
  const asked = prompt.ask(request(['view']));
  prompt.answer('everything');
  assert.deepEqual(await asked, []);
  assert.ok(shown.some((l) => l.startsWith('unknown permission "everything"')));
});

test('once input has ended, waiting and later questions are denied at once', async () => {
  const shown: string[] = [];
  const prompt = new ConsentPrompt((l) => shown.push(l));
  const waiting = prompt.ask(request(['view', 'control']));
  prompt.close();
  assert.deepEqual(await waiting, []);
  assert.equal(prompt.waiting, false);
  assert.deepEqual(await prompt.ask(request(['sysinfo'], 2)), []);
  assert.ok(shown.at(-1)!.endsWith('no input, denied'));
});
