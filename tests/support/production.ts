import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NODE } from './cli.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ProductionInstall {
  /** The install's root: package.json, dist/ (built by `npm run build`), node_modules/ (production packages only). */
  readonly dir: string;
  /** package.json `main`: the built server entry. */
  readonly main: string;
  /** Node's arguments for running a file of the install: only its production packages resolve. */
  readonly nodeArgs: readonly string[];
  remove(): Promise<void>;
}

/**
 * What README's production start produces, in a temporary directory: the project built by its build
 * script, and a node_modules holding only what `npm ci --omit=dev` installs (package-lock.json's
 * entries not marked `dev`), linked from the project's own node_modules so no install is needed. Node
 * runs with --preserve-symlinks, so a package's imports resolve inside this node_modules too, never in
 * the project's full tree: an import of a devDependency, anywhere, fails as it would in production.
 */
export async function productionInstall(): Promise<ProductionInstall> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-production-'));
  try {
    await run(NODE, ['scripts/build.ts', '--out-dir', path.join(dir, 'dist')]);
    await copyFile(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
    const lock = JSON.parse(await readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    for (const [key, entry] of Object.entries(lock.packages)) {
      const name = key.startsWith('node_modules/') ? key.slice('node_modules/'.length) : undefined;
      // Top-level packages only: nested ones live inside their parent's directory.
      if (!name || name.includes('/node_modules/') || entry.dev) continue;
      const target = path.join(ROOT, key);
      if (!existsSync(target)) continue; // an optional package for another platform
      await mkdir(path.dirname(path.join(dir, key)), { recursive: true });
      await symlink(target, path.join(dir, key), 'dir');
    }
    const { main } = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { main: string };
    return { dir, main, nodeArgs: ['--preserve-symlinks'], remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}
