import { createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Request, Response } from 'express';
import type { Services } from '../context/requestContext.js';
import { AuditEvent } from '../entities/AuditEvent.js';
import { Tenant } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { exportFile, readExport } from './exports.js';

/** Where the server serves export archives: `GET /exports/<export id>?tenant=…&expires=…&signature=…`. */
export const DOWNLOAD_PATH = '/exports';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The signing key: derived from the JWT secret, so a download signature is never a valid token signature. */
const keyOf = (secret: string) => createHmac('sha256', secret).update('tenantry export download v1').digest();

const signature = (secret: string, exportId: string, tenantId: string, expires: number) =>
  createHmac('sha256', keyOf(secret)).update(`${exportId}.${tenantId}.${expires}`).digest('base64url');

/**
 * A download URL of one export of one tenant, valid until `expiresAt` (HMAC-SHA256 over the export id,
 * the tenant id and the expiry): path-relative, served by any server of the deployment.
 */
export function signDownloadUrl(secret: string, exportId: string, tenantId: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${DOWNLOAD_PATH}/${exportId}?tenant=${tenantId}&expires=${expires}&signature=${signature(secret, exportId, tenantId, expires)}`;
}

type Verdict = { ok: true; exportId: string; tenantId: string } | { ok: false; status: 403 | 410; code: string; message: string };

export function verifyDownload(secret: string, exportId: string, query: Request['query'], now = Date.now()): Verdict {
  const { tenant, expires, signature: given } = query;
  const forbidden = { ok: false, status: 403, code: 'FORBIDDEN', message: 'Not a valid download link' } as const;
  if (typeof tenant !== 'string' || typeof expires !== 'string' || typeof given !== 'string' || !UUID.test(exportId) || !UUID.test(tenant) || !/^\d{1,12}$/.test(expires)) return forbidden;
  const expected = Buffer.from(signature(secret, exportId, tenant, Number(expires)));
  const presented = Buffer.from(given);
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return forbidden;
  if (Number(expires) * 1000 <= now) return { ok: false, status: 410, code: 'EXPIRED', message: 'This download link has expired: ask for a new one (tenantExport.downloadUrl)' };
  return { ok: true, exportId, tenantId: tenant };
}

/**
 * Serves an export's archive to whoever holds a valid link: the link names the export and its tenant
 * (signed), the export must be READY and not expired, and each download is audited in the tenant
 * (`tenant.export.download`). Errors are JSON `{ "error": { "code", "message" } }`: 403 a bad link,
 * 410 an expired link or export, 404 an export that is not there (or not READY).
 */
export function downloadHandler(services: Services) {
  return async (req: Request<{ exportId: string }>, res: Response) => {
    const fail = (status: number, code: string, message: string) => void res.status(status).json({ error: { code, message } });
    const verdict = verifyDownload(services.tokens.secret, req.params.exportId, req.query);
    if (!verdict.ok) return fail(verdict.status, verdict.code, verdict.message);
    try {
      const found = await inTenant(services.orm, verdict.tenantId, async (em) => {
        const record = await readExport(em, verdict.exportId);
        if (!record || record.status !== 'READY') return record;
        const tenant = await em.findOneOrFail(Tenant, verdict.tenantId);
        em.create(AuditEvent, { action: 'tenant.export.download', tenantId: verdict.tenantId, target: verdict.exportId });
        await em.flush();
        return { ...record, slug: tenant.slug };
      });
      if (!found) return fail(404, 'NOT_FOUND', 'No such export');
      if (found.status === 'EXPIRED' || found.expiresAt.getTime() <= Date.now()) return fail(410, 'EXPIRED', 'This export has expired and its archive was deleted');
      if (!('slug' in found)) return fail(404, 'NOT_FOUND', `The export is ${found.status}, not READY`);
      const file = exportFile(services.config.exports.dir, verdict.tenantId, verdict.exportId);
      const size = (await stat(file)).size;
      res.status(200).set({
        'content-type': 'application/gzip',
        'content-length': String(size),
        'content-disposition': `attachment; filename="${found.slug}-${found.createdAt.toISOString().slice(0, 10)}.tenantry.tar.gz"`,
        'cache-control': 'no-store',
      });
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch (err) {
      services.log.error({ err, exportId: verdict.exportId }, 'export download failed');
      if (!res.headersSent) fail(500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
    }
  };
}
