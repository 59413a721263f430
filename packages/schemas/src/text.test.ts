import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isPythonWhitespace, pythonStrip } from './text.js';

/** Code points Python's str.strip() removes, as python3 itself lists them (CI installs python3). */
function pythonWhitespace(): number[] {
  const out = execFileSync(
    'python3',
    ['-c', "import json; print(json.dumps([c for c in range(0x110000) if chr(c).strip() == '']))"],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as number[];
}

describe('pythonStrip', () => {
  it('strips exactly the code points python3 strips', () => {
    const expected = pythonWhitespace();
    const ours: number[] = [];
    for (let c = 0; c <= 0xffff; c++) if (isPythonWhitespace(c)) ours.push(c);
    expect(ours).toEqual(expected);
    expect(expected.every((c) => c <= 0xffff)).toBe(true); // so code units suffice
  });

  it('differs from JS trim() where Python does: keeps U+FEFF, strips U+0085 and U+001C-U+001F', () => {
    expect(pythonStrip('\ufeffhi\ufeff')).toBe('\ufeffhi\ufeff');
    expect('\ufeffhi\ufeff'.trim()).toBe('hi');
    for (const ws of ['\u0085', '\u001c', '\u001d', '\u001e', '\u001f']) {
      expect(pythonStrip(`${ws}hi ${ws}`)).toBe('hi');
      expect(`${ws}hi${ws}`.trim()).toBe(`${ws}hi${ws}`);
    }
    expect(pythonStrip('\u00a0\u3000\u2028 a b\t\r\n')).toBe('a b');
  });

  it('agrees with python3 on mixed strings, keeps inner whitespace, returns the same string when nothing strips', () => {
    const cases = [
      '',
      ' ',
      '\ufeff',
      'a',
      '  a  b  ',
      '\u0085\u001f x \u001c\u0085',
      '\u00a0\ufeff\u00a0',
      'x\u200b ',
      '\u180e y',
      '\ud83d\ude00 \u3000',
      '\t\n\u000b\u000c\r',
    ];
    const py = JSON.parse(
      execFileSync('python3', ['-c', 'import json,sys; print(json.dumps([s.strip() for s in json.load(sys.stdin)]))'], {
        input: JSON.stringify(cases),
        encoding: 'utf8',
      }),
    ) as string[];
    expect(cases.map(pythonStrip)).toEqual(py);
    const s = 'no outer space';
    expect(pythonStrip(s)).toBe(s);
  });
});
