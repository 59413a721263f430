import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { AtomicFileWriter } from '@rds/artifacts';
import type { Example, HandoffConfig, Message } from '@rds/schemas';

export type HandoffFormat = HandoffConfig['format'];

/** Per-example metadata, written as extra fields only when `includeMetadata` is set. */
export interface RowMetadata {
  source: string;
  task: string | null;
  score: number | null;
  rank: number;
}

export interface TrainingFileWriter {
  readonly target: string;
  add(example: Example, meta: RowMetadata | null): Promise<void>;
  /** Make the file appear under its final name; its size and checksum. */
  commit(): Promise<{ bytes: number; sha256: string }>;
  abort(): Promise<void>;
}

export function datasetFileName(format: HandoffFormat): string {
  return format === 'parquet' ? 'train.parquet' : format === 'alpaca' ? 'train.alpaca.jsonl' : 'train.jsonl';
}

export interface AlpacaRow {
  instruction: string;
  input: string;
  output: string;
}

const ROLE_LABEL: Record<Message['role'], string> = { system: 'System', user: 'User', assistant: 'Assistant' };

/**
 * Alpaca has one instruction, an optional input and one output, so transcripts are flattened:
 * - output = the last assistant turn (with any assistant turns directly before it, joined by a blank line);
 * - instruction = the user turn that prompted it, prefixed by the system prompt(s) when there are any;
 * - input = the earlier conversation as "User: ..." / "Assistant: ..." paragraphs (empty for single-turn).
 * Turns after the last assistant turn (a trailing unanswered user turn) cannot be trained on and are dropped.
 */
export function toAlpaca(messages: Message[]): AlpacaRow {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  let lastAssistant = messages.length - 1;
  while (lastAssistant >= 0 && messages[lastAssistant]!.role !== 'assistant') lastAssistant--;
  let firstAnswer = lastAssistant;
  while (firstAnswer > 0 && messages[firstAnswer - 1]!.role === 'assistant') firstAnswer--;
  let prompt = firstAnswer - 1;
  while (prompt >= 0 && messages[prompt]!.role !== 'user') prompt--;
  const output = messages
    .slice(firstAnswer, lastAssistant + 1)
    .map((m) => m.content)
    .join('\n\n');
  const instruction = [...system, prompt >= 0 ? messages[prompt]!.content : ''].filter((s) => s !== '').join('\n\n');
  const history = messages.slice(0, Math.max(prompt, 0)).filter((m) => m.role !== 'system');
  const input = history.map((m) => `${ROLE_LABEL[m.role]}: ${m.content}`).join('\n\n');
  return { instruction, input, output };
}

/** Lines are gathered into ~1 MB strings before hitting the stream. */
const FLUSH_CHARS = 1 << 20;

class JsonlWriter implements TrainingFileWriter {
  private readonly out: AtomicFileWriter;
  private pending: string[] = [];
  private pendingChars = 0;

  constructor(
    readonly target: string,
    private readonly toRow: (example: Example, meta: RowMetadata | null) => Record<string, unknown>,
  ) {
    this.out = new AtomicFileWriter(target);
  }

  async add(example: Example, meta: RowMetadata | null): Promise<void> {
    const line = JSON.stringify(this.toRow(example, meta)) + '\n';
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= FLUSH_CHARS) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    await this.out.write(this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
  }

  async commit() {
    await this.flush();
    return this.out.commit();
  }

  abort() {
    return this.out.abort();
  }
}

/** Tulu SFT rows: {id, messages} (+ source, task, score, rank). */
function tuluRow(example: Example, meta: RowMetadata | null): Record<string, unknown> {
  return {
    id: example.id,
    messages: example.messages.map((m) => ({ role: m.role, content: m.content })),
    ...(meta ?? {}),
  };
}

/** Alpaca rows: {instruction, input, output} (+ id, source, task, score, rank). */
function alpacaRow(example: Example, meta: RowMetadata | null): Record<string, unknown> {
  return { ...toAlpaca(example.messages), ...(meta ? { id: example.id, ...meta } : {}) };
}

/** Hands every flushed chunk of parquet bytes to an AtomicFileWriter, so a row group at a time is in memory. */
class StreamingByteWriter extends ByteWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly out: AtomicFileWriter) {
    super(1 << 20);
  }

  flush(): Promise<void> {
    // Copy: the buffer is reused for the next row group while the write is in flight.
    const chunk = new Uint8Array(this.buffer, 0, this.index).slice();
    this.index = 0;
    this.chain = this.chain.then(() => this.out.write(chunk));
    return this.chain;
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

const PARQUET_GROUP_ROWS = 10_000;
const PARQUET_GROUP_CHARS = 64 << 20;

/**
 * Parquet in the Hugging Face chat layout: `id` string, `messages` list<struct<role, content>>
 * (+ `source`, `task`, `score`, `rank` with metadata). Rows are written in row groups of at most
 * 10k rows / 64 MB of text, streamed to disk as each group is encoded.
 */
class ParquetFileWriter implements TrainingFileWriter {
  private readonly out: AtomicFileWriter;
  private readonly writer: ParquetWriter;
  private ids: string[] = [];
  private messages: { role: string; content: string }[][] = [];
  private meta: RowMetadata[] = [];
  private chars = 0;

  constructor(
    readonly target: string,
    private readonly withMetadata: boolean,
  ) {
    this.out = new AtomicFileWriter(target);
    const str = (name: string, repetition_type: 'REQUIRED' | 'OPTIONAL' = 'REQUIRED'): SchemaElement => ({
      name,
      type: 'BYTE_ARRAY',
      converted_type: 'UTF8',
      repetition_type,
    });
    const schema: SchemaElement[] = [
      { name: 'root', num_children: withMetadata ? 6 : 2 },
      str('id'),
      { name: 'messages', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', repetition_type: 'REQUIRED', num_children: 2 },
      str('role'),
      str('content'),
    ];
    if (withMetadata) {
      schema.push(
        str('source'),
        str('task', 'OPTIONAL'),
        { name: 'score', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
        { name: 'rank', type: 'INT64', repetition_type: 'REQUIRED' },
      );
    }
    this.writer = new ParquetWriter({
      writer: new StreamingByteWriter(this.out),
      schema,
      createdBy: 'rds-select handoff',
    });
  }

  async add(example: Example, meta: RowMetadata | null): Promise<void> {
    this.ids.push(example.id);
    this.messages.push(example.messages.map((m) => ({ role: m.role, content: m.content })));
    for (const m of example.messages) this.chars += m.content.length;
    if (this.withMetadata && meta) this.meta.push(meta);
    if (this.ids.length >= PARQUET_GROUP_ROWS || this.chars >= PARQUET_GROUP_CHARS) await this.flushGroup();
  }

  private async flushGroup(): Promise<void> {
    if (this.ids.length === 0) return;
    const columnData: ColumnSource[] = [
      { name: 'id', data: this.ids },
      { name: 'messages', data: this.messages },
    ];
    if (this.withMetadata) {
      columnData.push(
        { name: 'source', data: this.meta.map((m) => m.source) },
        { name: 'task', data: this.meta.map((m) => m.task) },
        { name: 'score', data: this.meta.map((m) => m.score) },
        { name: 'rank', data: BigInt64Array.from(this.meta, (m) => BigInt(m.rank)) },
      );
    }
    await this.writer.write({ columnData, rowGroupSize: this.ids.length });
    this.ids = [];
    this.messages = [];
    this.meta = [];
    this.chars = 0;
  }

  async commit() {
    await this.flushGroup();
    await this.writer.finish();
    return this.out.commit();
  }

  abort() {
    return this.out.abort();
  }
}

export function trainingFileWriter(
  format: HandoffFormat,
  target: string,
  includeMetadata: boolean,
): TrainingFileWriter {
  if (format === 'parquet') return new ParquetFileWriter(target, includeMetadata);
  return new JsonlWriter(target, format === 'alpaca' ? alpacaRow : tuluRow);
}
