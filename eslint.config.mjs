// ESLint for the TypeScript library, its tests and the bench scripts.
// Formatting is Prettier's job (.prettierrc.json); these rules are about bugs and intent.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'build-cmake/**', 'node_modules/**', 'test/fixtures/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { globals: globals.node },
    rules: {
      // Unused arguments keep a callback's documented shape; a leading underscore says so.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // The addon, optional peers (prom-client) and lazily loaded modules come in through require().
      '@typescript-eslint/no-require-imports': 'off',
      eqeqeq: ['error', 'always'],
      // Prettier wraps code at 120 columns but not comments or long strings: this catches those.
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
      'no-var': 'error',
      'prefer-const': 'error',
      // Typed events are declared by merging an interface of on/once/emit overloads into the
      // emitter class, whose implementations come from EventEmitter: the merge is the intent.
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests poke at wrong shapes on purpose to check the library refuses them.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: globals.node, sourceType: 'commonjs' },
    rules: {
      // Scripts that also run on older Nodes take `performance` from node:perf_hooks explicitly.
      'no-redeclare': ['error', { builtinGlobals: false }],
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      eqeqeq: ['error', 'always'],
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
);
