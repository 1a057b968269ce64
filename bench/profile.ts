/**
 * `node bench/profile.ts <file.cpuprofile> [top]`: where a V8 CPU profile (`--cpu-prof`, e.g. from
 * BENCH_API_PROF) spent its samples, idle time left out:
 *
 * - by package (inclusive: a sample counts once for every package on its stack; `self` is the share
 *   where that package's code was on top): node_modules/<pkg>, the project's src/, Node's internals,
 *   (garbage collector), (program);
 * - the functions with the most self time, and with the most inclusive time.
 *
 * Run by Node 24's own type stripping: erasable TypeScript only, no module of the project.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: number[];
}

interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const TOP = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** The package a frame belongs to. */
function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node: internals';
  const src = url.indexOf('/dist/');
  if (src >= 0) return 'project (dist/)';
  if (url.includes('/src/')) return 'project (src/)';
  return url;
}

const frameName = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/')}:${f.lineNumber + 1}`;

const selfByPackage = new Map<string, number>();
const inclusiveByPackage = new Map<string, number>();
const selfByFrame = new Map<string, number>();
const inclusiveByFrame = new Map<string, number>();
let total = 0;
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

profile.samples.forEach((id, i) => {
  const leaf = byId.get(id)!;
  if (leaf.callFrame.functionName === '(idle)') return;
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  add(selfByPackage, packageOf(leaf.callFrame), dt);
  add(selfByFrame, frameName(leaf.callFrame), dt);
  const packages = new Set<string>();
  const frames = new Set<string>();
  for (let n: ProfileNode | undefined = leaf; n; n = byId.get(parent.get(n.id) ?? -1)) {
    if (n.callFrame.functionName === '(root)') continue;
    packages.add(packageOf(n.callFrame));
    frames.add(frameName(n.callFrame));
  }
  for (const p of packages) add(inclusiveByPackage, p, dt);
  for (const f of frames) add(inclusiveByFrame, f, dt);
});

const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)} %`;
const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);

console.log(`${(total / 1e6).toFixed(2)} s of samples, idle left out\n\nby package: inclusive, self`);
for (const [p, v] of sorted(inclusiveByPackage).slice(0, TOP)) console.log(`${pct(v)}  ${pct(selfByPackage.get(p) ?? 0)}  ${p}`);
console.log('\nself time');
for (const [f, v] of sorted(selfByFrame).slice(0, TOP)) console.log(`${pct(v)}  ${f}`);
console.log('\ninclusive time');
for (const [f, v] of sorted(inclusiveByFrame).slice(0, TOP * 2)) console.log(`${pct(v)}  ${f}`);
