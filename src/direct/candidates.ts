/**
 * What the gateway lets through of a direct path's signalling (docs/direct-path.md): the ICE
 * candidates its policy allows (`--p2p`, `--p2p-networks`), never one at a link-local address
 * (cloud metadata services live there) or at one of the gateway's own ports, and SDP that is
 * plausibly an SDP. The ends only ever learn the candidates passed here, so an end cannot be
 * made to probe an address the operator did not allow.
 */
import { BlockList, isIP } from 'node:net';
import { ferry } from '../protocol/gen/ferry.js';

const Policy = ferry.v1.DirectPolicy;

/** The longest SDP the gateway forwards; a data-channel-only SDP is about 1 KiB. */
export const MAX_SDP_BYTES = 16 * 1024;
/** The longest candidate line it forwards. */
export const MAX_CANDIDATE_BYTES = 512;

/** `10.0.0.0/8` or `fd00::/8` as a BlockList entry's parts, or null when it is not a CIDR. */
export function parseCidr(
  text: string,
): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | null {
  const slash = text.indexOf('/');
  if (slash <= 0) return null;
  const address = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  const version = isIP(address);
  if (version === 0 || !/^\d{1,3}$/.test(bits)) return null;
  const prefix = Number(bits);
  if (prefix > (version === 4 ? 32 : 128)) return null;
  return { address, prefix, type: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A parsed `candidate:` line: the parts the policy reads. */
export interface CandidateLine {
  readonly address: string;
  readonly port: number;
  /** host, srflx, prflx or relay */
  readonly type: string;
}

/** RFC 8839 section 5.1: `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...`. */
export function parseCandidate(line: string): CandidateLine | null {
  const text = line.startsWith('a=') ? line.slice(2) : line;
  if (!text.startsWith('candidate:') || text.length > MAX_CANDIDATE_BYTES) return null;
  // printable ASCII separated by single spaces: every WebRTC stack splits the line the same way
  // (one that splits on ' ' alone must not read another address than this parser did)
  if (!/^candidate:[\x21-\x7e]+(?: [\x21-\x7e]+)+$/.test(text)) return null;
  const f = text.slice('candidate:'.length).split(' ');
  if (f.length < 8 || f[6] !== 'typ') return null;
  if (!/^\d{1,5}$/.test(f[5]!)) return null;
  const port = Number(f[5]);
  if (port > 65535) return null;
  if (!/^\d+$/.test(f[1]!) || !/^\d+$/.test(f[3]!)) return null;
  const transport = f[2]!.toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp') return null;
  const address = normalAddress(f[4]!);
  const mdns = /^[0-9a-f-]{36}\.local$/i.test(address);
  if (!mdns && isIP(address) === 0) return null;
  const type = f[7]!;
  if (type !== 'host' && type !== 'srflx' && type !== 'prflx' && type !== 'relay') return null;
  return { address, port, type };
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it is. */
function normalAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  return mapped !== undefined && isIP(mapped) === 4 ? mapped : address;
}

const blockListOf = (cidrs: readonly string[]): BlockList => {
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (cidr === null) throw new RangeError(`not a CIDR: ${text}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.type);
  }
  return list;
};

/** `--p2p lan` without `--p2p-networks`: the private ranges (RFC 1918, RFC 6598, RFC 4193). */
const PRIVATE = blockListOf([
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  'fc00::/7',
]);
/** The machine itself: only an operator's `--p2p-networks` naming it lets it through. */
const LOOPBACK = blockListOf(['127.0.0.0/8', '::1/128']);

export interface CandidatePolicyOptions {
  readonly policy: ferry.v1.DirectPolicy;
  /** `--p2p-networks` as CIDRs; empty = any address. */
  readonly networks: readonly string[];
  /** The gateway's own ports (client, admin, STUN): a candidate naming one of them is dropped. */
  readonly ownPorts: readonly number[];
  /** The gateway's own addresses (its interfaces): with an own port, a candidate is dropped. */
  readonly ownAddresses: readonly string[];
}

const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
LINK_LOCAL.addSubnet('0.0.0.0', 8, 'ipv4');
LINK_LOCAL.addSubnet('224.0.0.0', 4, 'ipv4');
LINK_LOCAL.addSubnet('ff00::', 8, 'ipv6');

/** Why a candidate was not passed on, for the counters and the debug log. */
export type CandidateVerdict =
  | 'ok'
  | 'malformed'
  | 'policy'
  | 'network'
  | 'link-local'
  | 'own-port';

export class CandidatePolicy {
  readonly #policy: ferry.v1.DirectPolicy;
  readonly #networks: BlockList | null;
  #ownPorts: ReadonlySet<number>;
  readonly #ownAddresses: BlockList;

  constructor(options: CandidatePolicyOptions) {
    this.#policy = options.policy;
    this.#ownPorts = new Set(options.ownPorts.filter((p) => p > 0));
    this.#ownAddresses = new BlockList();
    for (const raw of options.ownAddresses) {
      const address = normalAddress(raw.split('%', 1)[0] ?? '');
      const v = isIP(address);
      if (v !== 0) this.#ownAddresses.addAddress(address, v === 4 ? 'ipv4' : 'ipv6');
    }
    this.#networks = options.networks.length === 0 ? null : blockListOf(options.networks);
  }

  /** The gateway's ports once bound (a configured 0 is known only then). */
  setOwnPorts(ports: readonly number[]): void {
    this.#ownPorts = new Set(ports.filter((p) => p > 0));
  }

  get policy(): ferry.v1.DirectPolicy {
    return this.#policy;
  }

  /** The verdict on one `candidate:` line. */
  judge(line: string): CandidateVerdict {
    const c = parseCandidate(line);
    if (c === null) return 'malformed';
    if (this.#policy === Policy.DIRECT_POLICY_OFF) return 'policy';
    // No TURN: relay candidates never; LAN: the ends' own host addresses only.
    if (c.type === 'relay') return 'policy';
    const lan = this.#policy === Policy.DIRECT_POLICY_LAN;
    if (lan && c.type !== 'host') return 'policy';
    const version = isIP(c.address);
    if (version === 0) {
      // an mDNS name (a browser hiding its address): only a host on the same link resolves it
      return this.#networks === null ? 'ok' : 'network';
    }
    const type = version === 4 ? 'ipv4' : 'ipv6';
    if (LINK_LOCAL.check(c.address, type)) return 'link-local';
    if (this.#ownPorts.has(c.port) && this.#ownAddresses.check(c.address, type)) return 'own-port';
    if (this.#networks !== null) return this.#networks.check(c.address, type) ? 'ok' : 'network';
    // no operator list: never the machine itself, and on a LAN policy the private ranges only
    if (LOOPBACK.check(c.address, type)) return 'network';
    if (lan && !PRIVATE.check(c.address, type)) return 'network';
    return 'ok';
  }

  /**
   * An SDP with every `a=candidate` line the policy refuses removed, and past `limit` the rest
   * too, and how many it kept; null when it is not a plausible SDP for a data channel.
   */
  filterSdp(
    sdp: string,
    limit = Number.POSITIVE_INFINITY,
  ): { sdp: string; kept: number; dropped: number; overLimit: number } | null {
    if (sdp.length > MAX_SDP_BYTES || !sdp.startsWith('v=0')) return null;
    // printable ASCII lines only (so its length is its size in bytes, and no control character)
    if (/[^\t\r\n\x20-\x7e]/.test(sdp)) return null;
    if (!/^m=application /m.test(sdp)) return null;
    const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
    let kept = 0;
    let dropped = 0;
    let overLimit = 0;
    const lines = sdp.split(/\r?\n/).filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      if (this.judge(line) !== 'ok') {
        dropped++;
        return false;
      }
      if (kept >= limit) {
        overLimit++;
        return false;
      }
      kept++;
      return true;
    });
    return { sdp: lines.join(eol), kept, dropped, overLimit };
  }
}
