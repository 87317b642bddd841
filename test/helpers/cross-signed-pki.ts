/**
 * A root migration in miniature, made with the openssl CLI: two roots, one intermediate key
 * certified by each (same name, same key, serials 101 and 202), and a client leaf of that key
 * (serial 303). `oldTrust` and `newTrust` are each root with its intermediate, as a server's `ca`.
 */
import type { Test } from 'tap';
import { OpensslWorkspace } from './openssl-ca';

export interface CrossSignedPki {
  oldTrust: string;
  newTrust: string;
  oldRoot: string;
  oldIntermediate: string;
  newRoot: string;
  newIntermediate: string;
  leaf: string;
  leafKey: string;
}

/** Two roots; one intermediate key certified by each (same name, same key); a leaf of that key. */
export function crossSignedPki(t: Test, label: string): CrossSignedPki {
  const ws = new OpensslWorkspace(t);
  const ca = ['-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'];
  const oldRoot = ws.ca('r1', '-subj', `/CN=${label} old root`, ...ca);
  const newRoot = ws.ca('r2', '-subj', `/CN=${label} new root`, ...ca);
  ws.run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'i.key');
  ws.run('req', '-new', '-key', 'i.key', '-subj', `/CN=${label} intermediate`, '-out', 'i.csr');
  ws.write('i.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n');
  for (const [root, out, serial] of [
    ['r1', 'i1.pem', '101'],
    ['r2', 'i2.pem', '202'],
  ]) {
    ws.run(
      'x509',
      '-req',
      '-in',
      'i.csr',
      '-CA',
      `${root}.pem`,
      '-CAkey',
      `${root}.key`,
      '-set_serial',
      serial!,
      '-days',
      '2',
      '-extfile',
      'i.ext',
      '-out',
      out!,
    );
  }
  ws.run(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'leaf.key',
    '-subj',
    '/CN=alice',
    '-out',
    'leaf.csr',
  );
  ws.write('leaf.ext', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  ws.run(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'i1.pem',
    '-CAkey',
    'i.key',
    '-set_serial',
    '303',
    '-days',
    '1',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.pem',
  );
  const oldIntermediate = ws.read('i1.pem');
  const newIntermediate = ws.read('i2.pem');
  return {
    oldTrust: oldRoot + oldIntermediate,
    newTrust: newRoot + newIntermediate,
    oldRoot,
    oldIntermediate,
    newRoot,
    newIntermediate,
    leaf: ws.read('leaf.pem'),
    leafKey: ws.read('leaf.key'),
  };
}
