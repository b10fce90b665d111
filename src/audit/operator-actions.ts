/**
 * The operator actions of the admin API, done on the session registry: end a session (an
 * operator close: the participants are told, the customer let go with the normal close 4100),
 * kick a collaborator or invited technician, revoke an open PIN (its waiting session ends), and
 * start the drain. Each answers with what happened or a coded refusal; the admin API writes the
 * audit entry. Also the technician-token check that tells a technician (403) from nobody (401),
 * the report search and the audit log reads.
 */
import type { ActionOutcome, OperatorActions } from '../api/gateway-view.js';
import type { Logger } from '../log.js';
import { Codes, isRefusal, refuse } from '../protocol/codes.js';
import { errorFrame } from '../protocol/frames.js';
import { hs256Subject } from '../session/jwt.js';
import type { SessionRegistry } from '../session/registry.js';
import { withStoredLog } from '../session/report.js';
import { Relation, type Session } from '../session/session.js';
import { Trigger } from '../session/states.js';
import { verifyToken } from '../session/tokens.js';
import type { ReportStore } from '../store/report-store.js';
import type { AuditLog } from './audit-log.js';

export interface OperatorDeps {
  readonly registry: SessionRegistry;
  /** The secret that signs technician tokens. */
  readonly secret: string;
  readonly audit: AuditLog;
  readonly reports: ReportStore;
  readonly logger: Logger;
  /** True once a drain (or close) began. */
  draining(): boolean;
  /**
   * Starts the drain; `deadlineMs` null = the configured drainTimeoutSeconds. `move`: live
   * sessions move to another gateway of the deployment first.
   */
  startDrain(reason: string, deadlineMs: number | null, move: boolean): void;
  /** The configured drain deadline (ms), for the answer. */
  readonly drainTimeoutMs: number;
}

export function operatorActions(deps: OperatorDeps): OperatorActions {
  const { registry } = deps;

  /** The live session, or the refusal: 404 unknown, 409 already ended. */
  const live = (sessionId: string): Session | ReturnType<typeof refuse> => {
    const session = registry.get(sessionId);
    if (session !== undefined && !session.ended) return session;
    if (registry.reports.has(sessionId) || session !== undefined || deps.reports.has(sessionId)) {
      return refuse(Codes.SESSION_ENDED, `session ${sessionId} has already ended`);
    }
    return refuse(Codes.SESSION_NOT_FOUND, `no live session ${sessionId}`);
  };

  /**
   * An operator close: logged in the session log (every participant sees it), Closed by
   * technician where the state machine allows it (everyone whose view changes is told), then
   * the session ends: its report is archived and the customer let go with 4100.
   */
  const endAs = (session: Session, actor: string, reason: string): void => {
    const nowMs = registry.now();
    session.log.event('operator_close', actor, reason, nowMs);
    session.endReason = `ended by an operator: ${reason}`;
    const closed = session.apply(Trigger.TECHNICIAN_CLOSE, actor, nowMs);
    if (!closed.ok) {
      session.logger.info(
        { status: session.status, actor },
        'operator ends the session from a status that has no close',
      );
    }
    registry.end(session, nowMs);
  };

  /** Revoking an open PIN: nobody can join with it any more, so its waiting session ends. */
  const revoke = (session: Session, actor: string): ActionOutcome => {
    if (session.pin === '') {
      return refuse(
        Codes.STATE_CONFLICT,
        `session ${session.id} has no open PIN (a customer already joined with it, or none was issued)`,
      );
    }
    session.deliver(
      session.owner,
      errorFrame(
        Codes.PIN_EXPIRED,
        `the PIN of session ${session.id} was revoked by an operator; the session ended`,
      ),
    );
    endAs(session, actor, 'PIN revoked');
    return { ok: true, result: { sessionId: session.id, revoked: true, status: session.status } };
  };

  let drainStarted = false;

  return {
    technicianOf: (token) => {
      const check = verifyToken(deps.secret, token);
      return check.ok ? check.claims.sub : hs256Subject(deps.secret, token);
    },

    endSession: (sessionId, reason, actor) => {
      const session = live(sessionId);
      if (isRefusal(session)) return session;
      endAs(session, actor, reason);
      return {
        ok: true,
        result: { sessionId, ended: true, status: session.status, reason },
      };
    },

    kick: (sessionId, participantId, reason, actor) => {
      const session = live(sessionId);
      if (isRefusal(session)) return session;
      const seat = session.seats().find((s) => s.participantId === participantId);
      if (seat === undefined) {
        return refuse(
          Codes.PARTICIPANT_NOT_FOUND,
          `session ${sessionId} has no participant ${participantId}`,
        );
      }
      const relation = session.relationOf(seat);
      if (relation !== Relation.COLLABORATOR && relation !== Relation.INVITED) {
        const what =
          relation === Relation.OWNER
            ? 'the owner'
            : relation === Relation.CUSTOMER
              ? 'the customer'
              : 'the target of a pending transfer';
        return refuse(
          Codes.STATE_CONFLICT,
          `${participantId} is ${what} of session ${sessionId}; end the session instead`,
        );
      }
      const why = reason === '' ? 'removed by an operator' : `removed by an operator: ${reason}`;
      const done = registry.dismiss(session, seat, actor, why);
      if (isRefusal(done)) return done;
      return {
        ok: true,
        result: { sessionId, participantId, name: seat.name, kicked: true },
      };
    },

    revokePin: (pin, actor) => {
      for (const session of registry.sessions.values()) {
        if (!session.ended && session.pin !== '' && session.pin === pin) {
          return revoke(session, actor);
        }
      }
      return refuse(Codes.PIN_NOT_FOUND, 'no live session holds this PIN open');
    },

    revokeSessionPin: (sessionId, actor) => {
      const session = live(sessionId);
      if (isRefusal(session)) return session;
      return revoke(session, actor);
    },

    drain: (reason, deadlineMs, actor, move) => {
      if (drainStarted || deps.draining()) {
        return refuse(Codes.STATE_CONFLICT, 'the gateway is already draining');
      }
      drainStarted = true;
      const sessions = registry.sessions.size;
      deps.logger.info({ actor, reason, sessions, move }, 'drain requested through the admin API');
      deps.startDrain(reason, deadlineMs, move);
      return {
        ok: true,
        result: {
          draining: true,
          sessions,
          deadlineSeconds: Math.round((deadlineMs ?? deps.drainTimeoutMs) / 1000),
          move,
        },
      };
    },

    searchReports: (query) => deps.reports.search(query),

    reportJson: (sessionId) => {
      const newest = registry.reports.get(sessionId);
      const stored =
        newest === undefined || newest.logEntriesSpilled > 0
          ? deps.reports.document(sessionId)
          : null;
      if (newest === undefined) return stored;
      return JSON.stringify(stored === null ? newest : withStoredLog(newest, stored));
    },

    reportStored: (sessionId) => deps.reports.has(sessionId),

    audit: (record) => {
      deps.audit.append(record);
    },

    auditTail: (limit) => ({ entries: deps.audit.tail(limit), verdict: deps.audit.verify() }),
  };
}
