import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const POOLS = ['sending', 'dispatch', 'webhooks', 'billing', 'campaigns', 'maintenance'];

/** Import paths (relative or not) that reach into one of the project's top-level folders. */
const folder = (name) => [`**/${name}`, `**/${name}/**`];

/**
 * The layering, enforced: api and workers never import each other, one pool
 * never imports another (shared code lives in shared/), shared/ imports
 * neither, and the device simulator imports nothing of the platform (it is
 * the reference bridge that others copy: it must stand on the protocol alone).
 */
const boundary = (files, forbidden, message) => ({
  files,
  // A package whose name ends in a folder's name (`@opentelemetry/api`) is not that folder.
  rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...forbidden, '!@opentelemetry/api'], message }] }] },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A floating queue.add() loses enqueue failures silently.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['bin/**/*.ts', 'bench/**/*.ts', 'simulator/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  boundary(['api/**/*.ts'], [...folder('workers'), ...folder('simulator'), ...folder('bin')], 'api/ must not import workers, the simulator or bin: share code through shared/.'),
  boundary(['workers/**/*.ts'], [...folder('api'), ...folder('simulator'), ...folder('bin')], 'workers/ must not import the api, the simulator or bin: share code through shared/.'),
  ...POOLS.map((pool) =>
    boundary(
      [`workers/${pool}/**/*.ts`],
      [...folder('api'), ...folder('simulator'), ...folder('bin'), ...POOLS.filter((other) => other !== pool).flatMap((other) => [`../${other}`, `../${other}/**`, `**/workers/${other}`, `**/workers/${other}/**`])],
      `workers/${pool}/ must not import another pool: move what both need to shared/.`,
    ),
  ),
  boundary(['shared/**/*.ts'], [...folder('api'), ...folder('workers'), ...folder('simulator'), ...folder('bin')], 'shared/ must not import api, workers, the simulator or bin.'),
  boundary(
    ['simulator/**/*.ts'],
    [...folder('shared'), ...folder('api'), ...folder('workers'), ...folder('bin'), ...folder('sdk'), ...folder('cli')],
    'The simulator imports nothing of the platform: it implements DEVICE-PROTOCOL.md on its own.',
  ),
);
