// A CRL's facts for TypeScript, which judges freshness (RFC 5280 section
// 5.1.2.5) and reports revoked serials without a JS ASN.1 parser.
#ifndef NATIVE_CRL_INFO_H_
#define NATIVE_CRL_INFO_H_

#include <napi.h>

#include "openssl_core.h"

namespace ctls {

// crlInfo(pem: Buffer, withSerials = true) -> [CrlFacts], one per CRL in `pem`.
Napi::Value CrlInfo(const Napi::CallbackInfo& info);

// nodeTrustItem(kind: 'ca' | 'crl', pem: Buffer) -> string: what node loads from one item of
// that option, as PEM text (see NodeCaItemText), so REST judges a node:tls client under exactly it.
Napi::Value NodeTrustItem(const Napi::CallbackInfo& info);

// A CRL's facts: { issuer (RFC 2253), issuerText (as node's
// X509Certificate#issuer prints a name), distributionPoint and authorityKeyId
// (the DER of those extensions in hex, or null), lastUpdate, nextUpdate (epoch
// ms), revokedCount, revoked: [serialHex] }. A CRL can list millions of
// serials, and a JS string each costs more than parsing them: without
// `with_serials` the list is left out.
Napi::Object CrlFacts(Napi::Env env, X509_CRL* crl, bool with_serials);

}  // namespace ctls

#endif  // NATIVE_CRL_INFO_H_
