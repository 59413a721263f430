#!/usr/bin/env node
// Entry point of the worker: src/main.ts through tsx, with the repository's process settings (see
// scripts/launch.mjs); signals are forwarded so the worker shuts down gracefully.
import { fileURLToPath } from 'node:url';
import { launch } from '../../../scripts/launch.mjs';

launch(fileURLToPath(new URL('../src/main.ts', import.meta.url)), process.argv.slice(2));
