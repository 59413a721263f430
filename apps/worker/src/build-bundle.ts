// npm run build-bundle -w @rds/worker: write the prebuilt workflow bundle workers load in production.
import { writeWorkflowBundle } from './bundle.js';

const out = process.argv[2];
const started = Date.now();
const { path, bytes } = await writeWorkflowBundle(out);
console.log(`workflow bundle: ${path} (${(bytes / 1e6).toFixed(2)} MB, ${Date.now() - started} ms)`);
