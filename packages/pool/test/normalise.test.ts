import { describe, expect, it } from 'vitest';
import { Example } from '@rds/schemas';
import { Hash64Set } from '../src/hashset.js';
import { detectShape, isRejection, normaliseRow } from '../src/normalise.js';

describe('shapes', () => {
  it('detects tulu, sharegpt and alpaca rows', () => {
    expect(detectShape({ messages: [] })).toBe('tulu');
    expect(detectShape({ conversations: [] })).toBe('sharegpt');
    expect(detectShape({ instruction: 'a', input: '', output: 'b' })).toBe('alpaca');
    expect(detectShape({ text: 'x' })).toBeUndefined();
    expect(detectShape([1])).toBeUndefined();
  });

  it('maps alpaca instruction/input/output to user and assistant turns', () => {
    expect(normaliseRow({ instruction: 'Add', input: '2 and 3', output: '5', dataset: 'alp' }, 'alpaca')).toEqual({
      messages: [
        { role: 'user', content: 'Add\n\n2 and 3' },
        { role: 'assistant', content: '5' },
      ],
      source: 'alp',
      id: undefined,
    });
    const noInput = normaliseRow({ instruction: 'Say hi', input: '', output: 'hi', id: 7 }, 'alpaca');
    expect(noInput).toEqual({
      messages: [
        { role: 'user', content: 'Say hi' },
        { role: 'assistant', content: 'hi' },
      ],
      source: undefined,
      id: '7',
    });
  });

  it('maps sharegpt roles (human/user/gpt/assistant/system) and keeps order', () => {
    const r = normaliseRow(
      {
        source: 'sg',
        conversations: [
          { from: 'system', value: 's' },
          { from: 'human', value: 'h' },
          { from: 'gpt', value: 'g' },
          { from: 'user', value: 'u' },
          { from: 'assistant', value: 'a' },
        ],
      },
      'sharegpt',
    );
    expect(r).toEqual({
      source: 'sg',
      id: undefined,
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'h' },
        { role: 'assistant', content: 'g' },
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'a' },
      ],
    });
  });
});

/**
 * The hand-written validator must agree with the canonical zod schema (`Example`): a tulu row is
 * accepted exactly when {id, source, messages} parses, and the rejection reason matches zod's issue.
 */
describe('hand-written validator agrees with zod Example', () => {
  const cases: { row: unknown; reason: string | null }[] = [
    {
      row: {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
      },
      reason: null,
    },
    {
      row: {
        messages: [
          { role: 'system', content: '' },
          { role: 'user', content: 'q' },
          { role: 'assistant', content: '' },
        ],
      },
      reason: null,
    },
    { row: { messages: [{ role: 'assistant', content: 'only' }] }, reason: null },
    { row: { messages: [] }, reason: 'missing-messages' },
    { row: { messages: [{ role: 'user', content: 'q' }] }, reason: 'no-assistant' },
    {
      row: {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'bot', content: 'a' },
        ],
      },
      reason: 'unknown-role',
    },
    {
      row: {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 3 },
        ],
      },
      reason: 'non-string-content',
    },
    {
      row: {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: null },
        ],
      },
      reason: 'non-string-content',
    },
    { row: { messages: [{ role: 'user', content: 'q' }, { role: 'assistant' }] }, reason: 'non-string-content' },
    { row: { messages: [{ role: 'user', content: 'q' }, 'assistant: a'] }, reason: 'bad-message' },
    { row: { messages: 'hello' }, reason: 'missing-messages' },
  ];
  const zodReason = (issue: { code: string; path: PropertyKey[]; message: string }): string => {
    if (issue.message === 'messages must not be empty' || (issue.code === 'invalid_type' && issue.path.length === 1))
      return 'missing-messages';
    if (issue.message === 'no assistant turn') return 'no-assistant';
    if (issue.path.at(-1) === 'role') return 'unknown-role';
    if (issue.path.at(-1) === 'content') return 'non-string-content';
    return 'bad-message';
  };
  for (const { row, reason } of cases) {
    it(`${JSON.stringify(row)} -> ${reason ?? 'accepted'}`, () => {
      const ours = normaliseRow(row, 'tulu');
      const theirs = Example.safeParse({ id: 'x', source: 's', messages: (row as { messages: unknown }).messages });
      expect(isRejection(ours) ? ours.reason : null).toBe(reason);
      expect(theirs.success).toBe(reason === null);
      if (!theirs.success) expect(zodReason(theirs.error.issues[0]!)).toBe(reason);
      if (!isRejection(ours) && theirs.success) expect(ours.messages).toEqual(theirs.data.messages);
    });
  }
});

describe('Hash64Set', () => {
  it('adds, finds, rejects repeats and grows without losing entries', () => {
    const set = new Hash64Set(4);
    for (let i = 0; i < 20_000; i++) expect(set.add(i * 2654435761, i ^ 0x5bd1e995)).toBe(true);
    expect(set.size).toBe(20_000);
    for (let i = 0; i < 20_000; i++) expect(set.add(i * 2654435761, i ^ 0x5bd1e995)).toBe(false);
    expect(set.has(1, 1)).toBe(false);
    expect(set.add(0, 0)).toBe(true);
    expect(set.has(0, 0)).toBe(true);
    expect(set.byteLength).toBeLessThanOrEqual(20_001 * 4 * 8);
  });
});
