/**
 * The V8 flags the gateway runs with, wherever it is launched: `npm start`, the `ferry`
 * executable (its shebang), the systemd unit, the container's entry point, and the benches'
 * Ferry targets. test/deploy/deploy.test.ts checks that each of them carries these.
 *
 * `--max-semi-space-size=4` (MiB): V8's young generation grows to 16 MiB per semi-space under a
 * burst of handshakes and keeps it; with 4 the idle memory per session (both legs) goes from 49.9
 * to 28.4 KiB and the fleet-1000 RSS from 129 to 109 MiB, with the frame p99 and the CPU per
 * message within noise (docs/benchmarks.md, "Idle memory per session"). Node cannot take it
 * after start (v8.setFlagsFromString does not resize the heap), hence every launcher says it.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
