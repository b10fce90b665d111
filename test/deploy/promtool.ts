/**
 * Runs Prometheus' `promtool` (Debian package `prometheus`) for the exposition and deploy tests.
 * Without promtool a test is skipped on a developer machine but fails in CI (`CI` set), so CI can
 * never pass by not checking.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export interface PromtoolResult {
  readonly status: number;
  readonly output: string;
}

let available: boolean | undefined;

function hasPromtool(): boolean {
  available ??= spawnSync('promtool', ['--version'], { stdio: 'ignore' }).error === undefined;
  return available;
}

/**
 * Runs `promtool ...args` with `input` on stdin; returns null (after skipping `t`) when promtool
 * is missing outside CI.
 */
export function promtool(
  t: TestContext,
  args: readonly string[],
  input?: string,
): PromtoolResult | null {
  if (!hasPromtool()) {
    assert.ok(!process.env.CI, 'promtool is required in CI: apt-get install prometheus');
    t.skip('promtool not installed (apt-get install prometheus)');
    return null;
  }
  const run = spawnSync('promtool', [...args], { input: input ?? '', encoding: 'utf8' });
  if (run.error !== undefined) throw run.error;
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}
