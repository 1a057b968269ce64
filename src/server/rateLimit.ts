import type { NextFunction, Request, Response } from 'express';

/** Above the contract's floor: no client is limited below 1,000 requests per minute. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 1200;

/**
 * A per-client fixed-window limit (client = IP address), in memory, per process. Generous by default
 * (the contract promises at least 1,000 requests per minute); `0` disables it.
 */
export function rateLimit(perMinute: number) {
  const windows = new Map<string, { start: number; count: number }>();
  let lastSweep = Date.now();
  return (req: Request, res: Response, next: NextFunction) => {
    if (perMinute <= 0) return next();
    const now = Date.now();
    if (now - lastSweep > 60_000) {
      for (const [key, w] of windows) if (now - w.start >= 60_000) windows.delete(key);
      lastSweep = now;
    }
    const key = req.ip ?? 'unknown';
    let w = windows.get(key);
    if (!w || now - w.start >= 60_000) windows.set(key, (w = { start: now, count: 0 }));
    if (++w.count <= perMinute) return next();
    const retryAfter = Math.ceil((w.start + 60_000 - now) / 1000);
    res.setHeader('Retry-After', String(retryAfter));
    res.status(429).json({ errors: [{ message: 'Too many requests', extensions: { code: 'RATE_LIMITED', retryAfter } }] });
  };
}
