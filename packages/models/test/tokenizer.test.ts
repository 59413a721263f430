import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadModel, renderTulu, tokenizeMessages, type LoadedModel } from '@rds/encoder';
import { installedModel } from '../src/index.js';
import { MODEL, readRows, reference, SHARED } from './helpers.js';

// Needs the real model (npx rds model fetch smollm2-135m; .ci/run installs it): fails, never skips, without it.
let model: LoadedModel;
beforeAll(async () => {
  const { dir } = await installedModel(MODEL);
  model = await loadModel(dir, { log: () => undefined });
});
afterAll(async () => {
  await model?.session.release();
});

it("uses the exported tokenizer config's special tokens: EOS <|im_end|> after assistant turns, no BOS", () => {
  expect(model.eos).toBe('<|im_end|>');
  const ids = tokenizeMessages(
    model,
    [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ],
    2048,
  );
  expect(ids[0]).not.toBe(model.tokenizer.token_to_id('<|im_start|>'));
  expect(ids.at(-1)).toBe(model.tokenizer.token_to_id('<|im_end|>'));
});

it("gives Hugging Face AutoTokenizer's ids for every row of the shared pool and both query sets (Tulu format)", async () => {
  const rows = [
    ...readRows(path.join(SHARED, 'pool.jsonl')),
    ...readRows(path.join(SHARED, 'queries/gsm8k.jsonl')),
    ...readRows(path.join(SHARED, 'queries/general.jsonl')),
  ];
  expect(rows.length).toBe(19_123);
  const texts = rows.map((r) => renderTulu(r.messages, model.eos));
  const theirs = await reference<{ ids: number[] }>(['tokenize', '--model-dir', model.dir], texts);
  expect(theirs.length).toBe(rows.length);
  const mismatches: string[] = [];
  let tokens = 0;
  rows.forEach((r, i) => {
    const ours = tokenizeMessages(model, r.messages, Number.MAX_SAFE_INTEGER);
    tokens += ours.length;
    if (JSON.stringify(ours) !== JSON.stringify(theirs[i]!.ids)) mismatches.push(r.id);
  });
  console.log(`${rows.length} rows, ${tokens} tokens, ${mismatches.length} mismatches`);
  expect(mismatches).toEqual([]);
  expect(tokens).toBeGreaterThan(1_000_000); // the whole pool went through, not a prefix
}, 600_000);
