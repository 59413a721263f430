import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';

export type Access = 'read' | 'write';

interface TokenEntry {
  digest: Buffer;
  access: Access;
}

const READ_ONLY_PREFIX = 'ro:';

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The API's bearer tokens, kept only as sha256 digests. A token written as `ro:<token>` grants
 * read access (GETs); any other grants read and write. Comparison is over fixed-length digests with
 * timingSafeEqual and visits every entry, so timing reveals neither the token nor which one matched.
 */
export class TokenSet {
  private readonly entries: TokenEntry[];

  constructor(specs: readonly string[]) {
    this.entries = specs
      .map((s) => s.trim())
      .filter((s) => s !== '' && !s.startsWith('#'))
      .map((s) =>
        s.startsWith(READ_ONLY_PREFIX)
          ? { digest: digestOf(s.slice(READ_ONLY_PREFIX.length)), access: 'read' as const }
          : { digest: digestOf(s), access: 'write' as const },
      )
      // A token listed both ways keeps the stronger grant.
      .reduce<TokenEntry[]>((kept, e) => {
        const same = kept.find((o) => o.digest.equals(e.digest));
        if (!same) kept.push(e);
        else if (e.access === 'write') same.access = 'write';
        return kept;
      }, []);
    if (this.entries.some((e) => e.digest.equals(digestOf('')))) throw new Error('empty API token');
  }

  get size(): number {
    return this.entries.length;
  }

  /** The access the token grants, or null for an unknown token. */
  check(token: string): Access | null {
    const presented = digestOf(token);
    let access: Access | null = null;
    for (const e of this.entries) {
      // No early exit: every entry is compared whatever matched before (digests are unique).
      if (timingSafeEqual(presented, e.digest)) access = e.access;
    }
    return access;
  }

  /** RDS_API_TOKENS (comma-separated) plus RDS_API_TOKENS_FILE (one per line or comma-separated; # comments). */
  static fromEnv(env: NodeJS.ProcessEnv): TokenSet {
    const specs = (env.RDS_API_TOKENS ?? '').split(',');
    if (env.RDS_API_TOKENS_FILE) {
      specs.push(...fs.readFileSync(env.RDS_API_TOKENS_FILE, 'utf8').split(/[\n,]/));
    }
    return new TokenSet(specs);
  }
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}
