#include "openssl_core.h"

#include <openssl/pem.h>

#include <climits>
#include <cstring>
#include <ctime>
#include <utility>

namespace ctls {

namespace {

int PassphraseCallback(char* buffer, int size, int rwflag, void* user_data) {
  const auto* passphrase = static_cast<const std::string*>(user_data);
  if (passphrase == nullptr) return -1;
  const size_t length = passphrase->size();
  if (length > static_cast<size_t>(size)) return -1;
  std::memcpy(buffer, passphrase->data(), length);
  return static_cast<int>(length);
}

// A read-only BIO over `length` bytes at `data`. BIO_new_mem_buf takes an int
// and treats a negative length as "up to the NUL" (BIO_s_mem(3)), so a
// Buffer of 2 GiB or more would be read past its end: refuse it.
BIOPointer NewReadBio(const char* data, size_t length) {
  if (length > static_cast<size_t>(INT_MAX)) {
    ERR_raise(ERR_LIB_BIO, ERR_R_PASSED_INVALID_ARGUMENT);
    return BIOPointer();
  }
  return BIOPointer(BIO_new_mem_buf(data, static_cast<int>(length)));
}

}  // namespace

const char* VerifyErrorCode(int error) {
  // The same spellings Node uses in crypto_common.cc, so code written for
  // node:tls' authorizationError keeps working.
  switch (error) {
#define CASE(name)        \
  case X509_V_ERR_##name: \
    return #name;
    CASE(UNABLE_TO_GET_ISSUER_CERT)
    CASE(UNABLE_TO_GET_CRL)
    CASE(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    CASE(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    CASE(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    CASE(CERT_SIGNATURE_FAILURE)
    CASE(CRL_SIGNATURE_FAILURE)
    CASE(CERT_NOT_YET_VALID)
    CASE(CERT_HAS_EXPIRED)
    CASE(CRL_NOT_YET_VALID)
    CASE(CRL_HAS_EXPIRED)
    CASE(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    CASE(ERROR_IN_CERT_NOT_AFTER_FIELD)
    CASE(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    CASE(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    CASE(OUT_OF_MEM)
    CASE(DEPTH_ZERO_SELF_SIGNED_CERT)
    CASE(SELF_SIGNED_CERT_IN_CHAIN)
    CASE(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    CASE(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    CASE(CERT_CHAIN_TOO_LONG)
    CASE(CERT_REVOKED)
    CASE(INVALID_CA)
    CASE(PATH_LENGTH_EXCEEDED)
    CASE(INVALID_PURPOSE)
    CASE(CERT_UNTRUSTED)
    CASE(CERT_REJECTED)
    CASE(HOSTNAME_MISMATCH)
    CASE(KEYUSAGE_NO_CRL_SIGN)
    CASE(KEYUSAGE_NO_CERTSIGN)
    CASE(DIFFERENT_CRL_SCOPE)
    CASE(INVALID_EXTENSION)
    CASE(INVALID_NON_CA)
#undef CASE
    default:
      return "UNSPECIFIED";
  }
}

std::vector<X509Pointer> ReadCertificates(const char* data, size_t length, bool trusted_form) {
  std::vector<X509Pointer> certificates;
  BIOPointer bio = NewReadBio(data, length);
  if (!bio) return certificates;
  while (true) {
    // No passphrase: an encrypted block ends the input instead of prompting on a terminal.
    X509Pointer certificate(trusted_form ? PEM_read_bio_X509_AUX(bio.get(), nullptr, PassphraseCallback, nullptr)
                                         : PEM_read_bio_X509(bio.get(), nullptr, PassphraseCallback, nullptr));
    if (!certificate) break;
    certificates.push_back(std::move(certificate));
  }
  // Reaching the end of the input queues a "no start line" error; only keep it
  // when nothing was read, so callers can report why.
  if (!certificates.empty()) ERR_clear_error();
  return certificates;
}

std::vector<X509CrlPointer> ReadCrls(const char* data, size_t length) {
  std::vector<X509CrlPointer> crls;
  BIOPointer bio = NewReadBio(data, length);
  if (!bio) return crls;
  while (true) {
    X509CrlPointer crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, PassphraseCallback, nullptr));
    if (!crl) break;
    crls.push_back(std::move(crl));
  }
  if (!crls.empty()) ERR_clear_error();
  return crls;
}

namespace {

std::string MemoryText(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int)
  return length > 0 && data != nullptr ? std::string(data, static_cast<size_t>(length)) : std::string();
}

}  // namespace

std::string NodeCaItemText(const char* data, size_t length) {
  BIOPointer in = NewReadBio(data, length);
  BIOPointer out(BIO_new(BIO_s_mem()));
  if (!in || !out) return std::string();
  // node's SecureContext::AddCACert: PEM_read_bio_X509_AUX until it fails, no passphrase.
  while (X509Pointer certificate{PEM_read_bio_X509_AUX(in.get(), nullptr, PassphraseCallback, nullptr)}) {
    // Written with its trust settings, so that ReadCertificates(..., true) reads back the same.
    if (PEM_write_bio_X509_AUX(out.get(), certificate.get()) != 1) return std::string();
  }
  ERR_clear_error();
  return MemoryText(out.get());
}

std::string NodeCrlItemText(const char* data, size_t length) {
  BIOPointer in = NewReadBio(data, length);
  BIOPointer out(BIO_new(BIO_s_mem()));
  if (!in || !out) return std::string();
  // node's SecureContext::AddCRL: one PEM_read_bio_X509_CRL per item, no passphrase.
  X509CrlPointer crl(PEM_read_bio_X509_CRL(in.get(), nullptr, PassphraseCallback, nullptr));
  if (!crl || PEM_write_bio_X509_CRL(out.get(), crl.get()) != 1) return std::string();
  return MemoryText(out.get());
}

EVPKeyPointer ReadPrivateKey(const char* data, size_t length, const std::string* passphrase) {
  BIOPointer bio = NewReadBio(data, length);
  if (!bio) return EVPKeyPointer();
  return EVPKeyPointer(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, const_cast<std::string*>(passphrase)));
}

const char* ReadIdentity(const char* key_pem, size_t key_length, const char* cert_pem, size_t cert_length,
                         const std::string* passphrase, Identity* identity) {
  std::vector<X509Pointer> certificates = ReadCertificates(cert_pem, cert_length);
  if (certificates.empty()) return "cert";
  identity->key = ReadPrivateKey(key_pem, key_length, passphrase);
  if (!identity->key) return "key";
  identity->chain.reset(sk_X509_new_null());
  for (size_t i = 1; i < certificates.size(); ++i) {
    if (!sk_X509_push(identity->chain.get(), certificates[i].get())) break;
    certificates[i].release();  // now owned by identity->chain
  }
  identity->leaf = std::move(certificates[0]);
  return nullptr;
}

const char* ReadTrustStore(std::optional<std::string_view> ca_pem, std::optional<std::string_view> crl_pem,
                           bool crl_check_all, TrustStore* trust) {
  trust->store.reset(X509_STORE_new());
  trust->ca_names.reset(sk_X509_NAME_new_null());
  trust->crls.clear();
  trust->has_crls = false;
  if (!trust->store || !trust->ca_names) return "ca";
  if (ca_pem) {
    std::vector<X509Pointer> cas = ReadCertificates(ca_pem->data(), ca_pem->size(), true);
    if (cas.empty()) return "ca";
    for (const X509Pointer& ca : cas) {
      X509_STORE_add_cert(trust->store.get(), ca.get());
      X509_NAME* name = X509_NAME_dup(X509_get_subject_name(ca.get()));
      if (name != nullptr && !sk_X509_NAME_push(trust->ca_names.get(), name)) X509_NAME_free(name);
    }
  }
  if (crl_pem) {
    trust->crls = ReadCrls(crl_pem->data(), crl_pem->size());
    if (trust->crls.empty()) return "crl";
    for (const X509CrlPointer& crl : trust->crls) X509_STORE_add_crl(trust->store.get(), crl.get());
    trust->has_crls = true;
    X509_STORE_set_flags(trust->store.get(), X509_V_FLAG_CRL_CHECK | (crl_check_all ? X509_V_FLAG_CRL_CHECK_ALL : 0));
  }
  return nullptr;
}

namespace {

double TimeToEpochMs(const ASN1_TIME* time) {
  struct tm parts = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return -1;
  return static_cast<double>(timegm(&parts)) * 1000.0;
}

std::string NameToString(const X509_NAME* name) {
  BIOPointer bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return std::string();
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(length));
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  DeleteFnPtr<BIGNUM, BN_free> number(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!number) return std::string();
  char* hex = BN_bn2hex(number.get());
  std::string result = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  return result;
}

}  // namespace

CrlSummary SummarizeCrl(X509_CRL* crl, bool with_serials) {
  CrlSummary summary;
  summary.issuer = NameToString(X509_CRL_get_issuer(crl));
  summary.last_update_ms = TimeToEpochMs(X509_CRL_get0_lastUpdate(crl));
  const ASN1_TIME* next_update = X509_CRL_get0_nextUpdate(crl);
  summary.has_next_update = next_update != nullptr;
  if (next_update != nullptr) summary.next_update_ms = TimeToEpochMs(next_update);
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  summary.revoked_count = revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked);
  if (!with_serials) return summary;
  summary.revoked.reserve(static_cast<size_t>(summary.revoked_count));
  for (int j = 0; j < summary.revoked_count; ++j) {
    summary.revoked.push_back(SerialToHex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, j))));
  }
  return summary;
}

X509Pointer DecodeDer(const unsigned char* der, size_t length) {
  const unsigned char* cursor = der;
  X509Pointer certificate(d2i_X509(nullptr, &cursor, static_cast<long>(length)));  // NOLINT(runtime/int)
  if (!certificate || cursor != der + length) return X509Pointer();
  return certificate;
}

CertificateDer EncodeCertificate(X509* certificate) {
  // One encoding pass (OpenSSL allocates), not one to size and one to write.
  CertificateDer der;
  unsigned char* bytes = nullptr;
  const int length = i2d_X509(certificate, &bytes);
  if (length <= 0) return der;
  der.data.reset(bytes);
  der.length = static_cast<size_t>(length);
  return der;
}

}  // namespace ctls
