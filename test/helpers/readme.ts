/**
 * Code examples taken from README.md by a marker, not by position, so that the README can be
 * rewritten freely: an HTML comment line `<!-- example: NAME -->` directly followed (blank lines
 * allowed) by a fenced ```js block marks that block as the example NAME.
 */

/** The code of the ```js block right after the line `<!-- example: name -->`; throws when there is none, or more than one. */
export function exampleFromMarkdown(markdown: string, name: string): string {
  const marker = `<!-- example: ${name} -->`;
  const lines = markdown.split(/\r?\n/);
  const at = lines.flatMap((line, i) => (line.trim() === marker ? [i] : []));
  if (at.length === 0) throw new Error(`no line '${marker}' in the README: it marks the \`\`\`js block of the example`);
  if (at.length > 1) throw new Error(`'${marker}' is on ${at.length} lines (${at.map((i) => i + 1).join(', ')}) of the README: one example per name`);
  let open = at[0]! + 1;
  while (open < lines.length && lines[open]!.trim() === '') open++;
  if (!/^```(js|javascript|mjs)\s*$/.test(lines[open] ?? '')) {
    throw new Error(`line ${at[0]! + 1} of the README, '${marker}', is not directly followed by a \`\`\`js block (line ${open + 1}: ${JSON.stringify(lines[open] ?? '')})`);
  }
  const close = lines.findIndex((line, i) => i > open && /^```\s*$/.test(line));
  if (close < 0) throw new Error(`the \`\`\`js block on line ${open + 1} of the README is never closed`);
  return `${lines.slice(open + 1, close).join('\n')}\n`;
}
