/**
 * A stream pattern matched against the whole name, so `orders-.*` does not take `old-orders-eu`.
 * Undefined when the source does not compile.
 */
export function wholeNamePattern(source: string, flags: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${source})$`, flags.replace(/[gy]/gu, ''));
  } catch {
    return undefined;
  }
}
