// Delays between webhook attempts: exponential backoff with jitter, unless the receiver
// asked for a longer delay with Retry-After.

export interface BackoffOptions {
  /** Base delay before the second attempt, in milliseconds. @defaultValue 5000 */
  initialDelayMs?: number;
  /** Upper bound of any delay, Retry-After included, in milliseconds. @defaultValue 3600000 (1 hour) */
  maxDelayMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialDelayMs: 5000, maxDelayMs: 3_600_000 };

/**
 * Computes the delay after failed attempt number `attempt` (1-based). The base delay doubles
 * with each attempt up to the maximum. The result is drawn between half the base and the base,
 * so receivers that failed together are not retried together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialDelayMs, maxDelayMs } = { ...DEFAULT_BACKOFF, ...options };
  const base = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

/**
 * Parses a Retry-After header, either delay-seconds or an HTTP date, into milliseconds from
 * `now`. Returns null when the header is missing or invalid.
 */
export function parseRetryAfter(header: string | undefined, now: Date = new Date()): number | null {
  if (header === undefined) return null;
  const value = header.trim();

  if (/^\d+$/.test(value)) return Number(value) * 1000;

  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now.getTime());
}

/**
 * Computes the wait after failed attempt number `attempt` (1-based): the backoff, or the
 * receiver's Retry-After when that is longer, capped at the maximum delay. Retry-After never
 * shortens the wait, so a receiver that always returns `Retry-After: 0` cannot use up every
 * attempt within seconds.
 */
export function retryDelay(
  attempt: number,
  retryAfterHeader: string | undefined,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const backoff = backoffDelay(attempt, options, random);
  const retryAfter = parseRetryAfter(retryAfterHeader);
  if (retryAfter === null) return backoff;

  const maxDelayMs = options.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs;
  return Math.min(Math.max(retryAfter, backoff), maxDelayMs);
}
