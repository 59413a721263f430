import { ValidationError } from '@rds/schemas';

/**
 * One pool shard line is `{"id":...,"source":...,"messages":[...]}\n`: the id comes first, so a
 * reader looking for ids can take it from the line's prefix without parsing the messages.
 */
export function poolLineHead(id: string, source: string): string {
  return `{"id":${JSON.stringify(id)},"source":${JSON.stringify(source)},"messages":`;
}

/** A whole line: its head, the messages JSON, then `}\n`. */
export function poolLine(id: string, source: string, messagesJson: string): string {
  return `${poolLineHead(id, source)}${messagesJson}}\n`;
}

const ID_PREFIX = '{"id":"';
const ID_PREFIX_BYTES = Buffer.from(ID_PREFIX);

/**
 * The id of a pool line without parsing the whole row: for plain ids the id is a prefix (see
 * poolLineHead). Ids with escapes (and any other layout) fall back to JSON.parse.
 */
export function peekPoolId(line: string, where: string): string {
  if (line.startsWith(ID_PREFIX)) {
    const end = line.indexOf('"', ID_PREFIX.length);
    if (end > 0) {
      const id = line.slice(ID_PREFIX.length, end);
      if (!id.includes('\\')) return id;
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new ValidationError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const id = (value as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || id === '') throw new ValidationError(`${where}: id: expected a non-empty string`);
  return id;
}

/** peekPoolId on the bytes `buf[start, end)` of line `line` of `file`: decodes just the id when it is a plain prefix. */
export function peekPoolIdBytes(buf: Buffer, start: number, end: number, file: string, line: number): string {
  let prefixed = end - start > ID_PREFIX_BYTES.length;
  for (let k = 0; prefixed && k < ID_PREFIX_BYTES.length; k++) prefixed = buf[start + k] === ID_PREFIX_BYTES[k];
  if (prefixed) {
    const from = start + ID_PREFIX_BYTES.length;
    const quote = buf.indexOf(0x22, from);
    if (quote !== -1 && quote < end) {
      // Only the id's own bytes are checked for escapes (indexOf would scan on through the chunk).
      let escaped = false;
      for (let k = from; k < quote && !escaped; k++) escaped = buf[k] === 0x5c;
      if (!escaped) return buf.toString('utf8', from, quote);
    }
  }
  return peekPoolId(buf.toString('utf8', start, end), `${file}:${line}`);
}
