/**
 * OS-specific special tasks (docs/spec/session-tools.md C4.4, C4.5). The customer client advertises,
 * in its Hello, the tasks its operator configured for its platform: ids, names and the contexts
 * each may run in, never a command. A technician with the `special_actions` permission lists
 * them and triggers one by id; the customer client runs its own command for that id.
 *
 * Checks (the gateway's, a hidden button is never the check): the permission; the technician
 * works the session (owner or collaborator) and the session is live with its customer connected;
 * the task is one this customer advertised, in a context it advertised for it; SYSTEM only when
 * the customer client is elevated (A1.3, `HandlerContext.elevated`). AS_USER carries no
 * credential: no message has a field for one, the customer client runs the task through its
 * operator's run-as command, whose prompt is answered at the customer machine, so the gateway
 * can neither store nor log what was typed.
 *
 * Each run is logged for everyone in the session ("ran special task X"); its result, with an
 * excerpt of the output, for technicians only (as for canned scripts: the output may be private).
 */
import { Codes } from '../protocol/codes.js';
import { controlFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { Session } from '../session/session.js';
import { clean, type HandlerContext, MAX_ERROR } from './context.js';
import { type ControlTable, Guard, op, Who } from './control.js';

const C = ferry.v1.SpecialActionContext;
/** Tasks one customer client may advertise; the rest of a longer list is ignored. */
export const MAX_SPECIAL_TASKS = 64;
const MAX_ID = 64;
const MAX_NAME = 128;
const MAX_DESCRIPTION = 512;
/** Output relayed to the technician who asked (the customer client bounds it first). */
const MAX_OUTPUT = 256 * 1024;
/** Output kept in the session log. */
const MAX_LOGGED_OUTPUT = 4096;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const CONTEXT_NAMES: Record<number, string> = {
  [C.SPECIAL_ACTION_CONTEXT_CURRENT_USER]: 'current user',
  [C.SPECIAL_ACTION_CONTEXT_SYSTEM]: 'SYSTEM',
  [C.SPECIAL_ACTION_CONTEXT_AS_USER]: 'as another user',
};

/** A task as the gateway keeps it: cleaned, contexts known and unique. */
interface Task {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly contexts: readonly ferry.v1.SpecialActionContext[];
}

/**
 * The tasks of a customer Hello, cleaned: ids that are not plain names, duplicates and unknown
 * contexts are dropped; a task naming no context runs as the current user only.
 */
export function advertisedTasks(raw: readonly ferry.v1.SpecialTaskInfo.$Properties[]): Task[] {
  const tasks: Task[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    if (tasks.length >= MAX_SPECIAL_TASKS) break;
    const id = t.id ?? '';
    if (id.length > MAX_ID || !ID_PATTERN.test(id) || seen.has(id)) continue;
    seen.add(id);
    const contexts = [...new Set(t.contexts ?? [])].filter((c) => Object.hasOwn(CONTEXT_NAMES, c));
    tasks.push({
      id,
      name: clean(t.name, MAX_NAME).trim() || id,
      description: clean(t.description, MAX_DESCRIPTION),
      contexts: contexts.length === 0 ? [C.SPECIAL_ACTION_CONTEXT_CURRENT_USER] : contexts,
    });
  }
  return tasks;
}

export class SpecialTasks {
  readonly #ctx: HandlerContext;
  /** What each session's customer client advertised at its join. */
  readonly #tasks = new WeakMap<Session, readonly Task[]>();

  constructor(ctx: HandlerContext) {
    this.#ctx = ctx;
  }

  /** The customer of `session` joined: keep the tasks it offers (C4.4). */
  onCustomerJoined(session: Session, hello: ferry.v1.Hello.$Properties): void {
    this.#tasks.set(session, advertisedTasks(hello.specialTasks ?? []));
  }

  list(peer: RelayPeer, op: ferry.v1.ListSpecialActions.$Properties, requestId: number): void {
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    peer.sendFrame(
      controlFrame({
        requestId,
        specialActions: {
          sessionId: w.session.id,
          platform: w.session.customerInfo?.platform ?? '',
          elevated: this.#ctx.elevated.has(w.session),
          actions: (this.#tasks.get(w.session) ?? []).map((t) => ({
            id: t.id,
            name: t.name,
            description: t.description,
            contexts: [...t.contexts],
          })),
        },
      }),
    );
  }

  run(peer: RelayPeer, op: ferry.v1.SpecialAction.$Properties, requestId: number): void {
    const context = op.context || C.SPECIAL_ACTION_CONTEXT_CURRENT_USER;
    if (!Object.hasOwn(CONTEXT_NAMES, context)) {
      this.#ctx.fail(
        peer,
        Codes.SPECIAL_ACTION_CONTEXT,
        'the context is CURRENT_USER, SYSTEM or AS_USER',
        requestId,
      );
      return;
    }
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    const id = op.actionId ?? '';
    const task = this.#tasks.get(w.session)?.find((t) => t.id === id);
    if (task === undefined) {
      this.#ctx.fail(
        peer,
        Codes.SPECIAL_ACTION_UNKNOWN,
        `the customer client offers no special task "${clean(id, MAX_ID)}"`,
        requestId,
      );
      return;
    }
    if (!task.contexts.includes(context)) {
      this.#ctx.fail(
        peer,
        Codes.SPECIAL_ACTION_CONTEXT,
        `special task ${task.id} is not offered ${contextPhrase(context)}`,
        requestId,
      );
      return;
    }
    if (context === C.SPECIAL_ACTION_CONTEXT_SYSTEM && !this.#ctx.elevated.has(w.session)) {
      // spec C4.5: the System account only from an elevated customer client
      this.#ctx.fail(
        peer,
        Codes.ELEVATION_REQUIRED,
        'a special task runs as SYSTEM only on an elevated customer client',
        requestId,
      );
      return;
    }
    const ticket = this.#ctx.ask(w.session, {
      kind: 'task',
      seat: w.seat,
      requestId,
      label: task.id,
      context,
    });
    this.#ctx.registry.noteAction(peer, w.session);
    w.session.log.event(
      'special_action',
      peer.name,
      `ran special task "${task.name}" (${task.id}) ${contextPhrase(context)}`,
    );
    w.session.deliver(
      w.customer,
      controlFrame({
        specialAction: {
          sessionId: w.session.id,
          actionId: task.id,
          context,
          ticket,
          requestedBy: peer.name,
        },
      }),
    );
  }

  result(
    peer: RelayPeer,
    session: Session,
    op: ferry.v1.SpecialActionResult.$Properties,
    requestId: number,
  ): void {
    const pending = session.pending.take(op.ticket ?? 0, 'task');
    if (pending === null) {
      this.#ctx.fail(peer, Codes.UNKNOWN_REQUEST, 'no special task run has this ticket', requestId);
      return;
    }
    const taskId = pending.label;
    const context = (pending.context ?? 0) as ferry.v1.SpecialActionContext;
    const rawOutput = op.output ?? '';
    const output = clean(rawOutput, MAX_OUTPUT, true);
    const error = clean(op.error, MAX_ERROR);
    const code = op.exitCode ?? 0;
    const how =
      error !== ''
        ? `not run: ${error}`
        : `${op.timedOut ? 'timed out, ' : ''}exit code ${code}, ${Buffer.byteLength(output)} bytes of output`;
    const excerpt =
      output.length > MAX_LOGGED_OUTPUT ? `${output.slice(0, MAX_LOGGED_OUTPUT)}…` : output;
    // spec C4.4: the run and its result in the session log, for technicians only
    session.log.event(
      'special_action',
      peer.name,
      `special task ${taskId} ${contextPhrase(context)} for ${pending.seat.name}: ${how}${excerpt === '' ? '' : `\n${excerpt}`}`,
      undefined,
      'technicians',
    );
    session.answer(
      pending,
      controlFrame({
        requestId: pending.requestId,
        specialActionResult: {
          ticket: op.ticket ?? 0,
          actionId: taskId,
          exitCode: code,
          output,
          timedOut: op.timedOut === true,
          outputTruncated: op.outputTruncated === true || output.length < rawOutput.length,
          error,
          context,
          ranBy: peer.name,
        },
      }),
    );
  }
}

function contextPhrase(context: number): string {
  if (context === C.SPECIAL_ACTION_CONTEXT_SYSTEM) return 'as SYSTEM';
  if (context === C.SPECIAL_ACTION_CONTEXT_AS_USER)
    return "as another user (customer's run-as prompt)";
  return 'as the current user';
}

/** The CONTROL rows of special tasks. */
export function specialTaskOps(tasks: SpecialTasks): ControlTable {
  return {
    listSpecialActions: op(Who.TECHNICIAN, (c) => tasks.list(c.peer, c.body, c.requestId), {
      permission: 'special_actions',
    }),
    specialAction: op(Who.TECHNICIAN, (c) => tasks.run(c.peer, c.body, c.requestId), {
      permission: 'special_actions',
    }),
    specialActionResult: op(
      Who.CUSTOMER,
      (c) => tasks.result(c.peer, c.session!, c.body, c.requestId),
      { guard: Guard.CUSTOMER_SESSION },
    ),
  };
}
