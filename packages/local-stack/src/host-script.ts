import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the emulator host script, `host/emulator-host.cjs` at the package root.
 *
 * This module sits one directory below the package root both as TypeScript source
 * (`src/host-script.ts`, loaded by vitest through the `shoal-source` condition) and compiled
 * (`dist/host-script.js`), so the same relative URL finds the script in both cases. The script
 * is plain CommonJS and ships as is (no build step).
 */
export function emulatorHostPath(): string {
  return fileURLToPath(new URL('../host/emulator-host.cjs', import.meta.url));
}
