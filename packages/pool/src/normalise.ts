import { pythonStrip, type Message, type PoolFormat } from '@rds/schemas';

/** Concrete row shapes (PoolFormat without `auto`). */
export type RowShape = Exclude<PoolFormat, 'auto'>;

/** Why a row was quarantined. Stable codes: tests and dashboards key on them. */
export type RejectReason =
  | 'invalid-utf8'
  | 'too-large'
  | 'bad-json'
  | 'not-object'
  | 'unknown-shape'
  | 'missing-messages'
  | 'bad-message'
  | 'unknown-role'
  | 'non-string-content'
  | 'no-assistant';

export interface Rejection {
  reason: RejectReason;
  detail: string;
}

export interface NormalisedRow {
  messages: Message[];
  /** The row's `dataset`/`source` field, if it has one. */
  source: string | undefined;
  /** The row's own `id`, if it has one. */
  id: string | undefined;
}

/** Guess the shape of a parsed row; undefined when it looks like none of them. */
export function detectShape(value: unknown): RowShape | undefined {
  if (!isObject(value)) return undefined;
  if (Array.isArray(value.messages)) return 'tulu';
  if (Array.isArray(value.conversations)) return 'sharegpt';
  if ('instruction' in value && 'output' in value) return 'alpaca';
  return undefined;
}

const TULU_ROLES: Record<string, Message['role']> = { system: 'system', user: 'user', assistant: 'assistant' };
const SHAREGPT_ROLES: Record<string, Message['role']> = {
  system: 'system',
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
};

/**
 * Turn one parsed row of the given shape into canonical messages, or say why not.
 * Hand-written rather than zod on the hot path (it runs per row); `Example` in @rds/schemas stays
 * the canonical schema and a test checks both accept and reject the same rows.
 */
export function normaliseRow(value: unknown, shape: RowShape): NormalisedRow | Rejection {
  if (!isObject(value)) return reject('not-object', `row is ${describe(value)}, expected a JSON object`);
  let messages: Message[] | Rejection;
  if (shape === 'alpaca') messages = fromAlpaca(value);
  else if (shape === 'sharegpt')
    messages = fromTurns(value.conversations, 'conversations', 'from', 'value', SHAREGPT_ROLES);
  else messages = fromTurns(value.messages, 'messages', 'role', 'content', TULU_ROLES);
  if (!Array.isArray(messages)) return messages;
  let hasAssistant = false;
  for (const m of messages) if (m.role === 'assistant') hasAssistant = true;
  if (!hasAssistant) return reject('no-assistant', 'no assistant turn');
  return { messages, source: nonEmptyString(value.dataset) ?? nonEmptyString(value.source), id: rowId(value.id) };
}

/**
 * The pool's exact-dedup key, as the encoder sees a row: its messages (role + content) with every
 * content stripped as rendering strips it (pythonStrip), as JSON. Rows that differ only in the
 * whitespace around turns render, embed and train the same, so they are one row. Undefined when
 * stripping changes nothing: the key is then the row's own messages JSON (no second serialisation,
 * and content-derived ids stay what they were).
 */
export function strippedMessagesJson(messages: readonly Message[]): string | undefined {
  if (messages.every((m) => pythonStrip(m.content) === m.content)) return undefined;
  return JSON.stringify(messages.map((m): Message => ({ role: m.role, content: pythonStrip(m.content) })));
}

export function isRejection(r: NormalisedRow | Rejection): r is Rejection {
  return (r as Rejection).reason !== undefined;
}

function fromTurns(
  turns: unknown,
  field: string,
  roleKey: string,
  contentKey: string,
  roles: Record<string, Message['role']>,
): Message[] | Rejection {
  if (turns === undefined || turns === null) return reject('missing-messages', `missing ${field}`);
  if (!Array.isArray(turns)) return reject('missing-messages', `${field} is ${describe(turns)}, expected an array`);
  if (turns.length === 0) return reject('missing-messages', `${field} is empty`);
  const out: Message[] = new Array<Message>(turns.length);
  for (let i = 0; i < turns.length; i++) {
    const turn: unknown = turns[i];
    if (!isObject(turn)) return reject('bad-message', `${field}[${i}] is ${describe(turn)}, expected an object`);
    const rawRole = turn[roleKey];
    const role = typeof rawRole === 'string' && Object.hasOwn(roles, rawRole) ? roles[rawRole] : undefined;
    if (role === undefined)
      return reject('unknown-role', `${field}[${i}].${roleKey} is ${JSON.stringify(rawRole) ?? 'undefined'}`);
    const content = turn[contentKey];
    if (typeof content !== 'string') {
      return reject('non-string-content', `${field}[${i}].${contentKey} is ${describe(content)}, expected a string`);
    }
    out[i] = { role, content };
  }
  return out;
}

/** Alpaca: user = instruction (+ "\n\n" + input when non-empty), assistant = output. */
function fromAlpaca(row: Record<string, unknown>): Message[] | Rejection {
  const { instruction, input, output } = row;
  if (instruction === undefined || instruction === null) return reject('missing-messages', 'missing instruction');
  if (output === undefined || output === null) return reject('missing-messages', 'missing output');
  if (typeof instruction !== 'string')
    return reject('non-string-content', `instruction is ${describe(instruction)}, expected a string`);
  if (typeof output !== 'string')
    return reject('non-string-content', `output is ${describe(output)}, expected a string`);
  if (input !== undefined && input !== null && typeof input !== 'string') {
    return reject('non-string-content', `input is ${describe(input)}, expected a string`);
  }
  if (instruction === '') return reject('missing-messages', 'instruction is empty');
  const user = input ? `${instruction}\n\n${input}` : instruction;
  return [
    { role: 'user', content: user },
    { role: 'assistant', content: output },
  ];
}

function reject(reason: RejectReason, detail: string): Rejection {
  return { reason, detail };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function rowId(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return String(v);
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
