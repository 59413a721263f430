import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

const logger = new DefaultLogger('WARN');

describe('workflow bundle', () => {
  it('bundles every workflow entry point for the sandbox', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: new URL('../src/index.ts', import.meta.url).pathname,
      logger,
    });
    for (const name of ['selectionRun', 'embedShards']) expect(code).toContain(`function ${name}(`);
    // Only type imports from other workspace packages: no zod, no node builtins in the bundle.
    expect(code).not.toMatch(/node_modules\/zod\//);
  });

  it('rejects workflow code that imports a Node module (the check can fail)', async () => {
    // Inside the package, so everything but the forbidden import resolves.
    const dir = await fs.mkdtemp(path.join(path.dirname(new URL(import.meta.url).pathname), '.bad-workflow-'));
    try {
      const file = path.join(dir, 'bad.ts');
      await fs.writeFile(
        file,
        "import fs from 'node:fs';\nexport async function bad(): Promise<boolean> { return fs.existsSync('/'); }\n",
      );
      const messages: string[] = [];
      const capture = new DefaultLogger('WARN', (entry) => void messages.push(entry.message));
      await expect(bundleWorkflowCode({ workflowsPath: file, logger: capture })).rejects.toThrow(
        /Webpack finished with errors/,
      );
      expect(messages.join('\n')).toMatch(/node:fs/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
