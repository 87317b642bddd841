// Shared by the libFuzzer harnesses: a deterministic random source, a small
// PKI made at start-up, and contexts built the way SecureContext builds them
// (RecordEngine::NewContext, ReadIdentity, ReadTrustStore, VerifiedChains).
#ifndef TEST_FUZZ_FUZZ_COMMON_H_
#define TEST_FUZZ_FUZZ_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../../native/openssl_core.h"
#include "../../native/verified_chains.h"

namespace ctls_fuzz {

// Whose random bytes OpenSSL is drawing. Each actor has its own stream, so a
// transcript recorded with a live peer replays byte for byte without it: the
// target draws the same numbers, derives the same keys and can decrypt the
// recorded flights.
enum class Actor { kTarget, kPeer };
void UseDeterministicRandom();
void ResetRandom(uint64_t seed);
void SetActor(Actor actor);

struct ActorScope {
  explicit ActorScope(Actor actor) { SetActor(actor); }
  ~ActorScope() { SetActor(Actor::kTarget); }
};

// PEM text of the test PKI: a root CA, an intermediate, leaves signed by it,
// one revoked by the CRL, and one from an unrelated CA. Fixed validity
// (2020 to 2099) and deterministic keys, so every run makes the same bytes.
struct Pki {
  std::string ca_pem;                                  // root
  std::string other_ca_pem;                            // an unrelated root
  std::string crl_pem;                                 // root's CRL: revokes `revoked`
  std::string stale_crl_pem;                           // the same, past its nextUpdate
  std::string server_key, server_chain;                // leaf + intermediate
  std::string client_key, client_chain;                // leaf + intermediate
  std::string revoked_key, revoked_chain;              // revoked leaf + intermediate
  std::string foreign_key, foreign_chain;              // leaf of other_ca
  std::vector<std::vector<uint8_t>> client_der_chain;  // DER, leaf first
  std::vector<uint8_t> other_ca_der;
};
const Pki& TestPki();

// A context as SecureContext makes it: shared settings, an identity, a trust
// store (CAs, optional CRL) and, per SecureContext::SetTrust, the CA names.
struct ContextOptions {
  bool is_server = true;
  bool with_identity = true;
  bool with_crl = false;
  bool stale_crl = false;
  bool crl_check_all = false;
};
SSL_CTX* NewContext(const ContextOptions& options);
ctls::X509StorePointer NewTrustStore(bool with_crl, bool stale_crl, bool crl_check_all);

// Crashes on purpose, with a message, when a property the harness checks fails.
[[noreturn]] void Violation(const char* what);

}  // namespace ctls_fuzz

#endif  // TEST_FUZZ_FUZZ_COMMON_H_
