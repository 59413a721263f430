import { beforeAll, describe, expect, it } from 'vitest';
import { tokenizeMessages } from '../src/embed.js';
import { getModel, type LoadedModel } from '../src/model.js';
import { renderTulu } from '../src/render.js';
import { testModel } from './helpers.js';

describe('renderTulu (reference Tulu format)', () => {
  it('renders system, user and assistant turns with EOS after assistant turns, trimmed', () => {
    const text = renderTulu(
      [
        { role: 'system', content: '  Be brief. ' },
        { role: 'user', content: '\nWhat is 2+2?  ' },
        { role: 'assistant', content: ' 4 ' },
      ],
      '</s>',
    );
    expect(text).toBe('<|system|>\nBe brief.\n<|user|>\nWhat is 2+2?\n<|assistant|>\n4</s>');
  });

  it("strips each turn as Python's str.strip() does: U+0085 and U+001C-U+001F go, U+FEFF stays", () => {
    const text = renderTulu(
      [
        { role: 'user', content: '\u0085\u001c Hi \u001f\u00a0' },
        { role: 'assistant', content: '\ufeffHello\ufeff\u3000' },
      ],
      '</s>',
    );
    expect(text).toBe('<|user|>\nHi\n<|assistant|>\n\ufeffHello\ufeff</s>');
  });

  it('renders multi-turn conversations in order', () => {
    const text = renderTulu(
      [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Bye' },
        { role: 'assistant', content: 'Goodbye.' },
      ],
      '</s>',
    );
    expect(text).toBe('<|user|>\nHi\n<|assistant|>\nHello!</s>\n<|user|>\nBye\n<|assistant|>\nGoodbye.</s>');
  });
});

describe('tokenizeMessages', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await getModel(await testModel());
  });

  it('adds BOS, tokenizes EOS as the special token and truncates to maxTokens', () => {
    const ids = tokenizeMessages(
      model,
      [
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: 'It is 4.' },
      ],
      2048,
    );
    expect(ids[0]).toBe(1); // <s>
    expect(ids.at(-1)).toBe(2); // </s> as one special token, not text pieces
    expect(ids.filter((x) => x === 2)).toHaveLength(1);
    expect(model.tokenizer.decode(ids, { skip_special_tokens: false })).toContain('<|assistant|>\nIt is 4.</s>');
    const short = tokenizeMessages(
      model,
      [
        { role: 'user', content: 'a long question '.repeat(50) },
        { role: 'assistant', content: 'x' },
      ],
      16,
    );
    expect(short).toHaveLength(16);
    expect(short).toEqual(
      tokenizeMessages(
        model,
        [
          { role: 'user', content: 'a long question '.repeat(50) },
          { role: 'assistant', content: 'x' },
        ],
        2048,
      ).slice(0, 16),
    );
  });
});
