#!/usr/bin/env node
// Thin launcher: the entry point is src/main.ts (the CLI is src/cli/), compiled by `npm run build`.
import '../dist/src/main.js';
