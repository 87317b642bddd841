// TrustState: whom one context trusts (its store of CAs and CRLs, its CRL
// policy) with the cache of chains that verified against it, and a
// generation counter that names each trust the context has held.
// SecureContext owns one; a RecordEngine verifies its peer through the one of
// the context that decides whom it trusts. Node-API-free, so the fuzz
// harnesses verify through the very same object.
#ifndef NATIVE_TRUST_STATE_H_
#define NATIVE_TRUST_STATE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "openssl_core.h"
#include "verified_chains.h"

namespace ctls {

class TrustState {
 public:
  TrustState() : store_(X509_STORE_new()) {}
  TrustState(const TrustState&) = delete;
  TrustState& operator=(const TrustState&) = delete;

  // The store new verifications use. Connections fetch it right before each
  // verification, so a store swapped by Replace() applies to live
  // connections' next re-authentication too.
  X509_STORE* store() const { return store_.get(); }
  // Best-effort revocation: a CRL past its nextUpdate still counts.
  bool allow_stale_crl() const { return allow_stale_crl_; }
  // Counts Replace() calls: a verification names the trust it ran under by
  // this number, so one that a swap overtook is not taken for current.
  uint64_t generation() const { return generation_; }
  // Chains that verified cleanly against the store in force; handshakes,
  // re-authentications and verifyChain() all go through it.
  VerifiedChains& verified_chains() { return verified_chains_; }

  // Moves on at every Replace() and AbandonBatches(). A batch of background
  // verifications (chain_batch.h) started under another value stops before
  // its next chain: its verdicts could no longer be used. Shared, so a batch
  // can read it from a pool thread whatever becomes of this object.
  std::shared_ptr<std::atomic<uint64_t>> batch_epoch() const { return batch_epoch_; }
  void AbandonBatches() { batch_epoch_->fetch_add(1); }

  // Swaps in a whole new store: verifications already running keep the old
  // one (OpenSSL reference counts it), new ones see the new one.
  void Replace(X509StorePointer store, bool allow_stale_crl) {
    store_ = std::move(store);
    allow_stale_crl_ = allow_stale_crl;
    ++generation_;
    AbandonBatches();
    // Entries name the old store and could never match again; drop them (and
    // their reference to it) now.
    verified_chains_.Clear();
  }

 private:
  X509StorePointer store_;
  bool allow_stale_crl_ = false;
  uint64_t generation_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> batch_epoch_ = std::make_shared<std::atomic<uint64_t>>(0);
  VerifiedChains verified_chains_;
};

}  // namespace ctls

#endif  // NATIVE_TRUST_STATE_H_
