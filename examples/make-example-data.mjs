#!/usr/bin/env node
// Writes the SYNTHETIC example pool and query sets under examples/data (committed; re-run to regenerate
// byte-identical files). Templated rows, not real instruction data: they exist so `rds run` has
// something small to select from on a fresh machine. Real data lives in ../shared/data.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'data');
let seed = 12345;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const row = (id, dataset, user, assistant) => ({
  id,
  dataset,
  messages: [
    { role: 'user', content: user },
    { role: 'assistant', content: assistant },
  ],
});

const names = ['Ava', 'Ben', 'Chen', 'Dara', 'Eli', 'Fay', 'Gus', 'Hana', 'Ivo', 'Jun'];
const items = ['apples', 'pencils', 'stickers', 'marbles', 'cookies', 'books', 'shells', 'cards'];
function math(i) {
  const [n, it, a, b, c] = [pick(names), pick(items), int(5, 60), int(2, 9), int(1, 20)];
  const kind = i % 3;
  if (kind === 0)
    return [
      `${n} has ${a} ${it}. ${n} buys ${b} packs of ${c} ${it} each. How many ${it} does ${n} have now?`,
      `${n} buys ${b} x ${c} = ${b * c} ${it}. ${a} + ${b * c} = ${a + b * c}. The answer is ${a + b * c}.`,
    ];
  if (kind === 1)
    return [
      `A box holds ${b} rows of ${c} ${it}. ${n} gives away ${Math.min(a, b * c)} of them. How many are left?`,
      `The box holds ${b} x ${c} = ${b * c}. ${b * c} - ${Math.min(a, b * c)} = ${b * c - Math.min(a, b * c)}. The answer is ${b * c - Math.min(a, b * c)}.`,
    ];
  return [
    `${n} reads ${b} pages a day for ${c} days, then ${a} more pages. How many pages did ${n} read?`,
    `${b} x ${c} = ${b * c} pages, plus ${a} is ${b * c + a}. The answer is ${b * c + a}.`,
  ];
}
const fns = [
  ['sum of a list of numbers', 'def total(xs):\n    return sum(xs)'],
  ['reverse a string', 'def reverse(s):\n    return s[::-1]'],
  ['count vowels in a string', "def vowels(s):\n    return sum(ch in 'aeiou' for ch in s.lower())"],
  [
    'check whether a number is prime',
    'def is_prime(n):\n    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))',
  ],
  ['return the largest element of a list', 'def largest(xs):\n    return max(xs)'],
  ['compute the factorial of n', 'def factorial(n):\n    return 1 if n <= 1 else n * factorial(n - 1)'],
  ['remove duplicates from a list keeping order', 'def dedup(xs):\n    return list(dict.fromkeys(xs))'],
  ['convert Celsius to Fahrenheit', 'def c_to_f(c):\n    return c * 9 / 5 + 32'],
];
function code(i) {
  const [task, body] = fns[i % fns.length];
  const lang = pick(['Python', 'Python 3']);
  return [
    `Write a ${lang} function to ${task}. (variant ${i})`,
    `Here is a simple solution:\n\n\`\`\`python\n${body}\n\`\`\``,
  ];
}
const topics = [
  'the water cycle',
  'photosynthesis',
  'how a bicycle gear works',
  'why the sky is blue',
  'what a compiler does',
  'the rules of chess',
  'how vaccines work',
  'the history of paper',
];
function general(i) {
  const t = topics[i % topics.length];
  const style = pick(['in two sentences', 'for a ten-year-old', 'as a short list', 'in one paragraph']);
  return [
    `Explain ${t} ${style}. (variant ${i})`,
    `A short explanation of ${t} ${style}: it is a process with a few clear steps that build on each other, and each step can be described simply.`,
  ];
}

const pool = [];
for (let i = 0; i < 120; i++) pool.push(row(`synthetic_math_${i}`, 'synthetic_math', ...math(i)));
for (let i = 0; i < 90; i++) pool.push(row(`synthetic_code_${i}`, 'synthetic_code', ...code(i)));
for (let i = 0; i < 90; i++) pool.push(row(`synthetic_general_${i}`, 'synthetic_general', ...general(i)));
// Interleave sources deterministically so shards mix them, as a real pool would.
pool.sort(
  (a, b) =>
    ((a.id.length * 7 + a.id.charCodeAt(a.id.length - 1)) % 11) -
      ((b.id.length * 7 + b.id.charCodeAt(b.id.length - 1)) % 11) || a.id.localeCompare(b.id),
);
const queries = {
  math: Array.from({ length: 12 }, (_, i) => row(`query_math_${i}`, 'math', ...math(1000 + i))),
  code: Array.from({ length: 12 }, (_, i) => row(`query_code_${i}`, 'code', ...code(1000 + i))),
};
fs.mkdirSync(path.join(out, 'queries'), { recursive: true });
const jsonl = (rows) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
fs.writeFileSync(path.join(out, 'pool.jsonl'), jsonl(pool));
for (const [task, rows] of Object.entries(queries))
  fs.writeFileSync(path.join(out, 'queries', `${task}.jsonl`), jsonl(rows));
console.log(`wrote ${pool.length} pool rows and ${Object.values(queries).flat().length} query rows under ${out}`);
