import tseslint from 'typescript-eslint';

// Stage packages: each reads and writes artifacts (@rds/artifacts) and schemas (@rds/schemas), never
// another stage. Only the composition root (@rds/runner) and the apps wire stages together (issue 18).
const STAGES = ['pool', 'encoder', 'vector-index', 'selectors', 'handoff'];

const stageBoundaries = STAGES.map((stage) => {
  const siblings = STAGES.filter((s) => s !== stage).map((s) => `@rds/${s}`);
  const message = `a stage package may import @rds/artifacts, @rds/schemas and the shared utility packages, never another stage: let @rds/runner pass in what it needs`;
  return {
    files: [`packages/${stage}/src/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: siblings.flatMap((s) => [s, `${s}/*`]), message }] },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: `ImportExpression[source.value=/^@rds\\/(${STAGES.filter((s) => s !== stage).join('|')})(\\/|$)/]`,
          message,
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...stageBoundaries,
);
