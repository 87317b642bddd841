// VerifiedChains: chains that verified cleanly against one trust store, so a
// peer that presents the very same chain again (a fresh re-authentication, a
// returning client, a revalidation) is not verified again while nothing that
// decides the outcome has changed.
//
// X509_verify_cert is a function of the presented certificates, the store
// (CAs, CRLs, flags), the verification parameters and the clock. The cache
// matches the first three exactly: every certificate's DER, the store object
// itself, and the purpose, flags, depth and security level. The clock is
// covered by an expiry at the earliest notAfter in the verified chain and the
// earliest nextUpdate among the store's CRLs, and a short lifetime bounds the
// rest. Only clean successes are kept. A failure, or a success a verify
// callback forced past an error (a stale CRL in best-effort mode), goes
// through OpenSSL every time, so its error is reported the way OpenSSL
// reports it.
//
// A hit replays what a successful X509_verify_cert leaves behind: the verify
// callback is called with preverify_ok = 1 for each certificate from the
// anchor down to the leaf (as internal_verify does), and the verified chain is
// set, with the presenting connection's own leaf at depth 0.
#ifndef NATIVE_VERIFIED_CHAINS_H_
#define NATIVE_VERIFIED_CHAINS_H_

#include <ctime>
#include <string>
#include <unordered_map>

#include "openssl_core.h"

namespace ctls {

// The earliest notAfter among `chain`'s certificates, in epoch ms (-1 for none):
// the moment a chain built from it stops verifying for want of time alone.
double EarliestNotAfterMs(STACK_OF(X509) * chain);

class VerifiedChains {
 public:
  // X509_verify_cert(store_ctx), answered from the cache when it can be.
  // `purpose` is X509_PURPOSE_SSL_CLIENT or X509_PURPOSE_SSL_SERVER, as set on
  // store_ctx (OpenSSL 3.0 has no getter for it).
  int Verify(X509_STORE_CTX* store_ctx, int purpose);

  // verifyChain(): an already-presented chain (leaf, and the leaf again at the
  // head of `untrusted`, as OpenSSL's TLS verification lists it) against
  // `store` with `purpose` and the key-strength floor `auth_level`. In
  // best-effort revocation (`allow_stale_crl`) a CRL past its nextUpdate
  // counts. `ran` is false only when OpenSSL could not set up the check.
  struct Outcome {
    bool ran = false;
    bool ok = false;
    int error = X509_V_OK;
    int depth = 0;
    // The earliest notAfter of the verified chain, anchor and intermediates
    // from the store included (epoch ms); -1 when it did not verify.
    double not_after_ms = -1;
    // The verified chain itself, leaf first and anchor last (empty when it did not verify).
    X509StackPointer chain;
  };
  Outcome VerifyPresented(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, int purpose, int auth_level,
                          bool allow_stale_crl);
  // The same verification, with no cache: it neither reads entries nor keeps
  // any, so it may run on any thread while the main thread uses the cache
  // (OpenSSL lets concurrent verifications share a store once it is built).
  // For a trust change's batch (chain_batch.h), whose store is new anyway.
  static Outcome VerifyUncached(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, int purpose, int auth_level,
                                bool allow_stale_crl);

  // Keeps what VerifyUncached() found clean (a success with no error forced
  // past): the entry VerifyPresented would have made for the same leaf,
  // untrusted list, purpose and floor at `verified_at`, so a later
  // verification of that chain against `store` is answered from here.
  void Keep(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, int purpose, int auth_level,
            STACK_OF(X509) * chain, time_t verified_at);

  // Forgets every entry: the trust store was replaced.
  void Clear() { entries_.clear(); }

  size_t size() const { return entries_.size(); }
  uint64_t hits() const { return hits_; }

  static constexpr size_t kMaxEntries = 1024;
  // Longer keys (the DER of every presented certificate) are not cached.
  static constexpr size_t kMaxKeyBytes = 32 * 1024;
  static constexpr time_t kLifetimeSeconds = 60;

 private:
  struct Entry {
    X509StorePointer store;  // a reference, so no other store can reuse its address
    X509StackPointer chain;  // the verified chain, anchor last
    time_t verified_at;
    time_t expires_at;  // first second at which the entry no longer applies
  };

  // Appends what a presented chain is verified as: purpose and parameters,
  // then each certificate's DER with its length. False when the parameters
  // carry something the key does not cover (a host name, an e-mail address,
  // an IP address, a fixed verification time) or a certificate does not encode.
  static bool MakeKey(X509_STORE_CTX* store_ctx, int purpose, std::string* key);
  // Calls the verify callback as a successful verification of `chain` would,
  // with `leaf` at depth 0. False if the callback vetoes.
  static bool ReplaySuccess(X509_STORE_CTX* store_ctx, STACK_OF(X509) * chain, X509* leaf);
  static time_t ExpiryOf(X509_STORE* store, STACK_OF(X509) * chain, time_t now);
  // VerifyPresented through `cache`, or straight through OpenSSL when it is null.
  static Outcome Run(VerifiedChains* cache, X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, int purpose,
                     int auth_level, bool allow_stale_crl);
  void Remember(std::string key, X509_STORE* store, STACK_OF(X509) * chain, time_t now);

  std::unordered_map<std::string, Entry> entries_;
  uint64_t hits_ = 0;
};

}  // namespace ctls

#endif  // NATIVE_VERIFIED_CHAINS_H_
