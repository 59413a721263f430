#!/usr/bin/env node
// One line per test project from the JSON reports vitest wrote (test-results/vitest/, see
// vitest.shared.ts), and a non-zero exit if any test failed or was skipped, or if a project with
// tests left no report (its tests did not run). CI runs this after `npm test`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const reports = path.join(root, 'test-results', 'vitest');
const workspaces = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).workspaces;

/** Every workspace project with a vitest config, by report name. */
function projects() {
  const dirs = workspaces.flatMap((w) =>
    w.endsWith('/*') ? fs.readdirSync(path.join(root, w.slice(0, -2))).map((d) => path.join(w.slice(0, -2), d)) : [w],
  );
  return dirs
    .filter((d) => fs.existsSync(path.join(root, d, 'vitest.config.ts')))
    .map((d) => JSON.parse(fs.readFileSync(path.join(root, d, 'package.json'), 'utf8')).name)
    .map((name) => ({ name, file: path.join(reports, `${name.replace(/^@/, '').replace(/\//g, '-')}.json`) }));
}

let bad = 0;
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const { name, file } of projects()) {
  if (!fs.existsSync(file)) {
    console.log(`${name}: NO REPORT (its tests did not run)`);
    bad++;
    continue;
  }
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed outside any test (an import error, a failing hook) counts once; vitest's
  // numFailedTestSuites also counts every describe block around a failed test, which overstated it.
  const brokenFiles = r.testResults.filter(
    (f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed'),
  ).length;
  const failed = r.numFailedTests + brokenFiles;
  totals.passed += r.numPassedTests;
  totals.failed += failed;
  totals.skipped += skipped;
  const skippedNames = r.testResults.flatMap((f) =>
    f.assertionResults
      .filter((a) => ['skipped', 'pending', 'todo'].includes(a.status))
      .map((a) => `${path.relative(root, f.name)} > ${a.fullName}`),
  );
  console.log(
    `${name}: ${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped (${r.testResults.length} files)`,
  );
  for (const s of skippedNames) console.log(`  skipped: ${s}`);
  if (failed || skipped) bad++;
}
console.log(`all projects: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (bad) {
  console.error(`test summary: ${bad} project(s) failed, skipped tests or did not run (skipping is not allowed in CI)`);
  process.exit(1);
}
