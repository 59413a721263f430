/**
 * One process filling a cache (cache.test.ts starts two at once): `segments` segments of `rows`
 * rows each, row i of writer w holding key (w * 1e6 + i) for keys this writer owns, and shared
 * keys (the same for every writer) in between. Row bytes are derived from the key, so any
 * reader can check what it got. Prints "done" at the end.
 */
import { EmbeddingCache } from './cache.js';
import { rowFor, TEST_NS } from './test-rows.js';

const [root, writer, segments, rows] = process.argv.slice(2);
const w = Number(writer);
for (let s = 0; s < Number(segments); s++) {
  const cache = await EmbeddingCache.open(root!, TEST_NS);
  const seg = cache.newSegment();
  for (let i = 0; i < Number(rows); i++) {
    const n = s * Number(rows) + i;
    const key = i % 4 === 0 ? BigInt(n) : BigInt(w * 1_000_000 + n); // every 4th key is shared
    seg.add(key, rowFor(key));
  }
  await seg.commit();
  cache.close();
}
process.stdout.write('done\n');
