/**
 * `npm run build`: src/ → dist/ as plain ESM JavaScript, compiled by swc with .swcrc (legacy decorators
 * with their metadata, class names kept: type-graphql and MikroORM read both at run time). Production
 * then runs `node dist/server/main.js` with only `dependencies` installed.
 *
 * `--if-stale` is what `npm start`, `npm run worker` and `npm run cli` run first: it compiles only when
 * dist/ was not built from the current sources, and when it was it loads nothing but node: built-ins,
 * so it also runs where only `dependencies` are installed.
 *
 * `--out-dir DIR` builds elsewhere than dist/ (a deployment's staging directory, a test's).
 *
 * Run by Node 24 itself (type stripping): this file uses erasable TypeScript only and imports no module
 * of the project.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');
const DIST = path.resolve(optionValue('--out-dir') ?? path.join(ROOT, 'dist'));
/** The hash of what dist/ was built from, written last: a build cut short leaves none. */
const STAMP = path.join(DIST, '.build-stamp');
/** Inputs besides src/ that change the output. */
const CONFIG_FILES = [path.join(ROOT, '.swcrc'), import.meta.filename];

function optionValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function sourceFiles(): Promise<string[]> {
  const entries = await readdir(SRC, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** One hash over every source file's path and content and the build configuration. */
async function sourcesHash(files: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [...files, ...CONFIG_FILES]) {
    hash.update(path.relative(ROOT, file)).update('\0').update(await readFile(file)).update('\0');
  }
  return hash.digest('hex');
}

async function builtFrom(): Promise<string | undefined> {
  try {
    return (await readFile(STAMP, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * Compiles every file in place: each output is written to a temporary name and renamed over the old
 * one, so a process loading dist/ while another `npm start` rebuilds it reads whole files only; files
 * whose source is gone are removed afterwards.
 */
async function build(files: readonly string[], hash: string): Promise<void> {
  const swc = await import('@swc/core').catch(() => {
    throw new Error('dist/ is missing or older than src/, and the build tool (@swc/core, a devDependency) is not installed: run `npm install`, or build where it is and ship dist/');
  });
  await rm(STAMP, { force: true });
  const written = new Set<string>([STAMP]);
  await Promise.all(
    files.map(async (file) => {
      const out = path.join(DIST, path.relative(SRC, file)).replace(/\.ts$/, '.js');
      await mkdir(path.dirname(out), { recursive: true });
      const { code, map } = await swc.transformFile(file, {
        swcrc: true,
        cwd: ROOT,
        sourceMaps: true,
        sourceFileName: path.relative(path.dirname(out), file),
      });
      await atomicWrite(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
      await atomicWrite(`${out}.map`, map!);
      written.add(out).add(`${out}.map`);
    }),
  );
  const existing = await readdir(DIST, { recursive: true, withFileTypes: true });
  for (const e of existing) {
    const file = path.join(e.parentPath, e.name);
    if (e.isFile() && !written.has(file) && !e.name.endsWith('.tmp')) await rm(file);
  }
  await writeFile(STAMP, `${hash}\n`);
}

async function atomicWrite(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

async function main(ifStale: boolean): Promise<void> {
  // Shipped without src/ (dist/ alone): nothing to build from, nothing to compare with.
  if (ifStale && !existsSync(SRC)) return;
  const files = await sourceFiles();
  const hash = await sourcesHash(files);
  if (ifStale && (await builtFrom()) === hash) return;
  const started = performance.now();
  await build(files, hash);
  process.stderr.write(`built ${DIST} from ${files.length} files in ${Math.round(performance.now() - started)} ms\n`);
}

main(process.argv.includes('--if-stale')).catch((err: unknown) => {
  process.stderr.write(`build failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
