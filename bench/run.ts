import 'reflect-metadata';
import { startBenchServer, type BenchRow } from './harness.js';
import { scenarios } from './scenarios/index.js';

/**
 * `npm run bench [-- name-filter]`: every scenario against its baseline measured in the same run, on a
 * private embedded Postgres. Prints one table; bench/README.md records typical figures.
 */
async function main(): Promise<void> {
  const filter = process.argv[2];
  const server = await startBenchServer();
  const rows: BenchRow[] = [];
  try {
    for (const scenario of scenarios.filter((s) => !filter || s.name.includes(filter))) {
      process.stderr.write(`running ${scenario.name} …\n`);
      rows.push(...(await scenario.run(server)));
    }
  } finally {
    await server.stop();
  }
  const header = ['scenario', 'measured', 'baseline', 'ratio', 'note'];
  const table = rows.map((r) => [r.scenario, r.measured, r.baseline, r.ratio === null ? '-' : `×${r.ratio.toFixed(2)}`, r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log([line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line)].join('\n'));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
