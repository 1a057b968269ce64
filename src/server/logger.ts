import { pino, type Logger } from 'pino';

/** Structured JSON logs; requests add `requestId`, `tenantId`, `userId` via child loggers. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'tenantry' }, redact: ['req.headers.authorization', '*.password', '*.refreshToken'] });
}
