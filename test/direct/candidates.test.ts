/**
 * The gateway's candidate policy (src/direct/candidates.ts): what `--p2p` and `--p2p-networks`
 * let through, what is never let through, and the SDP filter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CandidatePolicy, parseCandidate, parseCidr } from '../../src/direct/candidates.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

const P = ferry.v1.DirectPolicy;
const line = (address: string, port = 5000, type = 'host') =>
  `candidate:842163049 1 udp 1677729535 ${address} ${port} typ ${type} raddr 0.0.0.0 rport 0`;

const policy = (p: ferry.v1.DirectPolicy, networks: string[] = []) =>
  new CandidatePolicy({
    policy: p,
    networks,
    ownPorts: [8080, 9090],
    ownAddresses: ['127.0.0.1', '192.0.2.10'],
  });

test('parseCidr takes IPv4 and IPv6 CIDRs and refuses the rest', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, type: 'ipv4' });
  assert.deepEqual(parseCidr('fd00::/8'), { address: 'fd00::', prefix: 8, type: 'ipv6' });
  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'host/8', '/8', '10.0.0.0/x']) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

test('parseCandidate reads RFC 8839 candidate lines, with or without a=, and mDNS host names', () => {
  assert.deepEqual(parseCandidate(line('198.51.100.7', 61000, 'srflx')), {
    address: '198.51.100.7',
    port: 61000,
    type: 'srflx',
  });
  assert.deepEqual(parseCandidate(`a=${line('::1', 7)}`), {
    address: '::1',
    port: 7,
    type: 'host',
  });
  const mdns =
    'candidate:1 1 udp 2122260223 0b3e4a52-6d11-4d1e-9f0a-2c5b1b7e4f10.local 54321 typ host';
  assert.equal(parseCandidate(mdns)?.type, 'host');
  for (const bad of [
    'candidate:1 1 udp 1 10.0.0.1 5000 host',
    'candidate:1 1 sctp 1 10.0.0.1 5000 typ host',
    'candidate:1 1 udp 1 not-an-address 5000 typ host',
    'candidate:1 1 udp 1 10.0.0.1 70000 typ host',
    'candidate:x y udp 1 10.0.0.1 5000 typ host',
    `candidate:1 1 udp 1 10.0.0.1 5000 typ host ${'x'.repeat(600)}`,
    'a=fingerprint:sha-256 00',
  ]) {
    assert.equal(parseCandidate(bad), null, bad);
  }
});

test('policy: off passes nothing, lan host candidates only, any host and server-reflexive; relay never', () => {
  assert.equal(policy(P.DIRECT_POLICY_OFF).judge(line('10.0.0.5')), 'policy');
  const lan = policy(P.DIRECT_POLICY_LAN);
  assert.equal(lan.judge(line('10.0.0.5')), 'ok');
  assert.equal(lan.judge(line('198.51.100.7', 5000, 'srflx')), 'policy');
  const any = policy(P.DIRECT_POLICY_ANY);
  assert.equal(any.judge(line('198.51.100.7', 5000, 'srflx')), 'ok');
  assert.equal(any.judge(line('198.51.100.7', 5000, 'prflx')), 'ok');
  assert.equal(any.judge(line('198.51.100.7', 5000, 'relay')), 'policy');
});

test("never passed on: link-local (metadata services), multicast, unspecified, and the gateway's own ports on its own addresses", () => {
  const any = policy(P.DIRECT_POLICY_ANY);
  assert.equal(any.judge(line('169.254.169.254', 80)), 'link-local');
  assert.equal(any.judge(line('fe80::1', 80)), 'link-local');
  assert.equal(any.judge(line('224.0.0.251', 5353)), 'link-local');
  assert.equal(any.judge(line('0.0.0.0', 5000)), 'link-local');
  assert.equal(any.judge(line('192.0.2.10', 9090)), 'own-port');
  assert.equal(any.judge(line('127.0.0.1', 8080)), 'own-port');
  assert.equal(any.judge(line('192.0.2.10', 9091)), 'ok', 'another port of the gateway host');
  assert.equal(any.judge(line('192.0.2.11', 9090)), 'ok', 'the same port on another host');
  any.setOwnPorts([9091]);
  assert.equal(any.judge(line('192.0.2.10', 9091)), 'own-port', 'ports learned once bound');
  assert.equal(any.judge('candidate:oops'), 'malformed');
});

test('--p2p-networks: only candidates inside the CIDRs; mDNS names cannot be checked and are refused', () => {
  const lan = policy(P.DIRECT_POLICY_ANY, ['10.0.0.0/8', 'fd00::/8']);
  assert.equal(lan.judge(line('10.20.30.40')), 'ok');
  assert.equal(lan.judge(line('fd12::1')), 'ok');
  assert.equal(lan.judge(line('192.168.1.5')), 'network');
  const mdns =
    'candidate:1 1 udp 2122260223 0b3e4a52-6d11-4d1e-9f0a-2c5b1b7e4f10.local 54321 typ host';
  assert.equal(lan.judge(mdns), 'network');
  assert.equal(policy(P.DIRECT_POLICY_ANY).judge(mdns), 'ok');
  assert.throws(() => policy(P.DIRECT_POLICY_ANY, ['nonsense']), RangeError);
});

test('filterSdp drops the a=candidate lines the policy refuses, keeps the rest, and refuses what is not a data-channel SDP', () => {
  const any = policy(P.DIRECT_POLICY_ANY, ['127.0.0.0/8']);
  const sdp = [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    `a=${line('127.0.0.1', 50000)}`,
    `a=${line('10.0.0.7', 50001)}`,
    `a=${line('169.254.1.1', 50002)}`,
    'a=sctp-port:5000',
    '',
  ].join('\r\n');
  const out = any.filterSdp(sdp);
  assert.ok(out);
  assert.equal(out.kept, 1);
  assert.equal(out.dropped, 2);
  assert.match(out.sdp, /127\.0\.0\.1 50000/);
  assert.doesNotMatch(out.sdp, /10\.0\.0\.7|169\.254/);
  assert.match(out.sdp, /a=sctp-port:5000\r\n$/);
  assert.equal(any.filterSdp('hello'), null);
  assert.equal(any.filterSdp('v=0\r\nm=audio 9 RTP/AVP 0\r\n'), null);
  assert.equal(any.filterSdp(`v=0\r\nm=application 9 x\r\n${'a'.repeat(17_000)}`), null);
  assert.equal(any.filterSdp('v=0\r\nm=application 9 x\r\na=x\u0000y\r\n'), null);
});

test('a candidate line must be printable ASCII in single spaces, of a known type: another stack must read the same address', () => {
  const any = policy(P.DIRECT_POLICY_ANY, ['10.0.0.0/8']);
  // a stack splitting on ' ' alone would read 169.254.169.254:80 out of this one
  const tabbed = 'candidate:F 1 udp\t1\t10.0.0.9\t9\ttyp\thost 1 169.254.169.254 80 typ host';
  assert.equal(any.judge(tabbed), 'malformed');
  assert.equal(any.judge('candidate:1 1 udp 1  10.0.0.9 9 typ host'), 'malformed', 'two spaces');
  assert.equal(any.judge('candidate:1 1 udp 1 10.0.0.9 9 typ weird'), 'malformed');
  assert.equal(any.judge(line('10.0.0.9')), 'ok');
});

test('without --p2p-networks: never loopback, and --p2p lan passes private ranges only; addresses are compared as addresses', () => {
  const any = policy(P.DIRECT_POLICY_ANY);
  assert.equal(
    any.judge(line('127.0.0.1', 6379)),
    'network',
    "the customer's own loopback services",
  );
  assert.equal(any.judge(line('::1', 6379)), 'network');
  assert.equal(any.judge(line('::ffff:192.0.2.10', 9090)), 'own-port', 'IPv4-mapped');
  const lan = policy(P.DIRECT_POLICY_LAN);
  assert.equal(lan.judge(line('192.168.1.20')), 'ok');
  assert.equal(lan.judge(line('100.64.1.2')), 'ok');
  assert.equal(lan.judge(line('fd12::5')), 'ok');
  assert.equal(lan.judge(line('8.8.8.8')), 'network', 'a public address declared as host');
  // an operator list decides alone: the tests' loopback paths
  assert.equal(policy(P.DIRECT_POLICY_ANY, ['127.0.0.0/8']).judge(line('127.0.0.1', 6000)), 'ok');
});

test('filterSdp keeps the first candidates up to a limit and cuts the rest; non-ASCII is refused', () => {
  const any = policy(P.DIRECT_POLICY_ANY, ['10.0.0.0/8']);
  const candidates = Array.from({ length: 5 }, (_, i) => `a=${line('10.0.0.1', 5000 + i)}`);
  const sdp = ['v=0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', ...candidates, ''].join(
    '\r\n',
  );
  const out = any.filterSdp(sdp, 3);
  assert.ok(out);
  assert.deepEqual([out.kept, out.overLimit, out.dropped], [3, 2, 0]);
  assert.match(out.sdp, /5002 typ host/);
  assert.doesNotMatch(out.sdp, /5003 typ host/);
  assert.equal(any.filterSdp('v=0\r\nm=application 9 x\r\na=\u00e9\r\n'), null);
});
