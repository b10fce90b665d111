#!/usr/bin/env node
// Thin launcher: the CLI lives in src/main.ts, compiled by `npm run build`.
import '../dist/src/main.js';
