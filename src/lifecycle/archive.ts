import { createHash } from 'node:crypto';
import { Transform, type Readable, type Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { ValueCategory } from '../migrate/targetModel.js';

/**
 * The tenant archive: a gzip-compressed tar (tar-stream, node:zlib), read and written as a stream.
 *
 *   manifest.json                 first: format, version, the tenant, tables in foreign-key order with
 *                                 their columns, row counts and checksums
 *   data/<table>/000001.jsonl     the table's rows as JSON lines, in primary-key order, in parts of
 *   data/<table>/000002.jsonl     about PART_BYTES each (a tar entry's size must be known before its
 *   …                             data, so a table is cut into parts that are buffered one at a time)
 *
 * See docs/lifecycle.md for every field.
 */
export const ARCHIVE_FORMAT = 'tenantry-tenant-archive';
export const ARCHIVE_VERSION = 1;
export const MANIFEST_ENTRY = 'manifest.json';
/** A part is flushed once it holds this many bytes of JSON lines: the export's memory bound. */
export const PART_BYTES = 4 * 1024 * 1024;

/** How a table's checksum is computed (the migrator's verification, src/migrate/verify.ts). */
export const CHECKSUM_ALGORITHM =
  "per row md5(json_build_array(<columns in manifest order, canonical: uuid, numeric, timestamptz at time zone 'UTC', text>)::text); " +
  "per table md5(<sum of the first 64 bits of each row's md5 as a signed integer> || ':' || <the same for the last 64 bits>)";

export interface ManifestColumn {
  readonly name: string;
  /** The column's type where it was exported (`format_type`). */
  readonly type: string;
  readonly category: ValueCategory;
}

export interface ManifestTable {
  readonly name: string;
  readonly columns: readonly ManifestColumn[];
  readonly rows: number;
  readonly checksum: string;
}

export interface ArchiveManifest {
  readonly format: typeof ARCHIVE_FORMAT;
  readonly version: number;
  /** Unique per archive; an import derives its new tenant id from it (and the slug). */
  readonly exportId: string;
  readonly exportedAt: string;
  /** The exporting deployment's BASE_DOMAIN (the tenant's own hostname was `<slug>.<baseDomain>`). */
  readonly baseDomain: string;
  readonly tenant: {
    readonly id: string;
    readonly name: string;
    readonly slug: string;
    readonly status: string;
    readonly isActive: boolean;
    readonly createdAt: string;
  };
  readonly checksumAlgorithm: string;
  /** Parents before children: the order an import loads them in. */
  readonly tables: readonly ManifestTable[];
  /** Columns left out of exported tables, and tables not exported at all, with the reason. */
  readonly omitted: readonly { readonly table: string; readonly columns: readonly string[] | 'all'; readonly why: string }[];
}

export const partEntryName = (table: string, part: number): string => `data/${table}/${String(part).padStart(6, '0')}.jsonl`;

const PART_NAME = /^data\/([a-z_][a-z0-9_]*)\/(\d{6})\.jsonl$/;

/** An archive being written to `out`: entries go in order, each waits for the stream to take it (back-pressure). */
export class ArchiveWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  private bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(out: Writable) {
    const count = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.bytes += chunk.length;
        this.hash.update(chunk);
        cb(null, chunk);
      },
    });
    this.done = pipeline(this.pack, createGzip(), count, out);
    this.done.catch(() => undefined); // reported by finish() or the next entry
  }

  manifest(manifest: ArchiveManifest): Promise<void> {
    return this.entry(MANIFEST_ENTRY, [Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]);
  }

  /** A part: `lines` are its JSON lines in chunks (as fetched), written as they are rather than copied into one buffer. */
  part(table: string, part: number, lines: readonly Buffer[]): Promise<void> {
    return this.entry(partEntryName(table, part), lines);
  }

  /** Ends the archive; resolves once `out` has it all, with its size and SHA-256. */
  async finish(): Promise<{ bytes: number; sha256: string }> {
    this.pack.finalize();
    await this.done;
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Stops writing (the output is left incomplete; the caller removes it). */
  abort(err: Error): void {
    this.pack.destroy(err);
  }

  /** Resolves once the archive stream has taken the entry's last chunk (tar-stream calls back then). */
  private entry(name: string, chunks: readonly Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const size = chunks.reduce((n, c) => n + c.length, 0);
      const sink = this.pack.entry({ name, size, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
      for (const chunk of chunks) sink.write(chunk);
      sink.end(null); // no last chunk (streamx's types make the argument required)
    });
  }
}

export class ArchiveFormatError extends Error {
  constructor(message: string) {
    super(`Not a valid tenant archive: ${message}`);
    this.name = 'ArchiveFormatError';
  }
}

/** One table's rows as they come out of the archive: JSON lines, in batches. */
export interface ArchiveReader {
  readonly manifest: ArchiveManifest;
  /** Batches of at most `batchSize` lines, table by table in archive order; each line is one row's JSON. */
  batches(batchSize: number): AsyncGenerator<{ table: string; lines: string[] }>;
}

/**
 * Reads an archive from `input` as a stream: the manifest (first entry) at once, then the rows on
 * demand, so a consumer that awaits each batch holds back the file (memory stays flat).
 */
export async function openArchive(input: Readable): Promise<ArchiveReader> {
  const extract = tar.extract();
  const gunzip = createGunzip();
  const piped = pipeline(input, gunzip, extract);
  piped.catch(() => undefined); // surfaces through the iterator
  const entries = extract[Symbol.asyncIterator]();
  const first = await entries.next();
  if (first.done || first.value.header.name !== MANIFEST_ENTRY) throw new ArchiveFormatError(`the first entry must be ${MANIFEST_ENTRY}`);
  const manifest = parseManifest(await readAll(first.value));
  const tables = new Set(manifest.tables.map((t) => t.name));

  async function* batches(batchSize: number): AsyncGenerator<{ table: string; lines: string[] }> {
    let current: string | null = null;
    let lines: string[] = [];
    let order = 0;
    for (;;) {
      const next = await entries.next();
      if (next.done) break;
      const match = PART_NAME.exec(next.value.header.name);
      if (!match || !tables.has(match[1])) throw new ArchiveFormatError(`unexpected entry ${next.value.header.name}`);
      const table = match[1];
      const index = manifest.tables.findIndex((t) => t.name === table);
      if (index < order) throw new ArchiveFormatError(`${next.value.header.name} comes after a later table's rows`);
      order = index;
      if (table !== current) {
        if (current && lines.length) yield { table: current, lines };
        current = table;
        lines = [];
      }
      let rest = '';
      // A chunk may end inside a multi-byte character: the decoder keeps its first bytes for the next one.
      const decoder = new StringDecoder('utf8');
      for await (const chunk of next.value) {
        const text = rest + decoder.write(chunk as Buffer);
        const parts = text.split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          if (line === '') continue;
          lines.push(line);
          if (lines.length >= batchSize) {
            yield { table, lines };
            lines = [];
          }
        }
      }
      if (rest !== '') throw new ArchiveFormatError(`${next.value.header.name} does not end with a newline`);
    }
    if (current && lines.length) yield { table: current, lines };
    await piped;
  }

  return { manifest, batches };
}

async function readAll(stream: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseManifest(text: string): ArchiveManifest {
  let m: ArchiveManifest;
  try {
    m = JSON.parse(text) as ArchiveManifest;
  } catch {
    throw new ArchiveFormatError(`${MANIFEST_ENTRY} is not JSON`);
  }
  if (m.format !== ARCHIVE_FORMAT) throw new ArchiveFormatError(`format is ${JSON.stringify(m.format)}, not ${ARCHIVE_FORMAT}`);
  if (m.version !== ARCHIVE_VERSION) throw new ArchiveFormatError(`version ${m.version}: this server reads version ${ARCHIVE_VERSION}`);
  if (!m.tenant?.id || !m.tenant.slug || !Array.isArray(m.tables) || !m.exportId) throw new ArchiveFormatError('the manifest lacks the tenant, the tables or the export id');
  for (const t of m.tables) if (!/^[a-z_][a-z0-9_]*$/.test(t.name) || !Array.isArray(t.columns)) throw new ArchiveFormatError(`bad table entry ${JSON.stringify(t.name)}`);
  return m;
}
