/**
 * Text normalisation shared by the stages that must agree on it: the encoder renders each turn's
 * content stripped, and the pool's exact dedup keys on that same stripped content.
 */

/**
 * Whether a UTF-16 code unit is whitespace for Python's `str.strip()` (`str.isspace()`: Unicode
 * White_Space plus the separators U+001C-U+001F). Every such character is in the BMP, so code
 * units suffice. Differs from JS `trim()`: adds U+001C-U+001F and U+0085, leaves U+FEFF alone.
 */
export function isPythonWhitespace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** `s.strip()` as Python computes it (the reference code renders and dedups with it); `s` itself when nothing is stripped. */
export function pythonStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isPythonWhitespace(s.charCodeAt(start))) start++;
  while (end > start && isPythonWhitespace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
