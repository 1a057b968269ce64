/** Reading the repository's markdown documents in tests that check them against the code. */

/** The lines of a markdown section, from its heading to the next heading of the same or a higher level. */
export function section(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.replace(/^#+ /, '') === heading && l.startsWith('#'));
  if (start < 0) throw new Error(`no section "${heading}"`);
  const level = lines[start].indexOf(' ');
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && l.indexOf(' ') <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The cells of a section's table rows (header and separator left out). */
export const tableRows = (lines: string[]) =>
  lines
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l))
    .slice(1)
    .map((l) => l.slice(1, -1).split(' | ').map((cell) => cell.trim()));

/** Code spans of markdown text (fenced blocks left out). */
export const backticked = (text: string) => [...text.replace(/^```[^]*?^```$/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
