/**
 * The Node reference clients' WebRTC: werift (pure TypeScript, nothing downloaded at install),
 * loaded only when a client turns the direct path on. `networks` limits the addresses this end
 * uses: only its candidates inside them are offered, and werift checks only pairs whose both
 * ends lie inside them, so no probe leaves for an address the operator did not allow (with
 * 127.0.0.0/8, everything stays on loopback).
 */
import { BlockList, isIP } from 'node:net';
import { parseCandidate, parseCidr } from '../direct/candidates.js';
import type { ferry } from '../protocol/gen/ferry.js';
import type { PeerConnectionLike } from './direct-link.js';

export interface DirectClientOptions {
  /** CIDRs this end's candidates must lie in; empty = every address of the machine. */
  readonly networks?: readonly string[];
}

type Werift = typeof import('werift');
let loading: Promise<Werift> | null = null;

/** werift, loaded once. */
export function loadWerift(): Promise<Werift> {
  loading ??= import('werift');
  return loading;
}

function blockList(networks: readonly string[]): BlockList | null {
  if (networks.length === 0) return null;
  const list = new BlockList();
  for (const text of networks) {
    const cidr = parseCidr(text);
    if (cidr === null) throw new RangeError(`not a CIDR: ${text}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.type);
  }
  return list;
}

const inside = (list: BlockList, address: string): boolean => {
  const v = isIP(address);
  return v !== 0 && list.check(address, v === 4 ? 'ipv4' : 'ipv6');
};

/** What the client's DirectLink needs from werift: a peer factory and the candidate filter. */
export interface WeriftPeers {
  create(open: ferry.v1.IDirectOpen): PeerConnectionLike;
  keepsCandidate(line: string): boolean;
}

export async function weriftPeers(options: DirectClientOptions = {}): Promise<WeriftPeers> {
  const { RTCPeerConnection } = await loadWerift();
  const networks = options.networks ?? [];
  const list = blockList(networks);
  const loopback = networks.some((n) => n.startsWith('127.'));
  return {
    create(open) {
      const iceServers = (open.iceServers ?? []).map((urls) => ({ urls }));
      const pc = new RTCPeerConnection({
        iceServers,
        iceUseIpv6: list === null || networks.some((n) => n.includes(':')),
        ...(loopback ? { iceAdditionalHostAddresses: ['127.0.0.1'] } : {}),
        ...(list !== null
          ? {
              iceFilterCandidatePair: (pair: {
                localCandidate: { host: string };
                remoteCandidate: { host: string };
              }) =>
                inside(list, pair.localCandidate.host) && inside(list, pair.remoteCandidate.host),
            }
          : {}),
      });
      return pc as unknown as PeerConnectionLike;
    },
    keepsCandidate(line) {
      if (list === null) return false;
      const c = parseCandidate(line);
      return c === null || !inside(list, c.address);
    },
  };
}
