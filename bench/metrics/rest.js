'use strict';
// rest: HTTPS requests/s with client certificates, driven by autocannon over
// keep-alive connections for a fixed duration: node:https against an owned
// TLS server that hands each authorized socket to node:http, each with and
// without authorizeRequest in front of the handler (a plain function policy
// behind its default decision cache). The share of requests/s kept with
// authorizeRequest is computed per round, from the two arms of that round.
const { tierArms, withPair, rounds, pick } = require('../lib/harness.js');
const { finishRow, LEVEL, levelGoal } = require('../lib/rows.js');
const { load } = require('../lib/load.js');

const describe = 'REST requests/s with and without authorizeRequest (autocannon over HTTPS with client certificates)';

async function run(ctx) {
  const size = ctx.size.rest;
  const plain = tierArms(ctx, ['owned']);
  const hasMiddleware = typeof load().authorizeRequest === 'function';
  const withAuthz = hasMiddleware
    ? plain
        .filter((a) => a.id !== 'node-aa')
        .map((a) => ({
          ...a,
          id: a.id.replace(a.tier, `${a.tier}+authz`),
          label: `${a.label} + authorizeRequest`,
          authz: true,
        }))
    : [];
  const results = await rounds(ctx, 'REST (autocannon)', [...plain, ...withAuthz], (a) =>
    withPair(ctx, a, 'rest', ({ client, port }) => client.call('autocannon', { pki: ctx.pki, port, ...size }), {
      startArgs: { rest: { authz: a.authz === true } },
    }),
  );
  const only = (filter, rename = (id) => id) =>
    Object.fromEntries(
      Object.entries(results)
        .filter(([id]) => filter(id))
        .map(([id, list]) => [rename(id), list]),
    );
  const rest = finishRow(ctx, {
    id: 'rest',
    label: `REST requests/s, HTTPS + client certs (${size.connections} keep-alive connections)`,
    unit: '/s',
    better: 'higher',
    samples: pick(
      only((id) => !id.includes('+authz')),
      'perSec',
    ),
    target: LEVEL,
  });
  levelGoal(ctx, 'rest', 'REST requests/s >= 1.00x node:https', rest);
  if (!hasMiddleware) return [rest];
  const authz = only(
    (id) => id.includes('+authz'),
    (id) => id.replace('+authz', ''),
  );
  const kept = {};
  for (const [id, list] of Object.entries(authz))
    kept[id] = list.map((r, i) => (100 * r.perSec) / results[id][i].perSec);
  const restAuthz = finishRow(ctx, {
    id: 'rest-authz',
    label: '  REST requests/s with authorizeRequest (cached policy)',
    unit: '/s',
    better: 'higher',
    samples: pick(authz, 'perSec'),
    noiseFrom: rest,
    target: LEVEL,
  });
  levelGoal(ctx, 'rest-authz', 'REST requests/s with authorizeRequest >= 1.00x node:https with it', restAuthz);
  return [
    rest,
    restAuthz,
    finishRow(ctx, {
      id: 'rest-authz-kept',
      label: '  share of requests/s kept with authorizeRequest',
      unit: '%',
      better: 'higher',
      samples: kept,
      noiseFrom: rest,
    }),
  ];
}

module.exports = { describe, run };
