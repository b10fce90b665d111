/**
 * The client address behind a reverse proxy: `--trusted-proxies` lists the proxies (CIDRs) whose
 * X-Forwarded-For is believed. From any other peer the header is ignored, so nobody can choose
 * the address the reports, the session log and the per-address limits see.
 */
import net from 'node:net';
import { quote } from '../config/quote.js';

export class TrustedProxies {
  readonly #list = new net.BlockList();
  readonly size: number;

  /** `spec`: CIDRs or single addresses separated by commas (or ;); throws RangeError on a bad entry. */
  constructor(spec: string) {
    const entries = spec
      .split(/[,;\s]+/)
      .map((e) => e.trim())
      .filter((e) => e !== '');
    for (const entry of entries) {
      const [address = '', bits] = entry.split('/');
      const family = net.isIP(address);
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : /^\d+$/.test(bits) ? Number(bits) : -1;
      if (family === 0 || prefix < 0 || prefix > max) {
        throw new RangeError(`trustedProxies: ${quote(entry)} is not an address or CIDR`);
      }
      this.#list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    this.size = entries.length;
  }

  trusts(address: string): boolean {
    const family = net.isIP(address);
    if (family === 0) return false;
    return this.#list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client address of a request from `peer` with the X-Forwarded-For value `forwarded`:
   * `peer` unless it is a trusted proxy; otherwise the right-most address of the header that is
   * not itself a trusted proxy (each proxy appends the address it got the request from). An
   * entry that is not an address ends the walk at the last good one.
   */
  clientAddress(peer: string, forwarded: string): string {
    if (this.size === 0 || forwarded === '' || !this.trusts(peer)) return peer;
    const hops = forwarded.split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = stripPort(hops[i]!.trim());
      if (net.isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }
}

/** `[2001:db8::1]:443` or `192.0.2.1:443` (some proxies add the port) -> the address. */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) return hop.slice(1, hop.indexOf(']'));
  const colon = hop.indexOf(':');
  if (colon > 0 && colon === hop.lastIndexOf(':')) return hop.slice(0, colon);
  return hop;
}
