/**
 * `ferry customer` against a scripted gateway (uWS on loopback) that writes the Welcome and the
 * pick-up's StatusChanged(ACTIVE) in one corked write: the client reads both in one chunk and
 * dispatches the status before the join's own continuation runs. The customer must still count
 * the session as active, so a later grant of view starts its screen.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Channel, controlFrame, decodeFrame, eventFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { PeekResult, PeekStatus, peek } from '../../src/protocol/peek.js';
import { loadUws } from '../../src/transport/uws.js';

const BIN = path.resolve('bin/ferry.js');
const SESSION = 'race-session';

test('a pick-up read in the same chunk as the Welcome still makes the session active: view starts the screen', async (t) => {
  const { uws } = loadUws();
  const app = uws.App();
  let screen: () => void = () => undefined;
  const screenSeen = new Promise<void>((resolve) => {
    screen = resolve;
  });
  const seen = new PeekResult();
  let customer: { send(frame: Uint8Array, binary: boolean): number } | null = null;
  app.ws('/*', {
    message: (ws, message) => {
      const bytes = new Uint8Array(message.slice(0));
      if (peek(bytes, seen) !== PeekStatus.OK) return;
      if (seen.channel === Channel.CHANNEL_SCREEN) {
        screen();
        return;
      }
      if (seen.channel !== Channel.CHANNEL_CONTROL) return;
      const control = decodeFrame(bytes).control;
      if (control?.screenShareStart != null) {
        ws.send(controlFrame({ requestId: control.requestId, done: {} }), true);
        return;
      }
      if (control?.hello == null) return;
      ws.cork(() => {
        ws.send(
          controlFrame({
            requestId: control.requestId,
            welcome: {
              sessionId: SESSION,
              participantId: 'customer-1',
              status: ferry.v1.SessionStatus.SESSION_STATUS_WAITING,
              resumeToken: 'token-1',
              gatewayId: 'scripted',
            },
          }),
          true,
        );
        ws.send(
          eventFrame({
            statusChanged: {
              sessionId: SESSION,
              previous: ferry.v1.SessionStatus.SESSION_STATUS_WAITING,
              status: ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE,
            },
          }),
          true,
        );
      });
      customer = ws;
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (socket) => {
      if (socket === false) reject(new Error('listen failed'));
      else {
        t.after(() => uws.us_listen_socket_close(socket));
        resolve(uws.us_socket_local_port(socket));
      }
    });
  });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-race-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [
      BIN,
      'customer',
      ...['--url', `ws://127.0.0.1:${port}/v1/ws`, '--pin', '123456', '--name', 'Bob'],
      ...['--screen', 'test-pattern', '--deny'],
    ],
    { env: { ...process.env, XDG_STATE_HOME: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  let granted = false;
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    // once the customer has reported its join (the continuation of its Welcome), view is granted
    if (!granted && customer !== null && output.includes('joined session')) {
      granted = true;
      customer.send(
        eventFrame({
          consentChanged: {
            sessionId: SESSION,
            granted: [ferry.v1.Permission.PERMISSION_VIEW],
            added: [ferry.v1.Permission.PERMISSION_VIEW],
            actor: 'Bob',
          },
        }),
        true,
      );
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const outcome = await Promise.race([
    screenSeen.then(() => 'screen'),
    exited.then((code) => `exited ${code}`),
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no SCREEN frame in 10 s'), 10_000);
      t.after(() => clearTimeout(timer));
    }),
  ]);
  assert.equal(outcome, 'screen', output);
  assert.match(output, /status WAITING -> ACTIVE/);
});
