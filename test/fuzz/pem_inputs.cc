// libFuzzer harness over the PEM entry points: setTrust's CA and CRL parsing
// (ReadTrustStore), crlInfo (SummarizeCrl) and identities (ReadIdentity, as
// addIdentity and setIdentity parse them). A store that parses is then used
// to verify the test client's chain, as verifyChain would, so fuzzed CRLs and
// anchors reach OpenSSL's verification and the verified-chain cache.
//
// Input: one selector byte, then the text.
//   0: CA PEM           1: CRL PEM (root CA fixed; bit 3 crlCheckAll, bit 4 allowStaleCrl)
//   2: crlInfo PEM      3: key PEM, NUL, certificate PEM   4: the same, key under passphrase "fuzz"
// A regression seed for one selector stays a regression seed: the selector is
// the byte modulo 5.
#include <openssl/pem.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../../native/record_engine.h"
#include "fuzz_common.h"

namespace {

SSL_CTX* identity_context = nullptr;

void VerifyClientChain(X509_STORE* store, bool allow_stale_crl) {
  const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
  ctls::X509StackPointer untrusted(sk_X509_new_null());
  ctls::X509Pointer leaf;
  for (const std::vector<uint8_t>& der : pki.client_der_chain) {
    ctls::X509Pointer certificate = ctls::DecodeDer(der.data(), der.size());
    if (!certificate) ctls_fuzz::Violation("the test chain does not decode");
    if (!leaf) {
      leaf.reset(certificate.get());
      X509_up_ref(leaf.get());
    }
    sk_X509_push(untrusted.get(), certificate.release());
  }
  ctls::VerifiedChains chains;
  const int purpose = X509_PURPOSE_SSL_CLIENT;
  const auto first = chains.VerifyPresented(store, leaf.get(), untrusted.get(), purpose, 1, allow_stale_crl);
  const auto second = chains.VerifyPresented(store, leaf.get(), untrusted.get(), purpose, 1, allow_stale_crl);
  // A cached answer is the answer OpenSSL gave.
  if (first.ok != second.ok || (!first.ok && first.error != second.error)) {
    ctls_fuzz::Violation("the verified-chain cache changed a verdict");
  }
}

// Regression: BIO_new_mem_buf takes an int length and reads a negative one as
// "up to the NUL" (strlen). A Buffer of 2 GiB or more handed to setTrust,
// crlInfo or an identity must be refused, not read past its end. Only the
// first bytes exist here; the parsers must not touch any.
void CheckLengthLimits() {
  std::unique_ptr<char[]> text(new char[4]{'-', '-', '-', '-'});
  const size_t huge = static_cast<size_t>(INT_MAX) + 1;
  if (!ctls::ReadCertificates(text.get(), huge).empty() || !ctls::ReadCrls(text.get(), huge).empty() ||
      ctls::ReadPrivateKey(text.get(), huge, nullptr)) {
    ctls_fuzz::Violation("a PEM input past INT_MAX bytes was read");
  }
  ERR_clear_error();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CheckLengthLimits();
  ctls_fuzz::UseDeterministicRandom();
  ctls_fuzz::TestPki();
  ctls_fuzz::ContextOptions options;
  options.with_identity = false;
  identity_context = ctls_fuzz::NewContext(options);
  if (const char* directory = std::getenv("CTLS_FUZZ_WRITE_SEEDS")) {
    const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
    ctls::EVPKeyPointer key = ctls::ReadPrivateKey(pki.client_key.data(), pki.client_key.size(), nullptr);
    ctls::BIOPointer bio(BIO_new(BIO_s_mem()));
    const char passphrase[] = "fuzz";
    PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_128_cbc(), passphrase, 4, nullptr, nullptr);
    char* encrypted = nullptr;
    const long encrypted_length = BIO_get_mem_data(bio.get(), &encrypted);  // NOLINT(runtime/int)
    const std::string seeds[][2] = {
        {"ca", std::string(1, '\0') + pki.ca_pem + pki.other_ca_pem},
        {"crl", std::string(1, '\1') + pki.crl_pem},
        {"crl-stale-check-all", std::string(1, '\x19') + pki.stale_crl_pem},
        {"crl-info", std::string(1, '\2') + pki.crl_pem},
        {"identity", std::string(1, '\3') + pki.client_key + std::string(1, '\0') + pki.client_chain},
        {"identity-passphrase", std::string(1, '\4') + std::string(encrypted, static_cast<size_t>(encrypted_length)) +
                                    std::string(1, '\0') + pki.client_chain},
    };
    for (const auto& seed : seeds) {
      FILE* file = std::fopen((std::string(directory) + "/" + seed[0]).c_str(), "wb");
      if (file == nullptr) ctls_fuzz::Violation("cannot write a seed");
      std::fwrite(seed[1].data(), 1, seed[1].size(), file);
      std::fclose(file);
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ctls::ErrorQueueScope scope;
  const uint8_t selector = data[0];
  const char* text = reinterpret_cast<const char*>(data + 1);
  const size_t length = size - 1;
  const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
  switch (selector % 5) {
    case 0: {
      ctls::TrustStore trust;
      if (ctls::ReadTrustStore(std::string_view(text, length), std::nullopt, false, &trust) == nullptr) {
        VerifyClientChain(trust.store.get(), false);
      }
      break;
    }
    case 1: {
      ctls::TrustStore trust;
      if (ctls::ReadTrustStore(std::string_view(pki.ca_pem), std::string_view(text, length), selector & 8, &trust) ==
          nullptr) {
        if (!trust.has_crls || trust.crls.empty())
          ctls_fuzz::Violation("CRLs parsed but the store does not check them");
        // setTrust's return value: the facts of the CRLs in force.
        for (const ctls::X509CrlPointer& crl : trust.crls) ctls::SummarizeCrl(crl.get(), false);
        VerifyClientChain(trust.store.get(), selector & 16);
      }
      break;
    }
    case 2: {
      // crlInfo(pem, withSerials), both ways.
      for (const ctls::X509CrlPointer& crl : ctls::ReadCrls(text, length)) {
        const ctls::CrlSummary full = ctls::SummarizeCrl(crl.get(), true);
        const ctls::CrlSummary facts = ctls::SummarizeCrl(crl.get(), false);
        if (full.revoked.size() != static_cast<size_t>(full.revoked_count) ||
            full.revoked_count != facts.revoked_count || !facts.revoked.empty() || full.issuer != facts.issuer) {
          ctls_fuzz::Violation("crlInfo's two forms disagree");
        }
      }
      break;
    }
    case 3:
    case 4: {
      const void* split = std::memchr(text, 0, length);
      const size_t key_length = split == nullptr ? length : static_cast<size_t>(static_cast<const char*>(split) - text);
      const char* cert = split == nullptr ? text : text + key_length + 1;
      const size_t cert_length = split == nullptr ? length : length - key_length - 1;
      const std::string passphrase = "fuzz";
      ctls::Identity identity;
      if (ctls::ReadIdentity(text, key_length, cert, cert_length, selector % 5 == 4 ? &passphrase : nullptr,
                             &identity) == nullptr) {
        // addIdentity: OpenSSL checks that key and certificate match.
        ctls::SSLCtxPointer ctx(ctls::RecordEngine::NewContext(true));
        SSL_CTX_use_cert_and_key(ctx.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1);
      }
      break;
    }
  }
  ERR_clear_error();
  return 0;
}
