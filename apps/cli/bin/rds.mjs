#!/usr/bin/env node
// Entry point of the `rds` command: src/entry.ts through tsx, with the repository's process settings
// (see scripts/launch.mjs).
import { fileURLToPath } from 'node:url';
import { launch } from '../../../scripts/launch.mjs';

launch(fileURLToPath(new URL('../src/entry.ts', import.meta.url)), process.argv.slice(2));
