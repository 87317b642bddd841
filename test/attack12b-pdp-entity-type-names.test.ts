// Attack: the compiled Cedar engine remembers every entity type name it has accepted in a
// process-wide Set (policy/cedar/runtime.ts, isEntityTypeName: `checkedNames`), bounded to 10,000
// names but not in bytes, and never emptied. The decision point (startPdpServer) takes the
// principal's and the resource's types from the caller's AuthZEN request (`subject.type`,
// `resource.type`), so one caller sending requests whose types are long unique names, each up to
// the 256 KiB body limit, pins up to 10,000 × 256 KiB (2.5 GB) in the decision point for the life of
// the process, for every other caller too; the in-process CedarPolicy.authorize() does the same for
// whatever a mapping takes from its input.
//
// A correct library keeps no per-name memo that a caller can fill with big strings: it bounds the
// memo in bytes (or keeps only short names, as the cache key's encodedNames does), or just tests
// the name each time.
//
// Attack class: exhaustion (state a caller makes grow, that never shrinks; shared services).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { startPdpServer } from '../dist/dev/pdp-server.js';
import { tempDir } from './helpers/policy-files';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOKEN = 'a-test-token-of-enough-length';

/** A valid Cedar type name of `length` letters, unique for `n`. */
function typeName(n: number, length: number): string {
  let prefix = '';
  for (let k = n; ; k = Math.floor(k / 26) - 1) {
    prefix = String.fromCharCode(65 + (k % 26)) + prefix;
    if (k < 26) break;
  }
  return prefix + 'x'.repeat(length - prefix.length);
}

async function settle(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

t.test("a caller's entity type names do not stay in the decision point's memory", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
  const server = await startPdpServer({ policies: dir, watch: false, tokens: [TOKEN] });
  t.teardown(() => server.close());

  const ask = async (n: number): Promise<number> => {
    const res = await fetch(`${server.url}/access/v1/evaluation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        subject: { type: typeName(n, 240 * 1024), id: 'alice' },
        action: { name: 'GET' },
        resource: { type: 'Resource', id: '/' },
      }),
    });
    await res.arrayBuffer();
    return res.status;
  };

  t.equal(await ask(0), 200, 'the decision point answers a request with a long type name');
  const before = await settle();
  const REQUESTS = 150;
  for (let n = 1; n <= REQUESTS; n++) await ask(n);
  const grown = (await settle()) - before;
  const sent = REQUESTS * 240 * 1024;
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  t.ok(grown < sent / 4, `the decision point keeps ${mib(grown)} MiB after ${mib(sent)} MiB of type names`);
});
