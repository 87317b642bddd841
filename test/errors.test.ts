// Every error code is documented: each ERR_CTLS_* code in errorCodes has a section in
// docs/errors.md, the document names no code that does not exist, every ERR_CTLS_* code the
// sources use is declared, and every verification error name the addon can report is explained.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorCodes, ContinuousTlsError, opensslFields } from '../dist/common/errors.js';

const root = join(__dirname, '..');
const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
const CODE = /\bERR_CTLS_[A-Z0-9_]*[A-Z0-9]\b/g;

function sources(dir: string, pattern: RegExp): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sources(path, pattern));
    else if (pattern.test(entry.name)) found.push(path);
  }
  return found;
}

t.test('every code in errorCodes has its own section in docs/errors.md', async (t) => {
  const headings = new Set([...doc.matchAll(/^#{2,4} (ERR_CTLS_[A-Z0-9_]+)\s*$/gm)].map((match) => match[1]));
  for (const code of Object.keys(errorCodes)) {
    t.ok(headings.has(code), `${code} is documented`);
  }
  for (const heading of headings) {
    t.ok(Object.hasOwn(errorCodes, heading!), `the documented ${heading} exists in errorCodes`);
  }
});

t.test('the document names no code that is not declared', async (t) => {
  const mentioned = new Set(doc.match(CODE) ?? []);
  for (const code of mentioned) t.ok(Object.hasOwn(errorCodes, code), `${code} is declared`);
});

t.test('every ERR_CTLS_* code used in lib/ and native/ is declared', async (t) => {
  const files = [...sources(join(root, 'lib'), /\.ts$/), ...sources(join(root, 'native'), /\.(cc|h)$/)];
  const used = new Set<string>();
  for (const file of files) for (const code of readFileSync(file, 'utf8').match(CODE) ?? []) used.add(code);
  t.ok(used.size > 10, `found ${used.size} codes in ${files.length} files`);
  for (const code of used) t.ok(Object.hasOwn(errorCodes, code), `${code} is declared in errorCodes`);
});

t.test('the ERR_SSL_<REASON> family and its fields are documented', async (t) => {
  t.match(doc, /ERR_SSL_&lt;REASON&gt;|ERR_SSL_<REASON>/);
  for (const field of ['reason', 'library', 'opensslCode'])
    t.match(doc, new RegExp('`' + field + '`'), `field ${field}`);
  const error = new ContinuousTlsError('ERR_CTLS_TLS', 'x', { reason: 'r', library: 'l', opensslCode: 1 });
  t.match(
    error,
    { code: 'ERR_CTLS_TLS', reason: 'r', library: 'l', opensslCode: 1 },
    'the fields exist on the error class',
  );
});

t.test('opensslFields copies the OpenSSL fields of a native error, with the error as cause', async (t) => {
  const native = Object.assign(new Error('x'), {
    reason: 'bad decrypt',
    library: 'Provider routines',
    opensslCode: 0x1c800064,
    code: 'X',
  });
  const fields = opensslFields(native);
  t.same(fields, { cause: native, reason: 'bad decrypt', library: 'Provider routines', opensslCode: 0x1c800064 });
  t.match(new ContinuousTlsError('ERR_CTLS_BAD_PEM', 'y', fields), {
    reason: 'bad decrypt',
    library: 'Provider routines',
    opensslCode: 0x1c800064,
    cause: native,
  });
  const odd = Object.assign(new Error('x'), { reason: 7, library: null, opensslCode: '12' });
  t.same(opensslFields(odd), { cause: odd }, 'fields of the wrong type are left out');
  t.same(opensslFields(undefined), {}, 'nothing to copy from a non-object');
  t.same(opensslFields('text'), {});
});

t.test('every verification error name the addon reports is explained', async (t) => {
  const util = readFileSync(join(root, 'native', 'openssl_core.cc'), 'utf8');
  const names = [...util.matchAll(/^\s*CASE\(([A-Z0-9_]+)\)/gm)].map((match) => match[1]!);
  t.ok(names.length > 20, `${names.length} names in VerifyErrorCode()`);
  for (const name of [...names, 'UNSPECIFIED', 'NO_PEER_CERTIFICATE', 'UNABLE_TO_DECODE_CERTIFICATE']) {
    t.match(doc, new RegExp('\\| `' + name + '` \\|'), `${name} has a row`);
  }
});
