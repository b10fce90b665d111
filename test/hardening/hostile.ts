/**
 * fast-check arbitraries of hostile Ferry frames, shared by the in-process and the over-the-wire
 * tests. Each `Hostile` says who sends it and what must come back:
 *
 * - `expect` a list of codes: the frame is bad by construction and the sender gets exactly one
 *   Error whose code is in the list (any code when the list is empty) and the close its code
 *   table entry names, if any;
 * - `expect` null: the frame may or may not be valid (random bytes after a valid header, a
 *   truncated frame); the sender gets at most one Error, and a frame that got none must have
 *   been handled as a valid one (relayed byte for byte, or decodable).
 *
 * The expectations come from the channel table of docs/architecture.md and the wire layout of
 * proto/ferry/v1/frame.proto, not from the gateway's code. Frames are built from a context
 * (session ids, token secret) at send time, so the same arbitrary serves every fixture.
 */
import fc from 'fast-check';
import { Codes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

const Channel = ferry.v1.Channel;
const Role = ferry.v1.Role;

export type Sender = 'techA' | 'customerA' | 'techW' | 'customerW' | 'techIdle' | 'fresh';
const TECHS: readonly Sender[] = ['techA', 'techW', 'techIdle'];
const CUSTOMERS: readonly Sender[] = ['customerA', 'customerW'];

export interface HostileContext {
  readonly sessionA: string;
  readonly sessionB: string;
}

export interface Hostile {
  readonly label: string;
  readonly from: Sender;
  /** Sent as a WebSocket text message. */
  readonly text?: boolean;
  readonly build: (ctx: HostileContext) => Uint8Array;
  /** Exactly one Error with one of these codes ([] = any code); null: at most one, validity unknown. */
  readonly expect: readonly string[] | null;
  /** The Control.request_id the Error must echo. */
  readonly requestId?: number;
}

/** Limits the fixtures run with: maxFrameBytes and maxControlBytes. */
export const LIMITS = { frame: 4096, control: 1024 } as const;

// --- wire helpers --------------------------------------------------------------------------------

export function varint(value: number): number[] {
  const out: number[] = [];
  let n = value;
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Channel and stream, stream always present so a random tail cannot be read as field 2. */
export function header(channel: number, stream: number): number[] {
  return [0x08, ...varint(channel), 0x10, ...varint(stream)];
}

const bytesOf = (...parts: (number[] | Uint8Array)[]): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) for (const b of p) out.push(b);
  return Uint8Array.from(out);
};

/** `length` bytes of deterministic filler: header, then a pattern. */
function padded(head: number[], length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(head);
  for (let i = head.length; i < length; i++) out[i] = (seed + i * 31) & 0xff;
  return out;
}

export function encode(frame: ferry.v1.Frame.$Properties): Uint8Array {
  return ferry.v1.Frame.encode(frame).finish();
}

function controlFrame(requestId: number, op: Omit<ferry.v1.Control.$Properties, 'requestId'>) {
  return encode({ channel: Channel.CHANNEL_CONTROL, control: { requestId, ...op } });
}

const code = (name: keyof typeof Codes): string => Codes[name].code;
const codes = (...names: (keyof typeof Codes)[]): string[] => names.map(code);

/** Who may send each channel (docs/architecture.md channel table); EVENT flows from the gateway only. */
export function mayRoleSend(channel: number, from: Sender): boolean {
  const tech = TECHS.includes(from);
  switch (channel) {
    case Channel.CHANNEL_SCREEN:
      return !tech;
    case Channel.CHANNEL_INPUT:
    case Channel.CHANNEL_CHAT_PRIVATE:
      return tech;
    case Channel.CHANNEL_EVENT:
      return false;
    default:
      return true;
  }
}

const SMALL: ReadonlySet<number> = new Set([
  Channel.CHANNEL_CHAT,
  Channel.CHANNEL_CHAT_PRIVATE,
  Channel.CHANNEL_CONTROL,
  Channel.CHANNEL_HEARTBEAT,
]);
const GRANTED: ReadonlySet<number> = new Set([
  Channel.CHANNEL_SHELL,
  Channel.CHANNEL_SYSINFO,
  Channel.CHANNEL_FILE,
]);
export const DECODED: ReadonlySet<number> = new Set([
  Channel.CHANNEL_CHAT,
  Channel.CHANNEL_CHAT_PRIVATE,
  Channel.CHANNEL_CONTROL,
  Channel.CHANNEL_HEARTBEAT,
]);

export const HeaderStatus = { OK: 0, EMPTY: 1, NO_CHANNEL: 2, TRUNCATED: 3, UNKNOWN: 4 } as const;

/**
 * Reads a frame's routing header as proto/ferry/v1/frame.proto lays it out (tag 0x08, a varint32
 * channel, then tag 0x10 and a varint32 stream if present): the test's own oracle, written from the
 * protocol rather than taken from src/protocol/peek.ts.
 */
export function readHeader(bytes: Uint8Array): { status: number; channel: number } {
  if (bytes.length === 0) return { status: HeaderStatus.EMPTY, channel: -1 };
  if (bytes[0] !== 0x08) return { status: HeaderStatus.NO_CHANNEL, channel: -1 };
  const varint32 = (at: number): [number, number] | null => {
    let value = 0;
    for (let i = at; i < Math.min(bytes.length, at + 5); i++) {
      value += (bytes[i]! & 0x7f) * 2 ** (7 * (i - at));
      if (bytes[i]! < 0x80) return value > 0xffffffff ? null : [value, i + 1];
    }
    return null;
  };
  // The whole header is read (channel 1..63, then the stream) before the channel table is
  // consulted: a channel without a row whose stream is cut off is TRUNCATED.
  const channel = varint32(1);
  if (channel === null) return { status: HeaderStatus.TRUNCATED, channel: -1 };
  if (channel[0] === 0 || channel[0] > 63) return { status: HeaderStatus.UNKNOWN, channel: -1 };
  if (bytes[channel[1]] === 0x10 && varint32(channel[1] + 1) === null) {
    return { status: HeaderStatus.TRUNCATED, channel: -1 };
  }
  if (channel[0] > 10) return { status: HeaderStatus.UNKNOWN, channel: -1 };
  return { status: HeaderStatus.OK, channel: channel[0] };
}

/** fast-check prints counterexamples with this: who sends what, not the builder's source. */
function printable(h: Hostile): Hostile {
  return Object.assign(h, { [fc.toStringMethod]: () => `${h.from}: ${h.label}` });
}

// --- arbitraries ---------------------------------------------------------------------------------

const stream = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 16 }),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const tail = (maxLength = 64) => fc.uint8Array({ maxLength });
const requestId = fc.integer({ min: 1, max: 0xffffffff });
const text = fc.string({ minLength: 1, maxLength: 40 });
/** Strings no session id (16 base64url characters) can equal. */
const unknownId = fc.string({ maxLength: 12 }).map((s) => `x${s}`);

function pick<T>(senders: readonly Sender[], among: readonly T[]): T[] {
  return among.filter((s) => senders.includes(s as Sender));
}

/** An arbitrary frame from one of `senders`; categories that need other senders are left out. */
export function hostileFrame(senders: readonly Sender[]): fc.Arbitrary<Hostile> {
  const ready = pick(senders, ['techA', 'customerA', 'techW', 'customerW', 'techIdle'] as const);
  const techs = pick(senders, TECHS);
  const customers = pick(senders, CUSTOMERS);
  const any = fc.constantFrom(...senders);
  const options: fc.Arbitrary<Hostile>[] = [];
  const add = (weight: number, arb: fc.Arbitrary<Hostile>) => {
    for (let i = 0; i < weight; i++) options.push(arb);
  };

  // Peek failures: the same for every sender, authenticated or not.
  add(
    1,
    any.map((from) => ({
      label: 'empty',
      from,
      build: () => new Uint8Array(0),
      expect: [code('FRAME_EMPTY')],
    })),
  );
  add(
    2,
    fc
      .tuple(
        any,
        fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x08),
        tail(),
      )
      .map(([from, first, rest]) => ({
        label: `no channel tag (first byte ${first})`,
        from,
        build: () => bytesOf([first], rest),
        expect: [code('FRAME_NO_CHANNEL')],
      })),
  );
  const continuation = (n: number) =>
    fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: n, maxLength: n });
  add(
    3,
    fc
      .tuple(
        any,
        fc.oneof(
          // channel varint cut off
          fc.integer({ min: 0, max: 4 }).chain((n) => continuation(n)),
          // channel varint longer than 5 bytes
          fc.tuple(continuation(5), tail(8)).map(([c, t]) => [...c, ...t]),
          // 5-byte channel varint over 2^32 - 1
          fc
            .tuple(continuation(4), fc.integer({ min: 0x10, max: 0x7f }), tail(8))
            .map(([c, last, t]) => [...c, last, ...t]),
          // valid channel, stream varint cut off
          fc
            .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 4 }))
            .chain(([ch, n]) => continuation(n).map((c) => [ch, 0x10, ...c])),
        ),
      )
      .map(([from, rest]) => ({
        label: 'truncated or overlong header varint',
        from,
        build: () => bytesOf([0x08], rest),
        expect: [code('FRAME_TRUNCATED')],
      })),
  );
  add(
    2,
    fc
      .tuple(
        any,
        fc.oneof(fc.constant(0), fc.integer({ min: 11, max: 0xffffffff })),
        fc.option(stream, { nil: undefined }),
        tail(),
      )
      .map(([from, channel, s, rest]) => {
        const build = () =>
          bytesOf([0x08, ...varint(channel)], s === undefined ? [] : [0x10], rest);
        const cut = readHeader(build()).status === HeaderStatus.TRUNCATED;
        return {
          label: `unknown channel ${channel}`,
          from,
          build,
          expect: [code(cut ? 'FRAME_TRUNCATED' : 'UNKNOWN_CHANNEL')],
        };
      }),
  );

  // Before Hello: only CONTROL is read, and only a good Hello gets in.
  if (senders.includes('fresh')) {
    add(
      2,
      fc
        .tuple(
          fc.integer({ min: 1, max: 10 }).filter((c) => c !== Channel.CHANNEL_CONTROL),
          stream,
          tail(),
        )
        .map(([channel, s, rest]) => ({
          label: `channel ${channel} before Hello`,
          from: 'fresh' as const,
          build: () => bytesOf(header(channel, s), rest),
          expect: [code('HELLO_REQUIRED')],
        })),
    );
    add(
      1,
      fc
        .tuple(
          requestId,
          fc.constantFrom<Omit<ferry.v1.Control.$Properties, 'requestId'>>(
            { createSession: {} },
            { pickUp: { sessionId: 'x' } },
            { keyFrameRequest: {} },
          ),
        )
        .map(([rid, op]) => ({
          label: `CONTROL ${Object.keys(op)[0]} before Hello`,
          from: 'fresh' as const,
          build: () => controlFrame(rid, op),
          expect: [code('HELLO_REQUIRED')],
          requestId: rid,
        })),
    );
    add(
      2,
      fc
        .tuple(
          requestId,
          fc.oneof(
            fc.constant({
              hello: { role: Role.ROLE_UNSPECIFIED },
              codes: codes('ROLE_INVALID'),
            }),
            text.map((t) => ({
              hello: { role: Role.ROLE_TECHNICIAN, token: t },
              codes: codes('TOKEN_MALFORMED', 'TOKEN_SIGNATURE'),
            })),
            fc.tuple(text, text).map(([p, s]) => ({
              hello: { role: Role.ROLE_TECHNICIAN, token: `ft1.${p}.${s}` },
              codes: codes('TOKEN_MALFORMED', 'TOKEN_SIGNATURE'),
            })),
            fc.constant({ hello: { role: Role.ROLE_CUSTOMER }, codes: codes('ROLE_INVALID') }),
            fc.stringMatching(/^[0-9a-z]{1,18}$/).map((pin) => ({
              hello: { role: Role.ROLE_CUSTOMER, pin },
              codes: codes('PIN_INVALID'),
            })),
          ),
        )
        .map(([rid, { hello, codes: expect }]) => ({
          label: `bad Hello ${JSON.stringify(hello)}`,
          from: 'fresh' as const,
          build: () => controlFrame(rid, { hello }),
          expect,
          requestId: rid,
        })),
    );
    add(
      1,
      fc
        .tuple(fc.integer({ min: LIMITS.control + 1, max: 3000 }), fc.nat(255))
        .map(([n, seed]) => ({
          label: `Hello of ${n} bytes`,
          from: 'fresh' as const,
          build: () => padded(header(Channel.CHANNEL_CONTROL, 0), n, seed),
          expect: [code('FRAME_TOO_LARGE')],
        })),
    );
  }

  if (ready.length > 0) {
    const readyFrom = fc.constantFrom(...ready);
    // Wrong role: customers do not send INPUT or CHAT_PRIVATE, technicians no SCREEN, nobody EVENT.
    const wrongRole: [Sender, number][] = [];
    for (const c of customers)
      for (const ch of [Channel.CHANNEL_INPUT, Channel.CHANNEL_CHAT_PRIVATE, Channel.CHANNEL_EVENT])
        wrongRole.push([c, ch]);
    for (const t of techs)
      for (const ch of [Channel.CHANNEL_SCREEN, Channel.CHANNEL_EVENT]) wrongRole.push([t, ch]);
    if (wrongRole.length > 0) {
      add(
        3,
        fc
          .tuple(
            fc.constantFrom(...wrongRole),
            stream,
            fc.oneof(tail(), fc.integer({ min: 0, max: 6000 })),
          )
          .map(([[from, channel], s, rest]) => ({
            label: `${from} sends channel ${channel}`,
            from,
            build: () =>
              typeof rest === 'number'
                ? padded(header(channel, s), header(channel, s).length + rest, rest)
                : bytesOf(header(channel, s), rest),
            expect: [code('WRONG_ROLE')],
          })),
      );
    }
    // SHELL, SYSINFO and FILE need a grant no customer has given.
    add(
      2,
      fc
        .tuple(readyFrom, fc.constantFrom(...GRANTED), stream, tail(200))
        .map(([from, channel, s, rest]) => ({
          label: `${from} sends ungranted channel ${channel}`,
          from,
          build: () => bytesOf(header(channel, s), rest),
          expect: [code('NOT_GRANTED')],
        })),
    );
    // Over the channel's size limit.
    const oversize: [Sender, number][] = [];
    for (const from of ready) {
      for (let ch = 1; ch <= 10; ch++) if (mayRoleSend(ch, from)) oversize.push([from, ch]);
    }
    add(
      2,
      fc
        .tuple(fc.constantFrom(...oversize), stream, fc.nat(6000), fc.nat(255))
        .map(([[from, channel], s, extra, seed]) => {
          const limit = SMALL.has(channel) ? LIMITS.control : LIMITS.frame;
          const length = limit + 1 + (extra % (SMALL.has(channel) ? 2000 : 1900));
          return {
            label: `${length} bytes on channel ${channel} from ${from}`,
            from,
            build: () => padded(header(channel, s), length, seed),
            expect: [code('FRAME_TOO_LARGE')],
          };
        }),
    );
    // Not protobuf, on the channels the gateway decodes.
    const decodedFor = (from: Sender) =>
      [...DECODED].filter((ch) => mayRoleSend(ch, from)) as number[];
    const senderAndDecoded = readyFrom.chain((from) =>
      fc.tuple(fc.constant(from), fc.constantFrom(...decodedFor(from))),
    );
    add(3, fc.tuple(senderAndDecoded, stream, validPrefix, invalidProtobuf).map(undecodable));
    add(2, fc.tuple(senderAndDecoded, stream, deepGarbage).map(deeplyNested));
    add(4, refusedValidFrame(ready, techs, customers));
  }

  // Text messages: Ferry speaks binary only.
  add(
    1,
    fc.tuple(any, fc.string({ maxLength: 30 })).map(([from, s]) => ({
      label: `text message ${JSON.stringify(s)}`,
      from,
      text: true,
      build: () => new TextEncoder().encode(s),
      expect: [code('TEXT_FRAME')],
    })),
  );
  return fc.oneof(...options).map(printable);
}

/** Skippable unknown fields (field 9, any valid wire type) to put before the invalid part. */
const validPrefix = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }).map((n) => [0x48, ...varint(n)]),
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => [0x4d, ...b]),
      fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => [0x49, ...b]),
      fc.uint8Array({ maxLength: 20 }).map((b) => [0x4a, ...varint(b.length), ...b]),
    ),
    { maxLength: 4 },
  )
  .map((fields) => fields.flat());

/** Byte sequences no protobuf decoder accepts (they end the frame). */
const invalidProtobuf = fc.oneof(
  // wire types 6 and 7 do not exist
  fc
    .tuple(fc.integer({ min: 1, max: 15 }), fc.constantFrom(6, 7))
    .map(([field, wt]) => ({ what: 'wire type 6/7', bytes: [(field << 3) | wt] })),
  // field number 0
  fc
    .integer({ min: 0, max: 5 })
    .filter((wt) => wt !== 4)
    .map((wt) => ({ what: 'field number 0', bytes: [wt, 0, 0, 0, 0, 0, 0, 0, 0] })),
  // length-delimited field longer than what is left
  fc
    .tuple(fc.constantFrom(0x4a, 0x52, 0x62, 0x6a), fc.integer({ min: 1, max: 2000 }), tail(8))
    .map(([tag, over, rest]) => ({
      what: 'length past the end',
      bytes: [tag, ...varint(rest.length + over), ...rest],
    })),
  // varint cut off at the end of the frame
  fc
    .integer({ min: 1, max: 9 })
    .map((n) => ({ what: 'truncated varint', bytes: [0x48, ...Array(n).fill(0x80)] })),
  // fixed64 cut off
  fc
    .integer({ min: 0, max: 7 })
    .map((n) => ({ what: 'truncated fixed64', bytes: [0x49, ...Array(n).fill(1)] })),
  // an end-group tag with no group open
  fc.constant({ what: 'stray end group', bytes: [0x4c] as number[] }),
);

function undecodable([[from, channel], s, prefix, bad]: [
  [Sender, number],
  number,
  number[],
  { what: string; bytes: number[] },
]): Hostile {
  return {
    label: `${from}: ${bad.what} on channel ${channel}`,
    from,
    build: () => bytesOf(header(channel, s), prefix, bad.bytes),
    expect: [code('FRAME_DECODE')],
  };
}

/**
 * Deep nesting: groups of unknown field 9 (one tag byte each), open only or balanced, at the
 * frame's top level or inside a CONTROL, CHAT or HEARTBEAT body; past protobufjs's recursion
 * limit (100) decoding fails, below it the frame lacks its body. Either way FRAME_DECODE.
 */
const deepGarbage = fc.record({
  depth: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 90, max: 450 })),
  balanced: fc.boolean(),
  inside: fc.constantFrom(0, 0x52, 0x62, 0x6a),
});

function deeplyNested([[from, channel], s, g]: [
  [Sender, number],
  number,
  { depth: number; balanced: boolean; inside: number },
]): Hostile {
  const groups = [...Array(g.depth).fill(0x4b), ...(g.balanced ? Array(g.depth).fill(0x4c) : [])];
  const body = g.inside === 0 ? groups : [g.inside, ...varint(groups.length), ...groups];
  return {
    label: `${from}: ${g.balanced ? 'balanced' : 'open'} groups ${g.depth} deep in ${g.inside || 'frame'} on channel ${channel}`,
    from,
    build: () => bytesOf(header(channel, s), body),
    expect: [code('FRAME_DECODE')],
  };
}

/** Valid protobuf that the sender's role or its session's status does not allow. */
function refusedValidFrame(
  ready: readonly Sender[],
  techs: readonly Sender[],
  customers: readonly Sender[],
): fc.Arbitrary<Hostile> {
  const has = (s: Sender) => ready.includes(s);
  const cases: fc.Arbitrary<Hostile>[] = [];
  const readyFrom = fc.constantFrom(...ready);
  const screen = fc.record({
    frameSeq: fc.nat(),
    keyFrame: fc.boolean(),
    data: fc.uint8Array({ maxLength: 100 }),
  });
  const input = fc.record({ seq: fc.nat(), move: fc.record({ x: fc.integer(), y: fc.integer() }) });

  if (has('customerW')) {
    cases.push(
      fc.tuple(stream, screen).map(([s, sc]) => ({
        label: 'SCREEN while Waiting',
        from: 'customerW' as const,
        build: () => encode({ channel: Channel.CHANNEL_SCREEN, stream: s, screen: sc }),
        expect: [code('WRONG_STATE')],
      })),
    );
  }
  const idle = techs.filter((t) => t !== 'techA');
  if (idle.length > 0) {
    cases.push(
      fc.tuple(fc.constantFrom(...idle), input).map(([from, i]) => ({
        label: `INPUT from ${from} (no active session)`,
        from,
        build: () => encode({ channel: Channel.CHANNEL_INPUT, input: i }),
        expect: codes('WRONG_STATE', 'NOT_IN_SESSION', 'NOT_CONTROLLER'),
      })),
      fc.tuple(fc.constantFrom(...idle), text, fc.constantFrom(3, 4)).map(([from, t, channel]) => ({
        label: `chat on ${channel} from ${from} (no session picked up)`,
        from,
        build: () => encode({ channel, chat: { text: t } }),
        expect: codes('NOT_IN_SESSION', 'WRONG_STATE'),
      })),
    );
  }
  if (has('techIdle')) {
    cases.push(
      requestId.map((rid) => ({
        label: 'key frame request without a session',
        from: 'techIdle' as const,
        build: () => controlFrame(rid, { keyFrameRequest: { reason: 'x' } }),
        expect: [code('NOT_IN_SESSION')],
        requestId: rid,
      })),
    );
  }
  if (has('customerA')) {
    cases.push(
      text.map((t) => ({
        label: 'customer chats to technicians only on CHAT',
        from: 'customerA' as const,
        build: () =>
          encode({
            channel: Channel.CHANNEL_CHAT,
            chat: { text: t, audience: ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY },
          }),
        expect: [code('WRONG_ROLE')],
      })),
    );
  }
  if (customers.length > 0) {
    cases.push(
      fc
        .tuple(
          fc.constantFrom(...customers),
          requestId,
          fc.constantFrom<Omit<ferry.v1.Control.$Properties, 'requestId'>>(
            { createSession: { customerName: 'me' } },
            { pickUp: { sessionId: 'x' } },
            { keyFrameRequest: {} },
            { networkStatsRequest: {} },
            { setAvatar: { image: new Uint8Array([0xff, 0xd8, 0xff, 0]), mimeType: 'image/jpeg' } },
            { summaryRequest: {} },
            { addNote: { text: 'x' } },
          ),
        )
        .map(([from, rid, op]) => ({
          label: `${from} sends technician operation ${Object.keys(op)[0]}`,
          from,
          build: () => controlFrame(rid, op),
          expect: [code('WRONG_ROLE')],
          requestId: rid,
        })),
    );
  }
  if (techs.length > 0) {
    cases.push(
      fc.tuple(fc.constantFrom(...techs), requestId).map(([from, rid]) => ({
        label: `${from} asks for session B's statistics`,
        from,
        build: (ctx: HostileContext) =>
          controlFrame(rid, { networkStatsRequest: { sessionId: ctx.sessionB } }),
        expect: [code('NOT_IN_SESSION')],
        requestId: rid,
      })),
    );
  }
  if (has('techA')) {
    cases.push(
      fc
        .tuple(
          requestId,
          fc.oneof(
            fc.constant({ which: 'A' as const, codes: codes('INVALID_TRANSITION', 'WRONG_STATE') }),
            fc.constant({
              which: 'B' as const,
              codes: codes('NOT_IN_SESSION', 'NOT_OWNER', 'INVALID_TRANSITION'),
            }),
            unknownId.map((id) => ({ which: id, codes: codes('SESSION_NOT_FOUND') })),
          ),
        )
        .map(([rid, target]) => ({
          label: `techA picks up ${target.which}`,
          from: 'techA' as const,
          build: (ctx: HostileContext) =>
            controlFrame(rid, {
              pickUp: {
                sessionId:
                  target.which === 'A'
                    ? ctx.sessionA
                    : target.which === 'B'
                      ? ctx.sessionB
                      : target.which,
              },
            }),
          expect: target.codes,
          requestId: rid,
        })),
    );
  }
  cases.push(
    fc
      .tuple(
        fc.constantFrom(...ready),
        requestId,
        fc.oneof(fc.constant(null), unknownId),
        fc.string({ maxLength: 20 }),
      )
      .map(([from, rid, id, reason]) => ({
        label: `${from} closes ${id ?? 'session B'}`,
        from,
        build: (ctx: HostileContext) =>
          controlFrame(rid, { closeSession: { sessionId: id ?? ctx.sessionB, reason } }),
        expect: id === null ? codes('NOT_IN_SESSION', 'NOT_OWNER') : codes('SESSION_NOT_FOUND'),
        requestId: rid,
      })),
    fc.tuple(readyFrom, requestId, fc.string({ maxLength: 20 })).map(([from, rid, token]) => ({
      label: `${from} says Hello again`,
      from,
      build: () => controlFrame(rid, { hello: { role: Role.ROLE_TECHNICIAN, token } }),
      expect: [code('HELLO_DUPLICATE')],
      requestId: rid,
    })),
    fc
      .tuple(
        readyFrom,
        requestId,
        fc.constantFrom<Omit<ferry.v1.Control.$Properties, 'requestId'>>(
          { welcome: { participantId: 'p' } },
          { sessionCreated: { sessionId: 's', pin: '1' } },
        ),
      )
      .map(([from, rid, op]) => ({
        label: `${from} sends gateway-only operation ${Object.keys(op)[0]}`,
        from,
        build: () => controlFrame(rid, op),
        expect: [code('UNSUPPORTED_OPERATION')],
        requestId: rid,
      })),
    fc.tuple(readyFrom, requestId).map(([from, rid]) => ({
      label: `${from} sends a Control with no operation`,
      from,
      build: () => controlFrame(rid, {}),
      expect: [code('FRAME_DECODE')],
      requestId: rid,
    })),
    fc
      .tuple(
        readyFrom,
        fc.constantFrom<ferry.v1.Frame.$Properties>(
          { channel: Channel.CHANNEL_CONTROL },
          { channel: Channel.CHANNEL_CONTROL, chat: { text: 'x' } },
          { channel: Channel.CHANNEL_HEARTBEAT },
          { channel: Channel.CHANNEL_HEARTBEAT, heartbeat: { ping: { seq: 1 } } },
          { channel: Channel.CHANNEL_CHAT },
          { channel: Channel.CHANNEL_CHAT, chat: { text: '' } },
          { channel: Channel.CHANNEL_CHAT, control: { createSession: {} } },
        ),
      )
      .map(([from, frame]) => ({
        label: `${from} sends ${JSON.stringify(frame)} (body missing or wrong)`,
        from,
        build: () => encode(frame),
        expect: [code('FRAME_DECODE')],
      })),
  );
  return fc.oneof(...cases);
}

// --- frames of unknown validity ---------------------------------------------------------------

/** Valid frames of every kind, from their legitimate sender. */
function validFrame(senders: readonly Sender[]): fc.Arbitrary<[Sender, Uint8Array]> {
  const techs = pick(senders, TECHS);
  const customers = pick(senders, CUSTOMERS);
  const arbs: fc.Arbitrary<[Sender, Uint8Array]>[] = [];
  const from = fc.constantFrom(...senders.filter((s) => s !== 'fresh'));
  if (customers.length > 0) {
    arbs.push(
      fc
        .tuple(fc.constantFrom(...customers), stream, fc.uint8Array({ maxLength: 300 }), fc.nat())
        .map(([s, m, data, seq]) => [
          s,
          encode({
            channel: Channel.CHANNEL_SCREEN,
            stream: m,
            screen: { frameSeq: seq, width: 64, height: 64, data, lastTile: true },
          }),
        ]),
    );
  }
  if (techs.length > 0) {
    arbs.push(
      fc
        .tuple(fc.constantFrom(...techs), fc.nat(), fc.string({ maxLength: 30 }))
        .map(([s, seq, t]) => [
          s,
          encode({ channel: Channel.CHANNEL_INPUT, input: { seq, text: { text: t } } }),
        ]),
      fc
        .tuple(fc.constantFrom(...techs), requestId, fc.string({ maxLength: 30 }))
        .map(([s, rid, name]) => [s, controlFrame(rid, { createSession: { customerName: name } })]),
    );
  }
  if (senders.some((s) => s !== 'fresh')) {
    arbs.push(
      fc
        .tuple(from, text)
        .map(([s, t]) => [s, encode({ channel: Channel.CHANNEL_CHAT, chat: { text: t } })]),
      fc
        .tuple(from, fc.nat())
        .map(([s, seq]) => [
          s,
          encode({ channel: Channel.CHANNEL_HEARTBEAT, heartbeat: { pong: { seq } } }),
        ]),
    );
  }
  return fc.oneof(...arbs);
}

/**
 * Frames whose validity is not known in advance: random bytes, random bodies behind a valid
 * header, and valid frames cut short. Where the docs/architecture.md table decides the outcome anyway
 * (peek failures, channel before Hello, wrong role, ungranted channel) the code is expected.
 */
export function fuzzFrame(senders: readonly Sender[]): fc.Arbitrary<Hostile> {
  const any = fc.constantFrom(...senders);
  const knownOutcome = (from: Sender, bytes: Uint8Array): string[] | null => {
    const { status, channel } = readHeader(bytes);
    if (status === HeaderStatus.EMPTY) return [code('FRAME_EMPTY')];
    if (status === HeaderStatus.NO_CHANNEL) return [code('FRAME_NO_CHANNEL')];
    if (status === HeaderStatus.TRUNCATED) return [code('FRAME_TRUNCATED')];
    if (status === HeaderStatus.UNKNOWN) return [code('UNKNOWN_CHANNEL')];
    const limit = SMALL.has(channel) ? LIMITS.control : LIMITS.frame;
    if (from === 'fresh') {
      if (channel !== Channel.CHANNEL_CONTROL) return [code('HELLO_REQUIRED')];
      // no random body is a good Hello: some refusal, whichever
      return bytes.length > LIMITS.control ? [code('FRAME_TOO_LARGE')] : [];
    }
    if (!mayRoleSend(channel, from)) return [code('WRONG_ROLE')];
    if (bytes.length > limit) return [code('FRAME_TOO_LARGE')];
    if (GRANTED.has(channel)) return [code('NOT_GRANTED')];
    return null;
  };
  return fc
    .oneof(
      fc.tuple(any, fc.uint8Array({ maxLength: 300 })).map(([from, bytes]) => ({
        label: 'random bytes',
        from,
        build: () => bytes,
        expect: knownOutcome(from, bytes),
      })),
      fc
        .tuple(any, fc.integer({ min: 1, max: 10 }), stream, fc.uint8Array({ maxLength: 300 }))
        .map(([from, channel, s, body]) => {
          const bytes = bytesOf(header(channel, s), body);
          return {
            label: `random body on channel ${channel}`,
            from,
            build: () => bytes,
            expect: knownOutcome(from, bytes),
          };
        }),
      validFrame(senders).chain(([from, bytes]) =>
        fc.integer({ min: 0, max: bytes.length - 1 }).map((cut) => ({
          label: `valid frame cut to ${cut} of ${bytes.length} bytes`,
          from,
          build: () => bytes.subarray(0, cut),
          expect: knownOutcome(from, bytes.subarray(0, cut)),
        })),
      ),
    )
    .map(printable);
}
