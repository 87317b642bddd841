// libFuzzer harness over verifyChain's DER input: certificates decoded as
// SecureContext::DecodeCertificate decodes them (DecodeDer), verified through
// VerifiedChains::VerifyPresented against the test trust store.
//
// Input: one flag byte (bits 0-2 trust store: CRLs, stale CRLs, crlCheckAll;
// bit 3 allowStaleCrl; bit 4 purpose sslserver), then certificates, each a
// big-endian u16 length and that many DER bytes; the first is the leaf, and
// after an empty entry the rest are the extraUntrusted list.
//
// Besides the sanitizers it checks that the verified-chain cache answers
// exactly as OpenSSL does: a second verification (a cache hit when the first
// succeeded) and one with an empty cache give the same verdict and error.
#include <string>
#include <vector>

#include "fuzz_common.h"

namespace {

ctls::X509StorePointer stores[8];

ctls::VerifiedChains::Outcome Check(ctls::VerifiedChains* chains, X509_STORE* store, X509* leaf,
                                    STACK_OF(X509) * untrusted, int purpose, bool allow_stale_crl) {
  return chains->VerifyPresented(store, leaf, untrusted, purpose, 1, allow_stale_crl);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ctls_fuzz::UseDeterministicRandom();
  ctls_fuzz::TestPki();
  for (int variant = 0; variant < 8; ++variant) {
    stores[variant] = ctls_fuzz::NewTrustStore(variant & 1, variant & 2, variant & 4);
  }
  if (const char* directory = std::getenv("CTLS_FUZZ_WRITE_SEEDS")) {
    const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
    for (uint8_t flags : {0x00, 0x01, 0x05, 0x0b, 0x10}) {
      std::string seed(1, static_cast<char>(flags));
      for (const std::vector<uint8_t>& der : pki.client_der_chain) {
        seed.push_back(static_cast<char>(der.size() >> 8));
        seed.push_back(static_cast<char>(der.size() & 0xff));
        seed.append(der.begin(), der.end());
      }
      const std::string path = std::string(directory) + "/client-chain-" + std::to_string(flags);
      FILE* file = std::fopen(path.c_str(), "wb");
      if (file == nullptr) ctls_fuzz::Violation("cannot write a seed");
      std::fwrite(seed.data(), 1, seed.size(), file);
      std::fclose(file);
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ctls::ErrorQueueScope scope;
  const uint8_t flags = data[0];
  X509_STORE* store = stores[flags & 7].get();
  const bool allow_stale_crl = flags & 8;
  const int purpose = (flags & 16) ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;

  // SecureContext::VerifyChain: the leaf heads the untrusted list too.
  ctls::X509StackPointer untrusted(sk_X509_new_null());
  ctls::X509Pointer leaf;
  bool extra = false;
  size_t at = 1;
  for (int index = 0; at + 2 <= size && index < 16; ++index) {
    const size_t length = (static_cast<size_t>(data[at]) << 8) | data[at + 1];
    at += 2;
    if (length == 0) {
      extra = true;
      continue;
    }
    if (length > size - at) break;
    ctls::X509Pointer certificate = ctls::DecodeDer(data + at, length);
    at += length;
    if (!certificate) continue;
    if (!extra && index == 0) {
      leaf.reset(certificate.get());
      X509_up_ref(leaf.get());
    }
    if (sk_X509_push(untrusted.get(), certificate.get())) certificate.release();
  }
  if (!leaf) return 0;

  ctls::VerifiedChains chains;
  const auto first = Check(&chains, store, leaf.get(), untrusted.get(), purpose, allow_stale_crl);
  const auto second = Check(&chains, store, leaf.get(), untrusted.get(), purpose, allow_stale_crl);
  ctls::VerifiedChains empty;
  const auto fresh = Check(&empty, store, leaf.get(), untrusted.get(), purpose, allow_stale_crl);
  if (!first.ran || !second.ran || !fresh.ran) ctls_fuzz::Violation("X509_STORE_CTX_init failed");
  const bool same_verdict = first.ok == second.ok && first.ok == fresh.ok;
  const bool same_error = first.ok || (first.error == second.error && first.error == fresh.error);
  if (!same_verdict || !same_error) {
    ctls_fuzz::Violation("the verified-chain cache changed a verdict");
  }
  ERR_clear_error();
  return 0;
}
