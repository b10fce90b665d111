#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4
// Thin launcher: the entry point is src/main.ts (the CLI is src/cli/), compiled by `npm run build`.
// The node flags and the variables on the first line are a gateway's (src/cli/node-flags.ts says
// why); `npm start`, the systemd unit and the container image pass the same ones.
import '../dist/src/main.js';
