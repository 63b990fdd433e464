// Lint gate (issue 12 item 5): typescript-eslint's type-checked recommended set over every TypeScript source.
// Rules are configured here with a reason, never disabled in bulk; formatting is prettier's job (npm run lint).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Generated, installed or local trees, and untracked scratch files.
    ignores: ['dist/', 'node_modules/', 'coverage/', '.spire/', '.tools/', '.venv/', '.tap/', '.lab/', '**/.tmp-*'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose (an interface's argument, a
      // destructured field dropped from a copy): the house convention, as TypeScript's own noUnusedParameters.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Plain JavaScript helpers (bench children, scripts) are outside tsconfig: lint them without type information.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tap ends a subtest when the promise its callback returns settles (or at t.end()): `async (t) => {…}`
      // is how this suite ends every subtest, so an async callback without an await is correct here.
      '@typescript-eslint/require-await': 'off',
      // tap queues `t.test(...)` subtests itself and reports their failures: the returned PromiseWithSubtest is
      // safe to leave un-awaited (the tap docs' own style). Every other promise in a test must still be handled.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] },
      ],
    },
  },
);
