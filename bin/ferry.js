#!/usr/bin/env -S node --max-semi-space-size=4
// Thin launcher: the entry point is src/main.ts (the CLI is src/cli/), compiled by `npm run build`.
import '../dist/src/main.js';
