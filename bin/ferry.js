#!/usr/bin/env -S node --max-semi-space-size=4
// Thin launcher: the entry point is src/main.ts (the CLI is src/cli/), compiled by `npm run build`.
// The node flags on the first line are a gateway's (src/cli/node-flags.ts says why); `npm start`,
// the systemd unit and the container image pass the same ones, and the gateway's malloc variables,
// which are not set here: this line starts every command, and a variable reaches what a command
// runs (a customer's shells), where a flag does not.
import '../dist/src/main.js';
