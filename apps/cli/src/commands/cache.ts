import path from 'node:path';
import { cacheStats, gcCache, namespaceKey, type CacheNamespaceStats } from '@rds/artifacts';
import { cacheNamespaceOf, embeddingCacheRoot } from '@rds/encoder';
import { loadConfigFile, parseRunConfig } from '@rds/runner';
import { ValidationError } from '@rds/schemas';
import { parseFlags, type Command } from '../args.js';

const NAME = 'cache';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function describe(s: CacheNamespaceStats): string[] {
  const set = s.settings;
  const lines = [
    `${s.key}  ${s.modelId || '(unnamed model)'}  ${set ? `${set.pooling}, maxTokens ${set.maxTokens}, ${set.dtype} x ${set.dims}` : ''}`,
    `  ${s.rows.toLocaleString('en-US')} rows in ${s.segments} segments (${s.indexedSegments} indexed), ${mb(s.bytes)}` +
      (s.oldest ? `, ${s.oldest.slice(0, 10)} .. ${s.newest!.slice(0, 10)}` : ''),
  ];
  for (const d of s.damaged) lines.push(`  damaged segment ${d.id}: ${d.reason} (ignored; rds cache gc removes it)`);
  return lines;
}

/** --older-than: an ISO date, or a number of days ago (30d). */
function parseAge(value: string): Date {
  const days = /^(\d+)d$/.exec(value);
  const date = days ? new Date(Date.now() - Number(days[1]) * 86_400_000) : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new ValidationError(`rds ${NAME} gc: --older-than "${value}" is neither a date (2026-11-01) nor days (30d)`);
  return date;
}

const command: Command = {
  name: NAME,
  summary:
    'the embedding cache shared by runs: `rds cache stats` shows what it holds, `rds cache gc` drops what no run config uses or what is older than a date',
  usage:
    'rds cache stats [--dir <cache>] [--json]  |  rds cache gc [--dir <cache>] [--keep-config <run config.json>]... [--older-than <date|30d>]',
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'stats') {
      const { values } = parseFlags(NAME, rest, { dir: { type: 'string' }, json: { type: 'boolean', default: false } });
      const root = embeddingCacheRoot({ dir: values.dir });
      const stats = await cacheStats(root);
      if (values.json) console.log(JSON.stringify({ dir: root, namespaces: stats }, null, 2));
      else {
        console.log(`embedding cache ${root}: ${stats.length} namespace(s)`);
        for (const s of stats) console.log(describe(s).join('\n'));
      }
      return 0;
    }
    if (sub !== 'gc')
      throw new ValidationError(`rds ${NAME}: unknown sub-command "${sub ?? ''}" (expected stats or gc)`);
    const { values } = parseFlags(NAME, rest, {
      dir: { type: 'string' },
      'keep-config': { type: 'string', multiple: true },
      'older-than': { type: 'string' },
    });
    const configs = values['keep-config'] ?? [];
    if (!configs.length && !values['older-than'])
      throw new ValidationError(
        `rds ${NAME} gc: say what to drop: --keep-config <run config> (keep only what those configs use) and/or --older-than <date|30d>`,
      );
    const root = embeddingCacheRoot({ dir: values.dir });
    let keep: Set<string> | undefined;
    if (configs.length) {
      keep = new Set();
      for (const file of configs) {
        const config = parseRunConfig(await loadConfigFile(file), path.resolve(file));
        // A config that names another cache (or none) keeps nothing here.
        if (config.cache === false || embeddingCacheRoot(config.cache) !== root) continue;
        keep.add(namespaceKey(await cacheNamespaceOf(config.model)));
      }
    }
    const r = await gcCache(root, {
      ...(keep ? { keep } : {}),
      ...(values['older-than'] ? { olderThan: parseAge(values['older-than']) } : {}),
    });
    console.log(
      `embedding cache ${root}: removed ${r.namespacesRemoved} namespace(s) and ${r.segmentsRemoved} segment(s), ` +
        `${r.rowsRemoved.toLocaleString('en-US')} rows, ${mb(r.bytesFreed)}`,
    );
    return 0;
  },
};
export default command;
