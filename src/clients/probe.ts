/**
 * Relay choice, the client's part: given the URLs of several gateways of a deployment, measure
 * the RTT to each with the heartbeat (three Pings before any Hello, answered at once by the
 * gateway with its id and load) and pick the fastest, fewer sessions breaking near-ties. The
 * technician connects to its pick and sends its measurements with CreateSession; the customer
 * sends its own in its Hello, and the gateway places the session where the worse of the two legs
 * is fastest (docs/operations.md, "Relay choice").
 */
import WebSocket from 'ws';
import { encodeFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { type ClientTls, tlsConnectOptions } from './tls.js';

/** Probes per gateway (the median is its RTT). */
export const PROBE_SAMPLES = 3;
/** A gateway that does not answer a probe within this is left out. */
const PROBE_TIMEOUT_MS = 3000;
/** RTTs this close (ms, or 10%) count as a tie, which the lighter-loaded gateway wins. */
const TIE_MS = 1;

export interface Measurement {
  readonly url: string;
  readonly gatewayId: string;
  /** Median of the samples, ms. */
  readonly rttMs: number;
  readonly samplesMs: readonly number[];
  /** Live sessions of the gateway, as it answered. */
  readonly sessions: number;
}

/** Measures one gateway: PROBE_SAMPLES Pings in a row on one connection, then closes it. */
export function measure(url: string, tls?: ClientTls): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...tlsConnectOptions(tls) });
    ws.binaryType = 'nodebuffer';
    const samples: number[] = [];
    let sentAt = 0;
    let gatewayId = '';
    let sessions = 0;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${url}: no probe answer within ${PROBE_TIMEOUT_MS} ms`));
    }, PROBE_TIMEOUT_MS);
    const ping = () => {
      sentAt = performance.now();
      const seq = samples.length + 1;
      ws.send(
        encodeFrame({ channel: ferry.v1.Channel.CHANNEL_HEARTBEAT, heartbeat: { ping: { seq } } }),
      );
    };
    ws.on('open', ping);
    ws.on('message', (data: Buffer) => {
      let pong: ferry.v1.IPong | null | undefined;
      try {
        pong = ferry.v1.Frame.decode(data).heartbeat?.pong;
      } catch {
        return;
      }
      if (pong == null || pong.seq !== samples.length + 1) return;
      samples.push(performance.now() - sentAt);
      gatewayId = pong.gatewayId ?? '';
      sessions = pong.sessions ?? 0;
      if (samples.length < PROBE_SAMPLES) {
        ping();
        return;
      }
      clearTimeout(timer);
      ws.close();
      const sorted = [...samples].sort((a, b) => a - b);
      resolve({
        url,
        gatewayId,
        rttMs: sorted[Math.floor(sorted.length / 2)]!,
        samplesMs: samples,
        sessions,
      });
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('close', () => {
      clearTimeout(timer);
      if (samples.length < PROBE_SAMPLES)
        reject(new Error(`${url}: closed before its probes were answered`));
    });
  });
}

/** Measures every gateway at once; those that cannot be reached are left out. */
export async function measureAll(urls: readonly string[], tls?: ClientTls): Promise<Measurement[]> {
  const results = await Promise.allSettled(urls.map((url) => measure(url, tls)));
  return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}

/** The fastest of `measurements`; a near-tie goes to the gateway with fewer sessions. */
export function fastest(measurements: readonly Measurement[]): Measurement | null {
  let best: Measurement | null = null;
  for (const m of measurements) {
    if (best === null) {
      best = m;
      continue;
    }
    const tie =
      Math.abs(m.rttMs - best.rttMs) <= Math.max(TIE_MS, 0.1 * Math.min(m.rttMs, best.rttMs));
    if (tie ? m.sessions < best.sessions : m.rttMs < best.rttMs) best = m;
  }
  return best;
}

/** The wire form of measurements (CreateSession.relay_rtts, Hello.relay_rtts). */
export function relayRtts(measurements: readonly Measurement[]): ferry.v1.IRelayRtt[] {
  return measurements.map((m) => ({
    gatewayId: m.gatewayId,
    url: m.url,
    rttMs: m.rttMs,
    sessions: m.sessions,
  }));
}
