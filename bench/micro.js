'use strict';
// In-process measurements: decision cost, one chain verification, and the
// authorization engine's revalidation pass over many live connections without
// sockets around it. Forked once per round (bench/metrics/decision.js and
// revalidate.js), so each starts on a clean heap; the rounds, more than the
// batches inside one worker, are what settle the median.
const { EventEmitter } = require('node:events');
const { X509Certificate } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { serve } = require('./lib/worker.js');
const { load } = require('./lib/load.js');
const { summary } = require('./lib/stats.js');

const CEDAR_POLICIES = `
@id("orders-read")
permit(principal, action == Action::"GET", resource)
  when { context.verified && context has certificate && context.certificate.issuer like "*continuous-tls bench CA*" };

@id("risky")
forbid(principal, action, resource) when { context has risk && context.risk.greaterThan(decimal("0.8")) };
`;

/**
 * A PEM chain as a connection's peer chain holds it: the library's own parsed certificate objects
 * where the build has them (one per DER, as every connection and request of that client shares).
 */
function chainOf(pem) {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const { parsedCertificate } = load();
  return blocks.map((block) =>
    parsedCertificate ? parsedCertificate(new X509Certificate(block).raw) : new X509Certificate(block),
  );
}

function requestInput(chain, path = '/orders/42') {
  return {
    trigger: 'request',
    peer: { certificate: chain[0], chain, verified: true },
    connection: {
      remoteAddress: '127.0.0.1',
      servername: 'localhost',
      alpnProtocol: false,
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      ageMs: 1234,
      reauthCount: 0,
    },
    request: { method: 'GET', path, headers: { host: 'localhost' } },
    // A decimal spelled out: a bare 0.2 is refused (Cedar has no fractions; see cedarDecimal).
    context: { risk: { __extn: { fn: 'decimal', arg: '0.2' } } },
  };
}

/**
 * Per-operation cost in µs of a synchronous `fn`: `batches` timed batches of
 * `perBatch` calls after a warm-up; the median batch wins (a noisy neighbour
 * slows some batches, not the code).
 */
function timeSync(fn, { perBatch, batches }) {
  for (let i = 0; i < perBatch; i++) fn(i);
  const perOp = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) fn(i);
    perOp.push(((performance.now() - t0) * 1000) / perBatch);
  }
  return summary(perOp).p50;
}

async function timeAsync(fn, { perBatch, batches }) {
  for (let i = 0; i < perBatch; i++) await fn(i);
  const perOp = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) await fn(i);
    perOp.push(((performance.now() - t0) * 1000) / perBatch);
  }
  return summary(perOp).p50;
}

/** A connection as the engine sees it, minus the socket: what revalidation costs per connection. */
class StubSubject {
  constructor(chain, trust) {
    this.kind = 'owned';
    // The engine verifies against the subject's context and stamps verdicts with its generation.
    this.trust = trust;
    this.certificateEpoch = 1;
    this.socket = new EventEmitter();
    this.socket.remoteAddress = '127.0.0.1';
    this.isServer = true;
    this.createdAt = Date.now();
    this.destroyed = false;
    this.chain = chain;
    this.first = true;
  }
  peerChain() {
    return this.chain;
  }
  exchangeVerdict() {
    // The handshake's own verdict, made under the context's generation at admission.
    if (this.first) {
      this.first = false;
      this.verdict = { ok: true, trust: this.trust, generation: this.trust.trustGeneration, epoch: 1 };
    }
    return this.verdict;
  }
  hold() {}
  release() {}
  requestFresh() {
    return Promise.reject(Object.assign(new Error('stub'), { code: 'ERR_CTLS_FRESH_UNSUPPORTED' }));
  }
  info() {
    return {
      remoteAddress: '127.0.0.1',
      servername: 'localhost',
      alpnProtocol: false,
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
    };
  }
  destroy() {
    this.destroyed = true;
    this.socket.emit('close');
  }
}

/**
 * The engine's subject interface grows (hold, release, deadlines …); every
 * socket-side operation the stub does not define is a no-op, so the figure
 * stays "engine work per connection" as the interface changes.
 */
function stub(chain, trust) {
  const target = new StubSubject(chain, trust);
  return new Proxy(target, {
    get(object, key) {
      if (key in object || typeof key === 'symbol') return object[key];
      return () => {};
    },
  });
}

serve({
  async decisions({ pki, quick }) {
    const { cached, DecisionCache, evaluatePolicy, cedarPolicy, builtByLibrary } = load();
    const chain = chainOf(pki.clients[1].cert);
    // The input a REST request gets, marked as authorizeRequest marks the inputs it builds. A miss
    // hands its input to the policy (app code), after which the library no longer vouches for that
    // object: the caches are primed with a twin, so the hits are timed on an input as just built.
    const built = () => (builtByLibrary ? builtByLibrary(requestInput(chain)) : requestInput(chain));
    const input = built();
    const sizes = quick ? { perBatch: 20_000, batches: 5 } : { perBatch: 200_000, batches: 7 };
    const asyncSizes = quick ? { perBatch: 5_000, batches: 5 } : { perBatch: 50_000, batches: 7 };
    const out = {};

    const fn = function ordersPolicy(i) {
      const cn = i.peer.certificate?.subject ?? '';
      return { allow: i.peer.verified && cn.includes('bench-client') && i.request?.method === 'GET', ttlMs: 60_000 };
    };
    if (typeof cached === 'function') {
      const policy = cached(fn, new DecisionCache({ max: 10_000 }));
      await policy.evaluate(built());
      const hit = policy.evaluate(input);
      if (hit?.source !== 'cache') throw new Error('the cached policy did not answer from its cache');
      out.cachedHitUs = timeSync(() => policy.evaluate(input), sizes);
      // The same hit through evaluatePolicy (normalization, timeout guard, one await).
      if (typeof evaluatePolicy === 'function')
        out.cachedEvaluateUs = await timeAsync(() => evaluatePolicy(policy, input), asyncSizes);
      // A policy that declares the facts it reads gets a key over those facts only, not over the whole input.
      const declared = Object.assign((i) => fn(i), {
        factsRead: () => ['peer.certificate.subject', 'peer.verified', 'request.method'],
      });
      const narrow = cached(declared, new DecisionCache({ max: 10_000 }));
      await narrow.evaluate(built());
      if (narrow.evaluate(input)?.source === 'cache')
        out.cachedDeclaredHitUs = timeSync(() => narrow.evaluate(input), sizes);
    }
    if (typeof evaluatePolicy === 'function') {
      out.functionUs = await timeAsync(() => evaluatePolicy(fn, input), asyncSizes);
      out.functionRawUs = timeSync(() => fn(input), sizes);
    }
    if (typeof cedarPolicy === 'function') {
      const cedar = cedarPolicy({ policies: CEDAR_POLICIES });
      const first = cedar.evaluate(input);
      if (!first.allow) throw new Error(`the Cedar bench policy denied: ${first.reason}`);
      // The compiled engine needs a few thousand calls before V8 has optimized it; the wasm engine
      // is slow enough that a few hundred per batch show its cost.
      const cedarSizes = quick ? { perBatch: 5_000, batches: 5 } : { perBatch: 20_000, batches: 7 };
      const wasmSizes = quick ? { perBatch: 500, batches: 5 } : { perBatch: 2_000, batches: 7 };
      out.cedarUs = timeSync(() => cedar.evaluate(input), cedarSizes);
      if (typeof evaluatePolicy === 'function')
        out.cedarEvaluateUs = await timeAsync(() => evaluatePolicy(cedar, input), cedarSizes);
      out.cedarEngine = cedar.engine;
      cedar.close();
      // The same decision on cedar-wasm itself, the engine before the compiled one (and the fallback).
      const onWasm = cedarPolicy({ policies: CEDAR_POLICIES, engine: 'wasm' });
      const wasmFirst = onWasm.evaluate(input);
      if (wasmFirst.allow !== first.allow || wasmFirst.reason !== first.reason)
        throw new Error(`the Cedar engines disagree: ${first.reason} / ${wasmFirst.reason}`);
      out.cedarWasmUs = timeSync(() => onWasm.evaluate(input), wasmSizes);
      onWasm.close();
    }
    return out;
  },

  /**
   * One verification of a presented client chain (leaf + intermediate) against
   * the CA and CRLs, three ways. Cold: a context that has not seen the chain, so
   * both certificates are decoded from DER first, as in a handshake or a
   * re-authentication (OpenSSL decodes the Certificate message every time).
   * Warm: the context's decoded-certificate cache holds them but the store was
   * just swapped, as in the revalidation sweep after a CRL update. Cached: the
   * same chain against the same store again, answered by the verified-chain cache.
   */
  verifyChain({ pki, quick }) {
    const { createSecureContext } = load();
    const der = chainOf(pki.clients[1].cert).map((c) => c.raw);
    const fresh = () => createSecureContext({ ca: pki.ca, crl: pki.crl }, true);
    const context = fresh();
    const outcome = context.verifyChain(der);
    if (!outcome.ok) throw new Error(`bench chain does not verify: ${outcome.code}`);
    const cachedUs = timeSync(
      () => context.verifyChain(der),
      quick ? { perBatch: 100, batches: 5 } : { perBatch: 500, batches: 11 },
    );
    const samples = quick ? 100 : 300;
    const warmSamples = [];
    for (let i = 0; i < samples; i++) {
      context.setCrl(pki.crl); // a new store: the verdict goes, the decoded certificates stay
      const t0 = performance.now();
      context.verifyChain(der);
      if (i >= 20) warmSamples.push((performance.now() - t0) * 1000);
    }
    const coldSamples = [];
    for (let i = 0; i < samples; i++) {
      const cold = fresh();
      const t0 = performance.now();
      cold.verifyChain(der);
      if (i >= 20) coldSamples.push((performance.now() - t0) * 1000);
    }
    return { us: summary(coldSamples).p50, warmUs: summary(warmSamples).p50, cachedUs };
  },

  /**
   * The engine alone: `connections` tracked subjects over `distinct` client
   * certificates, then a CRL swap that revokes one of them.
   */
  async engineRevalidation({ pki, connections, distinct }) {
    const { Authorizer, createSecureContext } = load();
    const trust = createSecureContext({ ca: pki.ca, crl: pki.crl }, true);
    const authorizer = new Authorizer({ trust, requireCertificate: true });
    const chains = pki.clients.slice(0, distinct).map((id) => chainOf(id.cert));
    const admitted = [];
    for (let i = 0; i < connections; i++) admitted.push(authorizer.admit(stub(chains[i % chains.length], trust)));
    await Promise.all(admitted);
    // An unmeasured pass with the same list first, for a warm JIT.
    trust.setCrl(pki.crl);
    await authorizer.trustChanged();
    trust.setCrl(pki.revokedCrl);
    const t0 = performance.now();
    const decisions = await authorizer.trustChanged();
    const ms = performance.now() - t0;
    authorizer.close();
    return { ms, decisions: decisions.length, denied: decisions.filter((d) => !d.allow).length };
  },
});
