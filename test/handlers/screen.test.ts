/**
 * Screen tools end to end (docs/spec/session-tools.md C3, C4.1, C4.8, C4.9): sharing starts and stops
 * from either side, the customer's monitors reach the technician, who selects one (only its
 * frames flow) and sets the quality the customer's encoder honours; the screen tools need the
 * view grant; touch gestures reach the customer as pointer and wheel input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { QUALITY_PRESETS } from '../../src/clients/customer.js';
import type { ViewTransform } from '../../src/clients/gestures.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import {
  activePair,
  Channel,
  codes,
  errorsOf,
  framesOn,
  settle,
  startGateway,
  technician,
} from './tools-harness.js';

const Preset = ferry.v1.QualityPreset;

test('either side starts and stops sharing; the other side is told and the log records who did', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activePair(t, gateway, { consent: ['view'] });
  await assert.rejects(tech.startScreenShare(), { code: 'FERRY_ERR_NOT_GRANTED' });
  await assert.rejects(customer.shareScreen(), { code: 'FERRY_ERR_NOT_GRANTED' });
  await tech.requestConsent(['view']);

  // The technician starts: the customer streams.
  const frames = framesOn(tech, Channel.CHANNEL_SCREEN);
  const streaming = waitFor(tech, 'frame', (f) => f.channel === Channel.CHANNEL_SCREEN);
  await tech.startScreenShare();
  await streaming;
  assert.equal(customer.sharing, true);
  // The technician stops: the customer stops streaming.
  const told = waitFor(customer, 'control', (c) => c.screenShareStop != null);
  await tech.stopScreenShare('enough');
  await told;
  assert.equal(customer.sharing, false);
  // The customer starts and stops by itself: the technician is told each time.
  const started = waitFor(tech, 'control', (c) => c.screenShareStart?.by === 'Alice');
  await customer.shareScreen(50);
  await started;
  const stopped = waitFor(tech, 'control', (c) => c.screenShareStop?.by === 'Alice');
  await customer.stopSharing('my turn');
  await stopped;
  assert.equal(customer.sharing, false);
  assert.ok(frames.length > 0);
  const log = gateway.registry.get(sessionId)!.log.entries;
  assert.deepEqual(
    log
      .filter((e) => e.kind === 'event' && e.type === 'screen')
      .map((e) => e.kind === 'event' && e.detail),
    [
      'tech-1 started screen sharing',
      'tech-1 stopped screen sharing: enough',
      'Alice started screen sharing',
      'Alice stopped screen sharing: my turn',
    ],
  );
  // Revoking view stops the sharing at once, on both ends.
  await customer.shareScreen(50);
  await customer.revoke(['view']);
  assert.equal(customer.sharing, false);
  assert.equal(gateway.registry.get(sessionId)!.screenSharing, false);
});

test('the customer reports its monitors; the technician selects one and only that monitor is streamed', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, {
    consent: ['view'],
    monitors: 3,
  });
  await settle(tech);
  assert.deepEqual(
    tech.monitors.map((m) => [m.id, m.x, m.width, m.primary]),
    [
      [1, 0, 1280, true],
      [2, 1280, 1280, false],
      [3, 2560, 1280, false],
    ],
  );
  await assert.rejects(tech.selectMonitor(1), { code: 'FERRY_ERR_NOT_GRANTED' });
  await tech.requestConsent(['view']);
  await assert.rejects(tech.selectMonitor(7), { code: 'FERRY_ERR_INVALID_ARGUMENT' });

  const streams = new Set<number>();
  tech.on('frame', (f) => {
    if (f.channel === Channel.CHANNEL_SCREEN) streams.add(f.stream);
  });
  customer.sendScreenFrame();
  await settle(customer);
  await settle(tech);
  assert.deepEqual([...streams].sort(), [1, 2, 3], 'every monitor before a selection');

  const switched = waitFor(customer, 'control', (c) => c.selectMonitor != null);
  await tech.selectMonitor(1);
  await switched;
  assert.equal(customer.selectedMonitor, 1);
  streams.clear();
  const sent = customer.sendScreenFrame();
  assert.ok(sent.length > 0);
  await settle(customer);
  await settle(tech);
  assert.deepEqual([...streams], [1]);
  const summary = await tech.summary();
  assert.equal(summary.monitors.length, 3);

  const all = waitFor(customer, 'control', (c) => c.selectMonitor?.all === true);
  await tech.selectMonitor('all');
  await all;
  assert.equal(customer.selectedMonitor, null);
});

test('the quality setting changes the tile size and frame rate the customer streams with', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['view'] });
  await assert.rejects(tech.setStreamQuality(Preset.QUALITY_PRESET_SPEED), {
    code: 'FERRY_ERR_NOT_GRANTED',
  });
  await tech.requestConsent(['view']);
  const applied = waitFor(customer, 'control', (c) => c.setStreamQuality != null);
  await tech.setStreamQuality(Preset.QUALITY_PRESET_FIDELITY);
  await applied;
  const fidelity = QUALITY_PRESETS[Preset.QUALITY_PRESET_FIDELITY]!;
  assert.equal(customer.fps, fidelity.fps);
  assert.ok(customer.screens.every((s) => s.tileBytes === fidelity.tileBytes));
  const [tile] = customer.screens[0]!.nextFrame();
  const decoded = ferry.v1.Frame.decode(tile!);
  assert.equal(decoded.screen?.data?.length, fidelity.tileBytes);

  const custom = waitFor(customer, 'control', (c) => c.setStreamQuality?.tileBytes === 3000);
  await tech.setStreamQuality(Preset.QUALITY_PRESET_SPEED, { maxFps: 30, tileBytes: 3000 });
  await custom;
  assert.equal(customer.fps, 30);
  assert.ok(customer.screens.every((s) => s.tileBytes === 3000));
  await assert.rejects(tech.setStreamQuality(99 as ferry.v1.QualityPreset), {
    code: 'FERRY_ERR_INVALID_ARGUMENT',
  });
});

test('touch gestures reach the customer as input: tap clicks, two-finger tap right-clicks, three-finger drag scrolls, pinch sends nothing', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['view', 'control'] });
  await tech.requestConsent(['view', 'control']);
  // The remote 1280x720 screen drawn at half size.
  const view: ViewTransform = {
    zoom: 0.5,
    offsetX: 0,
    offsetY: 0,
    screenWidth: 1280,
    screenHeight: 720,
  };
  const tap = tech.sendGesture({ kind: 'tap', x: 100, y: 50 }, view);
  assert.equal(tap.events.length, 2);
  const right = tech.sendGesture({ kind: 'two-finger-tap', x: 10, y: 10 }, view);
  assert.equal(right.events.length, 2);
  const scroll = tech.sendGesture(
    {
      kind: 'drag',
      from: { x: 200, y: 200 },
      points: [
        { x: 200, y: 190 },
        { x: 200, y: 180 },
      ],
      fingers: 3,
      startedOnCursor: false,
      afterDoubleTap: false,
    },
    view,
  );
  const pinch = tech.sendGesture({ kind: 'pinch', centre: { x: 1, y: 1 }, scale: 2 }, view);
  assert.deepEqual(pinch, { events: [], local: 'zoom' });
  const expected = tap.events.length + right.events.length + scroll.events.length;
  const last = waitFor(customer, 'input', () => customer.inputEvents === expected);
  await last;
  assert.equal(customer.pointer.clicks, 2, 'a left click and a right click');
  assert.deepEqual([customer.pointer.x, customer.pointer.y], [20, 20]);
  assert.equal(customer.pointer.wheelY, 40, 'dragging up 20 view px at zoom 0.5 scrolls 40 down');
});

test('a key frame request reaches the customer only with the view grant and only from a technician of the session', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['view'] });
  const errors = errorsOf(tech);
  tech.requestKeyFrame();
  await settle(tech);
  await settle(customer);
  assert.deepEqual(codes(errors), ['FERRY_ERR_NOT_GRANTED']);
  assert.equal(customer.keyFrameRequests, 0, 'the customer was not asked');

  await tech.requestConsent(['view']);
  const asked = waitFor(customer, 'control', (c) => c.keyFrameRequest != null);
  tech.requestKeyFrame(0);
  const [request] = await asked;
  assert.equal(request.keyFrameRequest?.reason, 'asked by tech-1');
  assert.equal(customer.keyFrameRequests, 1);
  // The next frame of every monitor is a key frame.
  const [tile] = customer.screens[0]!.nextFrame();
  assert.equal(ferry.v1.Frame.decode(tile!).screen?.keyFrame, true);

  const stranger = await technician(t, gateway, 'tech-9');
  const strangerErrors = errorsOf(stranger);
  stranger.requestKeyFrame();
  await stranger.listQueue(); // a round trip: the refusal has arrived
  await settle(customer);
  assert.deepEqual(codes(strangerErrors), ['FERRY_ERR_NOT_IN_SESSION']);
  assert.equal(customer.keyFrameRequests, 1);
});
