/**
 * Fakes for the hardening tests: the shared `FakePeer` (test/support/fake-peer.ts) and a
 * "world" of fake participants that reach their sessions through a real gateway's `Router`
 * with protocol frames only (Hello, CreateSession, the PIN, PickUp). Building sessions over the protocol keeps these tests independent of the session
 * layer's internals: they see what a client would see.
 */
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { PeerState } from '../../src/relay/peer.js';
import type { Router } from '../../src/relay/router.js';
import { issueToken } from '../../src/session/tokens.js';
import { FakePeer } from '../support/fake-peer.js';

const Channel = ferry.v1.Channel;
const Role = ferry.v1.Role;

export { FakePeer };

/**
 * Hands `bytes` to the router the way uWS does: in a standalone ArrayBuffer that is invalid once
 * the callback returns. Here it is overwritten with 0xEE afterwards, so a router that kept the
 * buffer and sent it later would send garbage that the byte-for-byte checks catch.
 */
export function deliver(router: Router, peer: FakePeer, bytes: Uint8Array, isBinary = true): void {
  const message = new Uint8Array(bytes).buffer;
  try {
    router.onMessage(peer, message, isBinary);
  } finally {
    new Uint8Array(message).fill(0xee);
  }
}

export function encode(frame: ferry.v1.Frame.$Properties): Uint8Array {
  return ferry.v1.Frame.encode(frame).finish();
}

function control(requestId: number, op: Omit<ferry.v1.Control.$Properties, 'requestId'>) {
  return encode({ channel: Channel.CHANNEL_CONTROL, control: { requestId, ...op } });
}

/** Participants of one test world: three sessions and an idle technician. */
export interface World {
  readonly router: Router;
  readonly gateway: Gateway;
  /** Active session A: the hostile pair. */
  readonly techA: FakePeer;
  readonly customerA: FakePeer;
  readonly sessionA: string;
  /** Active session B: the bystanders, who must never see anything of the storm. */
  readonly techB: FakePeer;
  readonly customerB: FakePeer;
  readonly sessionB: string;
  /** Session W: the customer joined, nobody picked it up yet (Waiting). */
  readonly techW: FakePeer;
  readonly customerW: FakePeer;
  readonly sessionW: string;
  /** A technician that said Hello and has no session. */
  readonly techIdle: FakePeer;
  /** Every peer of this world, fresh ones included, with the group it may exchange frames with. */
  readonly peers: FakePeer[];
  readonly groupOf: Map<FakePeer, FakePeer[]>;
  /** A new connection that has not said Hello. */
  fresh(): FakePeer;
}

let worldCount = 0;

function said(peer: FakePeer, from: number, what: string, pick: (f: ferry.v1.Frame) => unknown) {
  const found = peer
    .framesSince(from)
    .map(pick)
    .find((x) => x != null);
  assert.ok(found, `${peer.label}: no ${what} (errors: ${JSON.stringify(peer.errorsSince(from))})`);
  return found;
}

/** A fake connection whose close reaches the gateway's registry as a real one does. */
function connect(gateway: Gateway, label: string): FakePeer {
  const peer = new FakePeer({ label, state: PeerState.AWAITING_HELLO });
  peer.onEnd = (code) => {
    if (peer.role !== Role.ROLE_UNSPECIFIED) gateway.registry.leave(peer, code);
  };
  return peer;
}

function helloTechnician(w: { gateway: Gateway; router: Router }, label: string): FakePeer {
  const peer = connect(w.gateway, label);
  const token = issueToken(w.gateway.config.secret, `${label}-${worldCount}`, 3600);
  const mark = peer.sent.length;
  deliver(
    w.router,
    peer,
    control(1, { hello: { role: Role.ROLE_TECHNICIAN, token, client: { name: label } } }),
  );
  said(peer, mark, 'Welcome', (f) => f.control?.welcome);
  assert.equal(peer.state, PeerState.READY);
  return peer;
}

/**
 * A technician opens a session and its customer joins with the PIN; optionally picked up, and
 * then the customer grants view and control, so screen and input flow.
 */
function openSession(
  w: { gateway: Gateway; router: Router },
  name: string,
  pickUp: boolean,
): { tech: FakePeer; customer: FakePeer; sessionId: string } {
  const tech = helloTechnician(w, `tech${name}`);
  let mark = tech.sent.length;
  deliver(w.router, tech, control(2, { createSession: { customerName: name } }));
  const created = said(tech, mark, 'SessionCreated', (f) => f.control?.sessionCreated) as {
    sessionId: string;
    pin: string;
  };
  const customer = connect(w.gateway, `customer${name}`);
  mark = tech.sent.length;
  deliver(
    w.router,
    customer,
    control(1, { hello: { role: Role.ROLE_CUSTOMER, pin: created.pin, client: { name } } }),
  );
  said(customer, 0, 'Welcome', (f) => f.control?.welcome);
  said(tech, mark, 'SessionQueued', (f) => f.event?.sessionQueued);
  if (pickUp) {
    mark = tech.sent.length;
    deliver(w.router, tech, control(3, { pickUp: { sessionId: created.sessionId } }));
    said(tech, mark, 'Active status', (f) =>
      f.event?.statusChanged?.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE
        ? f.event.statusChanged
        : null,
    );
    mark = customer.sent.length;
    const granted = [ferry.v1.Permission.PERMISSION_VIEW, ferry.v1.Permission.PERMISSION_CONTROL];
    deliver(w.router, customer, control(2, { consentResponse: { granted } }));
    said(customer, mark, 'Done for the grant', (f) => f.control?.done);
  }
  return { tech, customer, sessionId: created.sessionId };
}

/** Builds a fresh world inside `gateway` (every property run gets its own). */
export function buildWorld(gateway: Gateway): World {
  worldCount++;
  const base = { gateway, router: gateway.router };
  const a = openSession(base, 'A', true);
  const b = openSession(base, 'B', true);
  const waiting = openSession(base, 'W', false);
  const techIdle = helloTechnician(base, 'techIdle');
  const peers = [a.tech, a.customer, b.tech, b.customer, waiting.tech, waiting.customer, techIdle];
  const groupOf = new Map<FakePeer, FakePeer[]>();
  for (const group of [
    [a.tech, a.customer],
    [b.tech, b.customer],
    [waiting.tech, waiting.customer],
    [techIdle],
  ]) {
    for (const p of group) groupOf.set(p, group);
  }
  return {
    ...base,
    techA: a.tech,
    customerA: a.customer,
    sessionA: a.sessionId,
    techB: b.tech,
    customerB: b.customer,
    sessionB: b.sessionId,
    techW: waiting.tech,
    customerW: waiting.customer,
    sessionW: waiting.sessionId,
    techIdle,
    peers,
    groupOf,
    fresh() {
      const peer = connect(gateway, 'fresh');
      peers.push(peer);
      groupOf.set(peer, [peer]);
      return peer;
    },
  };
}
