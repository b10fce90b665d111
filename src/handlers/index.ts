/**
 * The two tables of the gateway, built once at start:
 * - channel rows (DESIGN's channel table as data): for each channel, how the router treats it,
 *   who may send it, its size class, the session state and customer grant it needs, whether it
 *   may be dropped, whether it counts as user activity, and its handler;
 * - CONTROL operations: `op -> { role, permission, guard, run }`, merged from the message
 *   families. An op with no row is answered FERRY_ERR_UNSUPPORTED_OPERATION.
 *
 * Adding a channel: its `.proto`, one row here and one handler file. Adding a CONTROL op: its
 * `.proto` and one row in its family's file.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { CandidatePolicy } from '../direct/candidates.js';
import type { Fleet } from '../directory/fleet.js';
import { Channel } from '../protocol/frames.js';
import type { RelayPeer } from '../relay/peer.js';
import { Refusals } from '../relay/refusals.js';
import { type HandlerFailureSink, Router } from '../relay/router.js';
import {
  type ChannelRow,
  type ChannelTable,
  FROM_ANY,
  FROM_CUSTOMER,
  FROM_TECHNICIAN,
  RouteKind,
  row,
} from '../relay/routes.js';
import { SendBudget } from '../relay/send-budget.js';
import { RelayStats } from '../relay/stats.js';
import type { CannedScriptLibrary } from '../session/canned-scripts.js';
import {
  GRANT_CONTROL,
  GRANT_FILE,
  GRANT_SHELL,
  GRANT_SYSINFO,
  GRANT_VIEW,
} from '../session/consent.js';
import type { SessionRegistry } from '../session/registry.js';
import type { RelayRtt } from '../session/seat.js';
import type { Session } from '../session/session.js';
import { SessionTools } from '../session/tools.js';
import type { UnattendedRegistry } from '../tools/jump-clients.js';
import { accessOps, SpecialActions } from './access.js';
import { avatarOps } from './avatars.js';
import { chatHandler, chatOps } from './chat.js';
import { consentOps } from './consent.js';
import { HandlerContext } from './context.js';
import { ControlHandler, type ControlTable } from './control.js';
import { DirectPaths, directPolicy } from './direct.js';
import { heartbeatHandler, type PongSink } from './heartbeat.js';
import { HelloHandler } from './hello.js';
import { joinCustomer } from './join.js';
import { netstatsOps, type StatsPush } from './netstats.js';
import { notesOps } from './notes.js';
import { Presence } from './presence.js';
import { screenOps } from './screen.js';
import { sessionOps } from './session.js';
import { SharedQueues } from './shared-queue.js';
import { SpecialTasks, specialTaskOps } from './special-tasks.js';
import { sysinfoHandler, sysinfoRequestId } from './sysinfo.js';
import { ToolHandlers } from './tools.js';
import { UnattendedAccess, unattendedOps } from './unattended.js';

export interface HandlerDeps {
  readonly config: Config;
  readonly registry: SessionRegistry;
  /** The registry of jump clients and support buttons: the data directory's, or the deployment's. */
  readonly jumpClients: UnattendedRegistry;
  readonly scripts: CannedScriptLibrary;
  readonly pongs: PongSink;
  readonly pushStats: StatsPush;
  readonly gatewayId: string;
  readonly version: string;
  readonly logger: Logger;
  /** This gateway's part in a deployment sharing a directory, or null (one process alone). */
  readonly fleet?: Fleet | null;
  /** Takes over a session whose owner died (the gateway's `#adopt`); false when it cannot. */
  readonly adopt?: (sessionId: string, from: string) => Promise<boolean>;
  /** Relay choice when a customer joins (the gateway's `#place`). */
  readonly place?: (session: Session, customer: readonly RelayRtt[]) => void;
  /** Moves a live session to another gateway of the deployment (the gateway's). */
  readonly moveTo?: (session: Session, gatewayId: string, reason: string) => Promise<boolean>;
  /** More channel rows (a test's toy channel); a row may not replace a built-in channel. */
  readonly extraChannels?: readonly ChannelRow[];
  /** The gateway's addresses and the host of its STUN server (direct-path candidates). */
  readonly ownAddresses?: readonly string[];
  readonly stunHost?: string;
}

/** Media flows (Active, Collaborating, or Reconnecting from one of them). */
const flowing = (session: Session): boolean => session.flowing;

/** Everything the gateway's message path is made of. */
export interface Relay {
  readonly router: Router;
  readonly context: HandlerContext;
  readonly hello: HelloHandler;
  readonly tools: ToolHandlers;
  readonly special: SpecialActions;
  readonly table: ChannelTable;
  readonly controlTable: ControlTable;
  readonly direct: DirectPaths;
  /** The technicians and jump clients connected here (told of every close of a connection). */
  readonly presence: Presence;
}

/**
 * Builds the handlers, the two tables and the router. Throws RangeError when the operator's
 * default permissions or team are not valid.
 */
export function buildRelay(deps: HandlerDeps): Relay {
  const { config, registry } = deps;
  const listeners = registry.listeners;
  // consent, chat history, screen tools, sysinfo routing, summary, notes, avatars
  const tools = new SessionTools(registry);
  listeners.add({ joined: (session, seat) => tools.brief(session, seat) });
  const stats = new RelayStats();
  const refusals = new Refusals(config, stats);
  const budget = new SendBudget(
    config.globalBufferedBytes,
    config.maxBufferedBytes,
    config.screenDropBytes,
  );
  const ctx = new HandlerContext({
    config,
    registry,
    tools,
    stats,
    refusals,
    gatewayId: deps.gatewayId,
    version: deps.version,
    logger: deps.logger,
    fleet: deps.fleet ?? null,
    adopt: deps.adopt ?? (() => Promise.resolve(false)),
    place: deps.place ?? (() => undefined),
    moveTo: deps.moveTo ?? (() => Promise.resolve(false)),
  });
  const tasks = new SpecialTasks(ctx);
  const joined = (session: Session, hello: Parameters<SpecialTasks['onCustomerJoined']>[1]) =>
    tasks.onCustomerJoined(session, hello);
  const presence = new Presence(ctx);
  const unattended = new UnattendedAccess(
    ctx,
    deps.jumpClients,
    presence,
    (peer, hello, s, id, how) => joinCustomer(ctx, joined, peer, hello, s, id, how),
  );
  const special = new SpecialActions(ctx, deps.scripts, unattended);
  const queues = new SharedQueues(ctx, unattended);
  const hello = new HelloHandler(ctx, unattended, joined);
  const toolHandlers = new ToolHandlers(ctx, listeners);
  const policy = directPolicy(config.p2p);
  const direct = new DirectPaths(ctx, {
    policy,
    candidates: new CandidatePolicy({
      policy,
      networks: config.p2pNetworks
        .split(',')
        .map((c) => c.trim())
        .filter((c) => c !== ''),
      ownPorts: [config.port, config.adminPort, config.stunPort, config.ownPort],
      ownAddresses: deps.ownAddresses ?? [],
    }),
    iceServers:
      config.stunPort > 0 && deps.stunHost ? [`stun:${deps.stunHost}:${config.stunPort}`] : [],
    now: () => performance.now(),
    logger: deps.logger,
  });
  listeners.add({
    created: (session) => {
      session.directs = direct;
    },
    restored: (session) => {
      session.directs = direct;
    },
    left: (session, seat) => direct.left(session, seat),
    joined: (session) => direct.arrived(session),
    attached: (session) => direct.arrived(session),
    revoked: (session, removed) => direct.revoked(session, removed),
    ended: (session) => direct.ended(session),
  });

  const controlTable: ControlTable = {
    ...sessionOps(ctx, special, unattended, queues),
    ...chatOps(ctx),
    ...consentOps(ctx),
    ...screenOps(ctx),
    ...notesOps(ctx),
    ...avatarOps(ctx),
    ...netstatsOps(ctx, deps.pushStats),
    ...accessOps(special),
    ...specialTaskOps(tasks),
    ...unattendedOps(ctx, unattended),
    ...direct.ops(),
  };
  const control = new ControlHandler(ctx, controlTable);

  const C = Channel;
  const rows: ChannelRow[] = [
    row(C.CHANNEL_SCREEN, 'screen', {
      kind: RouteKind.SCREEN,
      from: FROM_CUSTOMER,
      state: flowing,
      stateText: 'screen frames flow only in an active session',
      grant: GRANT_VIEW,
      grantText: 'the customer has not granted screen view',
      reliable: false,
    }),
    row(C.CHANNEL_INPUT, 'input', {
      kind: RouteKind.INPUT,
      from: FROM_TECHNICIAN,
      state: flowing,
      stateText: 'input flows only in an active session',
      grant: GRANT_CONTROL,
      grantText: 'the customer has not granted control',
      activity: true,
    }),
    row(C.CHANNEL_CHAT, 'chat', {
      from: FROM_ANY,
      small: true,
      activity: true,
      handler: chatHandler(ctx, C.CHANNEL_CHAT),
    }),
    row(C.CHANNEL_CHAT_PRIVATE, 'chat_private', {
      from: FROM_TECHNICIAN,
      small: true,
      activity: true,
      handler: chatHandler(ctx, C.CHANNEL_CHAT_PRIVATE),
    }),
    row(C.CHANNEL_SHELL, 'shell', {
      from: FROM_ANY,
      grant: GRANT_SHELL,
      grantText: 'the customer has not granted command shells',
      activity: true,
      handler: toolHandlers.onShell,
    }),
    row(C.CHANNEL_SYSINFO, 'sysinfo', {
      from: FROM_ANY,
      grant: GRANT_SYSINFO,
      grantText: 'the customer has not granted system information',
      requestIdOf: (bytes) => sysinfoRequestId(bytes),
      activity: true,
      handler: sysinfoHandler(ctx),
    }),
    row(C.CHANNEL_FILE, 'file', {
      from: FROM_ANY,
      grant: GRANT_FILE,
      grantText: 'the customer has not granted file transfer',
      activity: true,
      handler: toolHandlers.onFile,
    }),
    row(C.CHANNEL_CONTROL, 'control', {
      from: FROM_ANY,
      small: true,
      handler: (peer, bytes, session, stream) => control.onControl(peer, bytes, session, stream),
    }),
    row(C.CHANNEL_HEARTBEAT, 'heartbeat', {
      from: FROM_ANY,
      small: true,
      handler: heartbeatHandler(ctx, deps.pongs),
    }),
    row(C.CHANNEL_EVENT, 'event', { from: 0, small: true }),
  ];
  const table: (ChannelRow | undefined)[] = [];
  for (const r of [...rows, ...(deps.extraChannels ?? [])]) {
    if (table[r.channel] !== undefined) {
      throw new RangeError(`channel ${r.channel} (${r.name}) already has a row`);
    }
    table[r.channel] = r;
  }

  const failures: HandlerFailureSink = {
    handlerFailed: (failed, _peer: RelayPeer, session) => {
      // A pong changes no session state; any other handler may have left its session half-done.
      if (failed.channel === C.CHANNEL_HEARTBEAT || session === null || session.ended) return;
      session.log.event('internal_error', 'gateway', `the ${failed.name} handler failed`);
      session.endReason = 'internal error';
      registry.end(session);
    },
  };
  const router = new Router({
    config,
    table,
    hello: (peer, bytes) => hello.onHello(peer, bytes),
    stats,
    refusals,
    budget,
    failures,
    logger: deps.logger,
    now: () => registry.now(),
  });
  return {
    router,
    context: ctx,
    hello,
    tools: toolHandlers,
    special,
    table,
    controlTable,
    direct,
    presence,
  };
}
