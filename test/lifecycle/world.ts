/**
 * A session registry with fake participants and a fake clock, for lifecycle tests without
 * sockets or sleeps: the shared `FakePeer` (test/support/fake-peer.ts) records every frame it is
 * sent (decoded on demand) and reports its own close back to the registry as the transport would; `World` creates technicians and
 * customers, drops and resumes them, and moves the clock, running the registry's tick as the
 * gateway's shared clock does.
 */
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { PeerState } from '../../src/relay/peer.js';
import { isRefusal, type Refusal, SessionRegistry } from '../../src/session/registry.js';
import type { Session } from '../../src/session/session.js';
import type { Status } from '../../src/session/states.js';
import type { LifecycleOptions } from '../../src/session/timers.js';
import { FakePeer, statusName } from '../support/fake-peer.js';

const Role = ferry.v1.Role;

export { FakePeer, statusName };

export const START_MS = Date.UTC(2030, 0, 1);

export class World {
  nowMs = START_MS;
  readonly registry: SessionRegistry;

  constructor(
    lifecycle: Partial<LifecycleOptions> = {},
    pinTtlMs = 600_000,
    logger: Logger = silentLogger(),
  ) {
    this.registry = new SessionRegistry({
      pinLength: 9,
      pinTtlMs,
      logger,
      now: () => this.nowMs,
      lifecycle,
    });
  }

  #connect(peer: FakePeer): FakePeer {
    peer.onEnd = (code) => this.registry.leave(peer, code);
    return peer;
  }

  technician(name: string): FakePeer {
    const peer = this.#connect(new FakePeer({ role: Role.ROLE_TECHNICIAN, name }));
    peer.resumeToken = this.registry.seatOf(peer).resumeToken;
    return peer;
  }

  /** A technician's new session, still Connecting. */
  open(owner: FakePeer, label = ''): { session: Session; pin: string } {
    const { session, pin } = this.registry.create(owner, label);
    return { session, pin };
  }

  /** A customer joins with the PIN: Connecting -> Waiting. */
  join(pin: string, name = 'Alice'): FakePeer {
    const session = this.registry.claimPin(pin);
    assert.ok(!isRefusal(session), 'the PIN opens a session');
    const peer = this.#connect(new FakePeer({ role: Role.ROLE_CUSTOMER, name }));
    peer.resumeToken = this.registry.seatOf(peer).resumeToken;
    this.registry.attachCustomer(session as Session, peer);
    return peer;
  }

  /** The connection dies (abnormal closure, 1006). */
  drop(peer: FakePeer): void {
    peer.state = PeerState.CLOSED;
    this.registry.leave(peer, 1006);
  }

  /** A new connection takes `old`'s place with its resume token. */
  resume(old: FakePeer): FakePeer {
    const peer = this.#connect(new FakePeer({ role: old.role, name: old.name }));
    peer.resumeToken = old.resumeToken;
    const seat = this.registry.claimResume(peer, old.resumeToken);
    assert.ok(!isRefusal(seat), 'the resume token is accepted');
    this.registry.completeResume(peer, seat as Exclude<typeof seat, Refusal>);
    return peer;
  }

  /** Moves the clock in steps of at most `stepMs`, ticking after each like the gateway clock. */
  advance(ms: number, stepMs = 1000): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.nowMs = Math.min(end, this.nowMs + stepMs);
      this.registry.tick(this.nowMs);
    }
  }

  /** Moves the clock by `ms` at once and ticks once. */
  jump(ms: number): void {
    this.nowMs += ms;
    this.registry.tick(this.nowMs);
  }
}

/** Unwraps an operation's result, failing the test with the refusal's code. */
export function ok<T>(result: T | Refusal): T {
  if (isRefusal(result)) assert.fail(`${result.entry.code}: ${result.message}`);
  return result as T;
}

/** The refusal's code (fails the test when the operation succeeded). */
export function code(result: unknown): string {
  if (!isRefusal(result)) assert.fail('the operation was expected to be refused');
  return (result as Refusal).entry.code;
}

export function history(session: Session): string[] {
  return session.history.map((h) => `${h.status}:${h.trigger}`);
}

export type { Status };
