// The package ships dist/ without lib/, so every source map must carry its sources: a stack trace
// or a debugger in a user's app then resolves to the TypeScript that was compiled.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dist = join(__dirname, '..', 'dist');

function maps(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return maps(path);
    return name.endsWith('.js.map') ? [path] : [];
  });
}

t.test('every source map in dist/ embeds the source it maps to', async (t) => {
  const found = maps(dist);
  t.ok(found.length > 20, 'source maps were built');
  const missing: string[] = [];
  for (const file of found) {
    const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
    map.sources.forEach((source, i) => {
      const content = map.sourcesContent?.[i];
      if (typeof content !== 'string' || content.length === 0) missing.push(`${file}: ${source}`);
    });
  }
  t.same(missing, [], 'no map points at a file the package does not ship');
});
