/**
 * Session operations (docs/spec/session-states.json triggers): create, pick up, close, quit, hold and
 * unhold, transfer, invite and answer, remove a collaborator, hand over, reboot the customer,
 * and the technician's queue. Each row names who may ask; the session model decides and answers
 * with the session or a coded refusal (`ctx.reply`).
 */
import { Codes, isRefusal } from '../protocol/codes.js';
import { controlFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import { statusToWire } from '../session/session.js';
import type { Status } from '../session/states.js';
import type { SpecialActions } from './access.js';
import { cleanName, type HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';
import type { SharedQueues } from './shared-queue.js';
import type { UnattendedAccess } from './unattended.js';

const MAX_COMMENT_LENGTH = 512;

/** The session an operation names, or the one the connection works in. */
function sessionId(peer: RelayPeer, given: string | null | undefined): string {
  return given || peer.session?.id || '';
}

/** A transfer comment or close reason: printable, bounded. */
function comment(raw: string | null | undefined): string {
  return (raw ?? '')
    .replace(/\p{Cc}/gu, ' ')
    .trim()
    .slice(0, MAX_COMMENT_LENGTH);
}

export function sessionOps(
  ctx: HandlerContext,
  special: SpecialActions,
  unattended: UnattendedAccess,
  queues: SharedQueues,
): ControlTable {
  const { registry } = ctx;
  return {
    hello: op(Who.ANY, ({ peer, requestId }) =>
      ctx.fail(peer, Codes.HELLO_DUPLICATE, 'this connection already said Hello', requestId),
    ),
    createSession: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const label = cleanName(body.customerName, '');
      const created = (reserved: boolean | string) => {
        const { session, pin, expiresAtMs } = registry.create(
          peer,
          label,
          registry.now(),
          reserved,
        );
        peer.sendFrame(
          controlFrame({
            requestId,
            sessionCreated: { sessionId: session.id, pin, pinExpiresUnixMs: expiresAtMs },
          }),
        );
      };
      const fleet = ctx.fleet;
      if (fleet === null) {
        created(true);
        return;
      }
      // a deployment of gateways: the PIN is reserved in the shared directory first, so that no
      // other gateway hands it out and a customer who dials any of them is sent here
      if (!fleet.available) {
        const text = 'the shared directory cannot be reached: no new session until it is back';
        ctx.fail(peer, Codes.DIRECTORY_UNAVAILABLE, text, requestId);
        return;
      }
      const expiresAtMs = registry.now() + ctx.config.pinTtlSeconds * 1000;
      const work = fleet.reservePin(expiresAtMs).then(
        (pin) => {
          if (peer.state !== PeerState.CLOSED) created(pin);
          else fleet.pinTaken(pin);
        },
        (err: unknown) => {
          ctx.logger.warn({ err, conn: peer.id }, 'could not reserve a PIN');
          const text = 'the shared directory cannot be reached: no new session until it is back';
          ctx.fail(peer, Codes.DIRECTORY_UNAVAILABLE, text, requestId);
        },
      );
      ctx.settle(peer, 'createSession', work, requestId);
    }),
    pickUp: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const id = body.sessionId ?? '';
      const pickUp = () => {
        // a team queue session (support button) is adopted by a technician of its team
        if (!unattended.beforePickUp(peer, id, requestId)) return;
        const result = registry.pickUp(peer, id);
        ctx.reply(peer, requestId, result);
        // spec A1.6: the operator's policy may ask the customer to elevate at the pick-up
        if (!isRefusal(result)) special.elevateByPolicy(peer, result);
      };
      // in a deployment, a queued session is claimed in the directory first (one winner)
      if (!queues.claim(peer, id, requestId, pickUp)) pickUp();
    }),
    closeSession: op(Who.ANY, ({ peer, body, requestId }) => {
      const id = body.sessionId || peer.session?.id || '';
      const leave = body.leaveInQueue === true;
      // spec A5.2: the uninstall command reaches the customer before the close releases it
      if (
        body.uninstallCustomerClient === true &&
        !special.beforeUninstallClose(peer, id, leave, requestId)
      )
        return;
      const now = registry.now();
      ctx.reply(peer, requestId, registry.close(peer, id, comment(body.reason), now, leave));
    }),
    // a technician quits on purpose (not a network drop): docs/session-lifecycle.md
    leaveSession: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const left = registry.quit(peer, body.sessionId ?? '', comment(body.reason));
      if (isRefusal(left)) ctx.fail(peer, left.entry, left.message, requestId);
      else if (left[0] === undefined) ctx.done(peer, requestId, null);
      else ctx.reply(peer, requestId, left[0]);
    }),
    holdSession: op(Who.TECHNICIAN, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, registry.hold(peer, sessionId(peer, body.sessionId))),
    ),
    unholdSession: op(Who.TECHNICIAN, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, registry.unhold(peer, sessionId(peer, body.sessionId))),
    ),
    transferSession: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const id = sessionId(peer, body.sessionId);
      const to = body.technician ?? '';
      ctx.reply(peer, requestId, registry.transfer(peer, id, to, comment(body.comment)));
    }),
    inviteTechnician: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const id = sessionId(peer, body.sessionId);
      ctx.reply(peer, requestId, registry.invite(peer, id, body.technician ?? ''));
    }),
    answerInvitation: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const result = registry.answerInvitation(peer, body.sessionId ?? '', body.accept === true);
      ctx.reply(peer, requestId, result);
    }),
    removeCollaborator: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const id = sessionId(peer, body.sessionId);
      ctx.reply(peer, requestId, registry.removeCollaborator(peer, id, body.technician ?? ''));
    }),
    handOver: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const id = sessionId(peer, body.sessionId);
      ctx.reply(peer, requestId, registry.handOver(peer, id, body.technician ?? ''));
    }),
    rebootCustomer: op(
      Who.TECHNICIAN,
      ({ peer, body, requestId }) =>
        ctx.reply(peer, requestId, registry.reboot(peer, sessionId(peer, body.sessionId))),
      { permission: 'reboot' },
    ),
    listQueue: op(Who.TECHNICIAN, ({ peer, requestId }) =>
      listQueue(ctx, unattended, queues, peer, requestId),
    ),
  };
}

/**
 * The technician's queue: each of its sessions with the status it sees (its view), then the
 * sessions waiting in its teams' queues (spec A3: support buttons; only for technicians of that
 * team; they have no owner yet, a pick-up adopts them).
 */
function listQueue(
  ctx: HandlerContext,
  unattended: UnattendedAccess,
  queues: SharedQueues,
  peer: RelayPeer,
  requestId: number,
): void {
  const entries: ferry.v1.QueueEntry.$Properties[] = ctx.registry.queue(peer).map((row) => {
    const s = row.session;
    return {
      sessionId: s.id,
      status: statusToWire(row.status),
      relation: row.relation as number as ferry.v1.QueueRelation,
      customerName: s.customerInfo?.name ?? s.customerLabel,
      ownerName: s.owner.name,
      statusSinceUnixMs: s.statusSinceMs,
      customerConnected: s.customer !== null,
      timeoutKind: row.status === 'TIMED_OUT' ? (s.machine.timeoutKind ?? '') : '',
    };
  });
  const grants = ctx.grants(peer);
  for (const { session: s, team } of grants === undefined ? [] : unattended.teamQueue(grants)) {
    entries.push({
      sessionId: s.id,
      status: statusToWire(s.status),
      relation: ferry.v1.QueueRelation.QUEUE_RELATION_TEAM,
      customerName: s.customerInfo?.name ?? s.customerLabel,
      ownerName: '',
      statusSinceUnixMs: s.statusSinceMs,
      customerConnected: s.customer !== null,
      timeoutKind: s.status === 'TIMED_OUT' ? (s.machine.timeoutKind ?? '') : '',
      team,
    });
  }
  if (ctx.fleet === null || grants === undefined || grants.teams.length === 0) {
    peer.sendFrame(controlFrame({ requestId, queue: { entries } }));
    return;
  }
  // in a deployment: the sessions waiting in the same teams' queues on the other gateways
  const work = queues.remote(grants.teams).then(
    (remote) => {
      for (const q of remote) {
        entries.push({
          sessionId: q.sessionId,
          status: statusToWire(q.status as Status),
          relation: ferry.v1.QueueRelation.QUEUE_RELATION_TEAM,
          customerName: q.customer,
          ownerName: '',
          statusSinceUnixMs: q.queuedAtMs,
          customerConnected: true,
          timeoutKind: '',
          team: q.team,
        });
      }
    },
    (err: unknown) => ctx.logger.warn({ err }, "the other gateways' queues could not be listed"),
  );
  ctx.settle(
    peer,
    'listQueue',
    work.then(() => {
      peer.sendFrame(controlFrame({ requestId, queue: { entries } }));
    }),
    requestId,
  );
}
