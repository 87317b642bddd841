// ChainBatch: many presented chains verified against one store on libuv's
// thread pool, several threads at once, for verifyChains(). A trust change
// (a CRL or CA swap) re-decides every live connection, and each distinct chain
// then costs a full X509_verify_cert (four signature checks for a leaf and an
// intermediate with CRLs at both levels). Run on the event loop, that stalls
// the process for as long as the chains take; here the loop stays free and
// the work spreads over the cores.
//
// Everything a worker touches is its own or read-only: the store is a
// reference taken when the batch starts (a swap in the meantime installs
// another store and leaves this one as it was), every certificate is a
// reference or is decoded by the worker, and no cache is read or written
// (VerifiedChains::VerifyUncached). Once every worker is done, on the main
// thread, the clean successes go into the context's verified-chain cache
// (while its store is still the batch's) and the results to JavaScript.
#ifndef NATIVE_CHAIN_BATCH_H_
#define NATIVE_CHAIN_BATCH_H_

#include <napi.h>

#include <string>
#include <vector>

#include "openssl_core.h"
#include "trust_state.h"
#include "verified_chains.h"

namespace ctls {

// One presented certificate: decoded already (a reference), or its DER for
// the worker to decode.
struct BatchCertificate {
  X509Pointer decoded;
  std::string der;
  bool is_leaf = false;
};

// One chain to verify: the presented certificates in order (the first Buffer,
// when it decodes, is the leaf), then any extra untrusted ones.
struct BatchChain {
  std::vector<BatchCertificate> certificates;
  int purpose = X509_PURPOSE_SSL_CLIENT;
};

// Whether `env` can still run JavaScript: false in a worker thread that is
// being torn down, whose pool work completes during its cleanup. Node-API
// calls that would run JavaScript fail there, and node-addon-api turns such a
// failure into a fatal error when C++ exceptions are off.
bool CanRunJavaScript(napi_env env);

// The { ok, code, error, depth, notAfter?, chain? } object verifyChain()
// answers with; `leaf_decoded` false gives the "could not decode" answer, and
// an outcome that never ran (OpenSSL could not set the check up) a failure.
Napi::Object VerifyOutcomeObject(Napi::Env env, bool leaf_decoded, const VerifiedChains::Outcome& outcome);

// Starts verifying `chains` against `trust`'s store as it is now and returns
// a promise of one outcome object per chain, in order; null in place of each
// chain the batch did not get to because `trust` abandoned it (a newer store,
// or AbandonBatches()). `threads` is the most pool threads all the process's
// batches together may hold: this one takes what is left of it, up to one per
// chain, and when nothing is left it starts nothing and returns undefined.
// The promise carries abandon(), which stops this batch alone before its next
// chain, and started(), the number of its workers the pool has begun to run.
// `owner` is the JS object that owns `trust`, kept alive until the batch is done.
Napi::Value VerifyChainsInBackground(Napi::Env env, Napi::Object owner, TrustState* trust, int auth_level,
                                     std::vector<BatchChain> chains, size_t threads);

}  // namespace ctls

#endif  // NATIVE_CHAIN_BATCH_H_
