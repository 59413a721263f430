import { pythonStrip, type Message } from '@rds/schemas';

/** Version of renderTulu's output: part of every embedding cache key, bump it when the rendering changes. */
export const RENDER_VERSION = 1;

/**
 * Render a conversation exactly as the RDS+ reference code (open-instruct's Tulu format):
 * `<|system|>\n{c}\n`, `<|user|>\n{c}\n`, `<|assistant|>\n{c}{eos}\n`, each content stripped, the
 * whole string stripped, with Python's str.strip() whitespace (pythonStrip: the pool's dedup keys
 * on the same stripped contents). BOS is not part of the text: the tokenizer adds it (add_bos_token).
 */
export function renderTulu(messages: readonly Message[], eos: string): string {
  let text = '';
  for (const m of messages) {
    const content = pythonStrip(m.content);
    if (m.role === 'system') text += `<|system|>\n${content}\n`;
    else if (m.role === 'user') text += `<|user|>\n${content}\n`;
    else text += `<|assistant|>\n${content}${eos}\n`;
  }
  return pythonStrip(text);
}
