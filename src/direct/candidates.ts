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
  const f = text.slice('candidate:'.length).trim().split(/\s+/);
  if (f.length < 8 || f[6] !== 'typ') return null;
  const port = Number(f[5]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  if (!/^\d+$/.test(f[1]!) || !/^\d+$/.test(f[3]!)) return null;
  const transport = f[2]!.toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp') return null;
  const address = f[4]!;
  const mdns = /^[0-9a-f-]{36}\.local$/i.test(address);
  if (!mdns && isIP(address) === 0) return null;
  return { address, port, type: f[7]! };
}

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
  readonly #ownAddresses: ReadonlySet<string>;

  constructor(options: CandidatePolicyOptions) {
    this.#policy = options.policy;
    this.#ownPorts = new Set(options.ownPorts.filter((p) => p > 0));
    this.#ownAddresses = new Set(options.ownAddresses);
    if (options.networks.length === 0) {
      this.#networks = null;
    } else {
      const list = new BlockList();
      for (const text of options.networks) {
        const cidr = parseCidr(text);
        if (cidr === null) throw new RangeError(`not a CIDR: ${text}`);
        list.addSubnet(cidr.address, cidr.prefix, cidr.type);
      }
      this.#networks = list;
    }
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
    if (this.#policy === Policy.DIRECT_POLICY_LAN && c.type !== 'host') return 'policy';
    const version = isIP(c.address);
    if (version === 0) {
      // an mDNS name (a browser hiding its address): only a host on the same link resolves it
      return this.#networks === null ? 'ok' : 'network';
    }
    const type = version === 4 ? 'ipv4' : 'ipv6';
    if (LINK_LOCAL.check(c.address, type)) return 'link-local';
    if (this.#ownPorts.has(c.port) && this.#ownAddresses.has(c.address)) return 'own-port';
    if (this.#networks !== null && !this.#networks.check(c.address, type)) return 'network';
    return 'ok';
  }

  /**
   * An SDP with every `a=candidate` line the policy refuses removed, and how many it kept; null
   * when it is not a plausible SDP for a data channel.
   */
  filterSdp(sdp: string): { sdp: string; kept: number; dropped: number } | null {
    if (sdp.length > MAX_SDP_BYTES || !sdp.startsWith('v=0')) return null;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
    if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(sdp)) return null;
    if (!/^m=application /m.test(sdp)) return null;
    const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
    let kept = 0;
    let dropped = 0;
    const lines = sdp.split(/\r?\n/).filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      if (this.judge(line) === 'ok') {
        kept++;
        return true;
      }
      dropped++;
      return false;
    });
    return { sdp: lines.join(eol), kept, dropped };
  }
}
