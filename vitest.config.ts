import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `shoal-source` export
// condition, so tests never run against a stale build.
const resolve = { conditions: ['shoal-source'] };

export default defineConfig({
  resolve,
  ssr: { resolve: { conditions: ['shoal-source'] } },
  test: {
    projects: [
      {
        resolve,
        ssr: { resolve: { conditions: ['shoal-source'] } },
        test: { name: 'unit', include: ['packages/*/test/**/*.test.ts', 'chaos/test/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        resolve,
        ssr: { resolve: { conditions: ['shoal-source'] } },
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Integration files start emulators and worker processes; two cores, so one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
