// Reads the fenced code blocks of the Markdown documents, with the HTML-comment markers that
// name a block or say which block it continues. CONTRIBUTING.md ("Examples in the docs") states
// the conventions; test/docs-examples.test.ts runs what this returns.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { relative } from 'node:path';

export interface DocBlock {
  /** The document, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string, e.g. 'js', 'mjs', 'ts', 'sh' ('' when none). */
  lang: string;
  code: string;
  /** From `<!-- example: NAME -->` right above the fence. */
  name?: string;
  /** From `<!-- continues: NAME -->` right above the fence. */
  continues?: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;
const MARKER = /^<!--\s*(example|continues):\s*([\w.-]+)\s*-->\s*$/;

/** Every fenced block of one Markdown file, in order. */
export function readBlocks(path: string, root: string): DocBlock[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const file = relative(root, path);
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const [, indent, fence, lang] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (line.trimStart().startsWith(fence!) && line.trim() === line.trim().charAt(0).repeat(line.trim().length))
        break;
      body.push(line.startsWith(indent!) ? line.slice(indent!.length) : line);
    }
    const block: DocBlock = { file, line: i + 1, lang: lang ?? '', code: body.join('\n') + '\n' };
    // Markers sit on the lines directly above the fence.
    for (let k = i - 1; k >= 0; k--) {
      const marker = MARKER.exec(lines[k]!.trim());
      if (marker === null) break;
      if (marker[1] === 'example') block.name = marker[2]!;
      else block.continues = marker[2]!;
    }
    blocks.push(block);
    i = j;
  }
  return blocks;
}

/** Where a block is, for messages: `docs/api.md:42`. */
export function where(block: DocBlock): string {
  return `${block.file}:${block.line}`;
}

/**
 * The whole program a block stands for: the program of the block it continues (recursively),
 * then its own code. Throws when a name is unknown, of another language, or loops.
 */
export function programOf(block: DocBlock, byName: Map<string, DocBlock>, seen = new Set<DocBlock>()): string {
  if (block.continues === undefined) return block.code;
  if (seen.has(block)) throw new Error(`${where(block)}: "continues" markers form a loop`);
  seen.add(block);
  const base = byName.get(block.continues);
  if (base === undefined) throw new Error(`${where(block)} continues "${block.continues}", which no block is named`);
  if (base.lang !== block.lang)
    throw new Error(`${where(block)} (${block.lang}) continues ${where(base)} (${base.lang})`);
  return programOf(base, byName, seen) + block.code;
}

/** Bare package names a program imports or requires (not node: builtins, not relative paths). */
export function packagesUsed(code: string): string[] {
  const names = new Set<string>();
  const specifier = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm;
  for (const match of code.matchAll(specifier)) {
    const spec = match[1]!;
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec))
      continue;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return [...names];
}
