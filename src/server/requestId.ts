import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';

/**
 * What a client's (or its proxy's) `x-request-id` may be to be taken as this request's id: 1–128
 * characters of letters, digits and `. _ : -` (UUIDs, ULIDs, trace ids, `<host>:<counter>` all fit).
 * Anything else gets a generated id: the id is written into every log line of the request and sent
 * back, so its length and alphabet are ours to bound.
 */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

/** The client's id when it is acceptable, else a new UUID. */
export function requestIdFrom(header: unknown): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * Express middleware: decides the request's id and sends it back in `x-request-id` on every answer,
 * errors and malformed bodies included, before any other handler runs.
 */
export function assignRequestId(req: Request, res: Response, next: NextFunction): void {
  const id = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
  res.locals.requestId = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  next();
}

/** The id `assignRequestId` gave this request. */
export function requestIdOf(res: Response): string {
  return res.locals.requestId as string;
}
