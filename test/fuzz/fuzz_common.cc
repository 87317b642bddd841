#include "fuzz_common.h"

#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>

#include "../../native/record_engine.h"

namespace ctls_fuzz {

namespace {

// ---- deterministic random source --------------------------------------------
// OpenSSL 3.0's RAND_bytes_ex and RAND_priv_bytes_ex defer to a RAND_METHOD set
// with RAND_set_rand_method, so keys, nonces and randoms all come from here.

struct Stream {
  uint64_t state = 0;
  uint64_t Next() {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

Stream streams[2];
Actor current = Actor::kTarget;

int Bytes(unsigned char* out, int length) {
  Stream& stream = streams[current == Actor::kTarget ? 0 : 1];
  for (int i = 0; i < length; i += 8) {
    const uint64_t word = stream.Next();
    for (int j = 0; j < 8 && i + j < length; ++j) out[i + j] = static_cast<unsigned char>(word >> (8 * j));
  }
  return 1;
}
int Seed(const void*, int) { return 1; }
int Add(const void*, int, double) { return 1; }
int Status() { return 1; }
void Cleanup() {}

const RAND_METHOD kMethod = {Seed, Bytes, Cleanup, Add, Bytes, Status};

// ---- PKI ----------------------------------------------------------------------

ctls::EVPKeyPointer NewKey() { return ctls::EVPKeyPointer(EVP_EC_gen("P-256")); }

void AddExtension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (extension == nullptr) Violation("bad test extension");
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

void SetName(X509_NAME* name, const char* common_name) {
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("continuous-tls fuzz"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
}

// `issuer` null: self-signed.
ctls::X509Pointer NewCertificate(const char* name, int serial, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                                 bool is_ca, const char* usage) {
  ctls::X509Pointer certificate(X509_new());
  X509_set_version(certificate.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), serial);
  SetName(X509_get_subject_name(certificate.get()), name);
  X509_set_issuer_name(certificate.get(),
                       issuer == nullptr ? X509_get_subject_name(certificate.get()) : X509_get_subject_name(issuer));
  ASN1_TIME_set_string_X509(X509_getm_notBefore(certificate.get()), "20200101000000Z");
  ASN1_TIME_set_string_X509(X509_getm_notAfter(certificate.get()), "20991231235959Z");
  X509_set_pubkey(certificate.get(), key);
  X509* signer = issuer == nullptr ? certificate.get() : issuer;
  AddExtension(certificate.get(), signer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExtension(certificate.get(), signer, NID_key_usage,
               is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  AddExtension(certificate.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) AddExtension(certificate.get(), signer, NID_authority_key_identifier, "keyid");
  if (usage != nullptr) AddExtension(certificate.get(), signer, NID_ext_key_usage, usage);
  if (usage != nullptr) AddExtension(certificate.get(), signer, NID_subject_alt_name, "DNS:localhost");
  X509_sign(certificate.get(), issuer_key == nullptr ? key : issuer_key, EVP_sha256());
  return certificate;
}

std::string Pem(X509* certificate) {
  ctls::BIOPointer bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), certificate);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(length));
}

std::string Pem(EVP_PKEY* key) {
  ctls::BIOPointer bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(length));
}

std::string CrlPem(X509* issuer, EVP_PKEY* key, int revoked_serial, const char* next_update) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
  ASN1_TIME* time = ASN1_TIME_new();
  ASN1_TIME_set_string_X509(time, "20200101000000Z");
  X509_CRL_set1_lastUpdate(crl, time);
  ASN1_TIME_set_string_X509(time, next_update);
  X509_CRL_set1_nextUpdate(crl, time);
  if (revoked_serial != 0) {
    X509_REVOKED* revoked = X509_REVOKED_new();
    ASN1_INTEGER* serial = ASN1_INTEGER_new();
    ASN1_INTEGER_set(serial, revoked_serial);
    X509_REVOKED_set_serialNumber(revoked, serial);
    ASN1_TIME_set_string_X509(time, "20200601000000Z");
    X509_REVOKED_set_revocationDate(revoked, time);
    X509_CRL_add0_revoked(crl, revoked);
    ASN1_INTEGER_free(serial);
  }
  ASN1_TIME_free(time);
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, key, EVP_sha256());
  ctls::BIOPointer bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl);
  X509_CRL_free(crl);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(length));
}

std::vector<uint8_t> Der(X509* certificate) {
  const ctls::CertificateDer der = ctls::EncodeCertificate(certificate);
  return std::vector<uint8_t>(der.data.get(), der.data.get() + der.length);
}

Pki MakePki() {
  ResetRandom(0x5eed);
  Pki pki;
  ctls::EVPKeyPointer root_key = NewKey(), mid_key = NewKey(), other_key = NewKey();
  ctls::X509Pointer root = NewCertificate("Fuzz Root", 1, root_key.get(), nullptr, nullptr, true, nullptr);
  ctls::X509Pointer mid =
      NewCertificate("Fuzz Intermediate", 2, mid_key.get(), root.get(), root_key.get(), true, nullptr);
  ctls::X509Pointer other = NewCertificate("Other Root", 3, other_key.get(), nullptr, nullptr, true, nullptr);
  pki.ca_pem = Pem(root.get());
  pki.other_ca_pem = Pem(other.get());
  pki.other_ca_der = Der(other.get());
  struct Leaf {
    const char* name;
    int serial;
    const char* usage;
    X509* issuer;
    EVP_PKEY* issuer_key;
    std::string* key;
    std::string* chain;
    X509* chain_ca;
  };
  const Leaf leaves[] = {
      {"localhost", 10, "serverAuth", mid.get(), mid_key.get(), &pki.server_key, &pki.server_chain, mid.get()},
      {"alice", 11, "clientAuth", mid.get(), mid_key.get(), &pki.client_key, &pki.client_chain, mid.get()},
      {"mallory", 12, "clientAuth", mid.get(), mid_key.get(), &pki.revoked_key, &pki.revoked_chain, mid.get()},
      {"stranger", 13, "clientAuth,serverAuth", other.get(), other_key.get(), &pki.foreign_key, &pki.foreign_chain,
       nullptr},
  };
  for (const Leaf& leaf : leaves) {
    ctls::EVPKeyPointer key = NewKey();
    ctls::X509Pointer certificate =
        NewCertificate(leaf.name, leaf.serial, key.get(), leaf.issuer, leaf.issuer_key, false, leaf.usage);
    *leaf.key = Pem(key.get());
    *leaf.chain = Pem(certificate.get()) + (leaf.chain_ca != nullptr ? Pem(leaf.chain_ca) : "");
    if (leaf.serial == 11) pki.client_der_chain = {Der(certificate.get()), Der(mid.get())};
  }
  // The intermediate's CRL revokes mallory; the root's revokes nothing, so
  // crlCheckAll finds a CRL at every depth.
  pki.crl_pem = CrlPem(mid.get(), mid_key.get(), 12, "20991231235959Z") +
                CrlPem(root.get(), root_key.get(), 0, "20991231235959Z");
  pki.stale_crl_pem = CrlPem(mid.get(), mid_key.get(), 12, "20210101000000Z") +
                      CrlPem(root.get(), root_key.get(), 0, "20210101000000Z");
  return pki;
}

}  // namespace

// Deprecated in OpenSSL 3.0, and still honoured by RAND_bytes_ex and RAND_priv_bytes_ex.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
void UseDeterministicRandom() { RAND_set_rand_method(&kMethod); }
#pragma clang diagnostic pop

void ResetRandom(uint64_t seed) {
  streams[0].state = seed;
  streams[1].state = seed ^ 0xa5a5a5a5a5a5a5a5ULL;
  current = Actor::kTarget;
}

void SetActor(Actor actor) { current = actor; }

const Pki& TestPki() {
  static const Pki pki = MakePki();
  return pki;
}

ctls::X509StorePointer NewTrustStore(bool with_crl, bool stale_crl, bool crl_check_all) {
  const Pki& pki = TestPki();
  ctls::TrustStore trust;
  std::optional<std::string_view> crl;
  if (with_crl) crl = stale_crl ? pki.stale_crl_pem : pki.crl_pem;
  if (ctls::ReadTrustStore(std::string_view(pki.ca_pem), crl, crl_check_all, &trust) != nullptr) {
    Violation("the test trust store does not parse");
  }
  return std::move(trust.store);
}

SSL_CTX* NewContext(const ContextOptions& options) {
  const Pki& pki = TestPki();
  ctls::SSLCtxPointer ctx(ctls::RecordEngine::NewContext(options.is_server));
  if (!ctx) Violation("NewContext failed");
  if (options.with_identity) {
    ctls::Identity identity;
    const std::string& key = options.is_server ? pki.server_key : pki.client_key;
    const std::string& chain = options.is_server ? pki.server_chain : pki.client_chain;
    if (ctls::ReadIdentity(key.data(), key.size(), chain.data(), chain.size(), nullptr, &identity) != nullptr ||
        SSL_CTX_use_cert_and_key(ctx.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1) != 1) {
      Violation("the test identity does not load");
    }
  }
  ctls::TrustStore trust;
  std::optional<std::string_view> crl;
  if (options.with_crl) crl = options.stale_crl ? pki.stale_crl_pem : pki.crl_pem;
  if (ctls::ReadTrustStore(std::string_view(pki.ca_pem), crl, options.crl_check_all, &trust) != nullptr) {
    Violation("the test trust store does not parse");
  }
  SSL_CTX_set_cert_store(ctx.get(), trust.store.release());
  if (options.is_server) SSL_CTX_set_client_CA_list(ctx.get(), trust.ca_names.release());
  return ctx.release();
}

void Violation(const char* what) {
  std::fprintf(stderr, "continuous-tls fuzz: property violated: %s\n", what);
  std::abort();
}

}  // namespace ctls_fuzz

// A fixed clock (2025-01-01), for libssl too: OpenSSL 3.0 stamps sessions with
// time(), and the stamp inside a TLS 1.2 ticket enters the Finished hash and
// the renegotiation_info of the next handshake (RFC 5746). With the clock
// fixed, recorded renegotiations replay as well. The test PKI is valid from
// 2020 to 2099, its stale CRLs expired in 2021.
extern "C" time_t time(time_t* out) {
  const time_t fixed = 1735689600;
  if (out != nullptr) *out = fixed;
  return fixed;
}
