import type { z } from 'zod';

/** Thrown for input that can never succeed (bad config, bad file): retrying will not help. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    message: string,
    /** Field paths (dotted) with their messages, for APIs that return them as JSON. */
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** Render a zod path as `a.b[2].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

export function zodIssues(error: z.ZodError): { path: string; message: string }[] {
  // An unknown key is reported on its own path (`selection.strateg`), not on the object holding it.
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({
          path: formatPath([...i.path, k]),
          message: 'unknown key (not part of the run config; check the spelling)',
        }))
      : [{ path: formatPath(i.path), message: i.message }],
  );
}

/**
 * Parse `value` with `schema`, or throw a ValidationError whose message names `where`
 * (a file, a line, an HTTP body) and every bad field path.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = zodIssues(r.error);
  const detail = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  throw new ValidationError(`invalid ${where}:\n${detail}`, issues);
}
