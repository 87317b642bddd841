#include "chain_batch.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <utility>

#include "js_values.h"
#include "openssl_util.h"

namespace ctls {

namespace {

// Pool threads that batches hold now, over every batch of the process (worker
// threads' included: libuv's pool is the process's).
std::atomic<size_t> threads_in_use{0};

// Reserves up to `wanted` threads while all batches hold at most `limit`; how many it got.
size_t ReserveThreads(size_t wanted, size_t limit) {
  size_t in_use = threads_in_use.load();
  for (;;) {
    if (in_use >= limit) return 0;
    const size_t take = std::min(wanted, limit - in_use);
    if (threads_in_use.compare_exchange_weak(in_use, in_use + take)) return take;
  }
}

// What JavaScript keeps of one batch, through the abandon() and started()
// functions on its promise: the stop of this batch alone (a context's
// AbandonBatches() stops all of its batches, another engine's included), and
// how many of its workers the pool has begun to run, so a caller can tell a
// batch that waits behind other work on the pool from one that runs.
struct BatchControl {
  std::atomic<bool> stopped{false};
  std::atomic<uint32_t> started{0};
};

// What every worker of one batch shares. Workers write only their own slice
// of `results`; the promise and the count are touched on the main thread.
struct Batch {
  Batch(Napi::Env env, Napi::Object owner_object, TrustState* trust_state)
      : deferred(Napi::Promise::Deferred::New(env)),
        owner(Napi::Persistent(owner_object)),
        trust(trust_state),
        allow_stale_crl(trust_state->allow_stale_crl()),
        epoch_source(trust_state->batch_epoch()),
        epoch(epoch_source->load()) {
    if (X509_STORE_up_ref(trust_state->store()) == 1) store.reset(trust_state->store());
  }
  bool abandoned() const { return control->stopped.load() || epoch_source->load() != epoch; }
  struct Result {
    bool verified = false;  // false: abandoned before this chain
    bool leaf_decoded = false;
    VerifiedChains::Outcome outcome;
    // What the verification ran on, for the cache (see Keep).
    X509Pointer leaf;
    X509StackPointer untrusted;
    time_t verified_at = 0;
  };
  Napi::Promise::Deferred deferred;
  // Keeps the SecureContext that owns `trust` alive until the batch is done.
  Napi::ObjectReference owner;
  TrustState* trust;
  X509StorePointer store;
  int auth_level = 0;
  bool allow_stale_crl;
  std::shared_ptr<std::atomic<uint64_t>> epoch_source;
  uint64_t epoch;
  std::shared_ptr<BatchControl> control = std::make_shared<BatchControl>();
  std::vector<BatchChain> chains;
  std::vector<Result> results;
  size_t workers_left = 0;
};

class BatchWorker : public Napi::AsyncWorker {
 public:
  BatchWorker(Napi::Env env, std::shared_ptr<Batch> batch, size_t begin, size_t end)
      : Napi::AsyncWorker(env, "continuous-tls:verifyChains"), batch_(std::move(batch)), begin_(begin), end_(end) {}
  // Run, cancelled or torn down with its environment, the thread goes back to the batches' budget.
  ~BatchWorker() override { threads_in_use.fetch_sub(1); }

  void Execute() override {
    batch_->control->started.fetch_add(1);
    for (size_t i = begin_; i < end_ && !batch_->abandoned(); ++i) {
      Verify(batch_->chains[i], &batch_->results[i]);
      batch_->results[i].verified = true;
    }
    // Pool threads run other work next (node's own crypto among it): leave
    // nothing on this thread's error queue.
    ERR_clear_error();
  }

  void OnOK() override { Finish(); }
  void OnError(const Napi::Error&) override { Finish(); }

 private:
  void Verify(const BatchChain& chain, Batch::Result* result) {
    X509StackPointer untrusted(sk_X509_new_null());
    X509Pointer leaf;
    // Out of memory, or no reference to the store: reported as a check OpenSSL could not set up.
    if (!untrusted || !batch_->store) {
      result->leaf_decoded = true;
      return;
    }
    for (const BatchCertificate& item : chain.certificates) {
      X509Pointer certificate;
      if (item.decoded) {
        if (X509_up_ref(item.decoded.get()) == 1) certificate.reset(item.decoded.get());
      } else {
        certificate = DecodeDer(reinterpret_cast<const unsigned char*>(item.der.data()), item.der.size());
      }
      if (!certificate) continue;
      // The leaf also heads the untrusted list, as verifyChain() lists it.
      if (item.is_leaf && X509_up_ref(certificate.get()) == 1) leaf.reset(certificate.get());
      if (sk_X509_push(untrusted.get(), certificate.get())) certificate.release();
    }
    if (!leaf) return;
    result->leaf_decoded = true;
    result->verified_at = time(nullptr);
    result->outcome = VerifiedChains::VerifyUncached(batch_->store.get(), leaf.get(), untrusted.get(), chain.purpose,
                                                     batch_->auth_level, batch_->allow_stale_crl);
    result->leaf = std::move(leaf);
    result->untrusted = std::move(untrusted);
  }

  // The clean successes into the context's verified-chain cache, as a verification on the main
  // thread would have kept them; not once the context has another store.
  void KeepClean() {
    if (batch_->trust->store() != batch_->store.get()) return;
    for (size_t i = 0; i < batch_->chains.size(); ++i) {
      Batch::Result& result = batch_->results[i];
      const VerifiedChains::Outcome& outcome = result.outcome;
      if (!result.verified || !outcome.ok || outcome.error != X509_V_OK || !outcome.chain || !result.leaf) continue;
      batch_->trust->verified_chains().Keep(batch_->store.get(), result.leaf.get(), result.untrusted.get(),
                                            batch_->chains[i].purpose, batch_->auth_level, outcome.chain.get(),
                                            result.verified_at);
    }
  }

  void Finish() {
    if (--batch_->workers_left > 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    // A worker thread torn down while the batch ran still completes it, from its cleanup, where
    // JavaScript cannot run any more: answering then would abort the whole process.
    if (!CanRunJavaScript(env)) return;
    KeepClean();
    Napi::Array outcomes = Napi::Array::New(env, batch_->results.size());
    for (size_t i = 0; i < batch_->results.size(); ++i) {
      const Batch::Result& result = batch_->results[i];
      DefineElement(
          env, outcomes, static_cast<uint32_t>(i),
          result.verified ? Napi::Value(VerifyOutcomeObject(env, result.leaf_decoded, result.outcome)) : env.Null());
    }
    batch_->deferred.Resolve(outcomes);
  }

  std::shared_ptr<Batch> batch_;
  size_t begin_;
  size_t end_;
};

// abandon() and started() on the batch's promise. Each function owns a
// reference to the control, so either may be called after the batch is done.
bool AddControls(Napi::Env env, Napi::Promise promise, const std::shared_ptr<BatchControl>& control) {
  Napi::Function abandon = Napi::Function::New(
      env,
      [control](const Napi::CallbackInfo& info) -> Napi::Value {
        control->stopped.store(true);
        return info.Env().Undefined();
      },
      "abandon");
  if (env.IsExceptionPending()) return false;
  Napi::Function started = Napi::Function::New(
      env,
      [control](const Napi::CallbackInfo& info) -> Napi::Value {
        return Napi::Number::New(info.Env(), control->started.load());
      },
      "started");
  if (env.IsExceptionPending()) return false;
  return DefineOwn(env, promise, "abandon", abandon) && DefineOwn(env, promise, "started", started);
}

}  // namespace

bool CanRunJavaScript(napi_env env) {
  napi_value object;
  napi_value value;
  return napi_create_object(env, &object) == napi_ok && napi_get_boolean(env, true, &value) == napi_ok &&
         napi_set_named_property(env, object, "alive", value) == napi_ok;
}

Napi::Object VerifyOutcomeObject(Napi::Env env, bool leaf_decoded, const VerifiedChains::Outcome& outcome) {
  Napi::Object result = Napi::Object::New(env);
  if (!leaf_decoded || !outcome.ran) {
    // A check OpenSSL could not set up: verifyChain() throws instead, but one chain of a batch
    // must not fail the others, so it is answered in its place.
    DefineOwn(env, result, "ok", false);
    DefineOwn(env, result, "code", leaf_decoded ? "UNSPECIFIED" : "UNABLE_TO_DECODE_CERTIFICATE");
    DefineOwn(env, result, "error",
              leaf_decoded ? "X509_STORE_CTX_init failed" : "the leaf certificate could not be decoded");
    DefineOwn(env, result, "depth", 0.0);
    return result;
  }
  DefineOwn(env, result, "ok", outcome.ok);
  DefineOwn(env, result, "code", outcome.ok ? env.Null() : Napi::String::New(env, VerifyErrorCode(outcome.error)));
  DefineOwn(env, result, "error",
            outcome.ok ? env.Null() : Napi::String::New(env, X509_verify_cert_error_string(outcome.error)));
  DefineOwn(env, result, "depth", static_cast<double>(outcome.depth));
  if (outcome.ok) {
    DefineOwn(env, result, "notAfter", outcome.not_after_ms);
    DefineOwn(env, result, "chain", ChainToArray(env, outcome.chain.get()));
  }
  return result;
}

Napi::Value VerifyChainsInBackground(Napi::Env env, Napi::Object owner, TrustState* trust, int auth_level,
                                     std::vector<BatchChain> chains, size_t threads) {
  // Nothing is started over an exception the caller left pending.
  if (env.IsExceptionPending()) return env.Undefined();
  const size_t count = chains.size();
  const size_t workers = count == 0 ? 0 : ReserveThreads(std::min(threads, count), threads);
  if (count > 0 && workers == 0) return env.Undefined();
  auto batch = std::make_shared<Batch>(env, owner, trust);
  if (env.IsExceptionPending()) {
    // No promise could be made: give the threads back and queue nothing.
    threads_in_use.fetch_sub(workers);
    return env.Undefined();
  }
  Napi::Promise promise = batch->deferred.Promise();
  if (!AddControls(env, promise, batch->control)) {
    threads_in_use.fetch_sub(workers);
    return env.Undefined();
  }
  batch->auth_level = auth_level;
  batch->chains = std::move(chains);
  batch->results.resize(count);
  if (count == 0) {
    batch->deferred.Resolve(Napi::Array::New(env));
    return promise;
  }
  // Contiguous slices, as even as whole chains allow.
  batch->workers_left = workers;
  for (size_t w = 0; w < workers; ++w) {
    const size_t begin = count * w / workers;
    const size_t end = count * (w + 1) / workers;
    (new BatchWorker(env, batch, begin, end))->Queue();
  }
  return promise;
}

}  // namespace ctls
