// A throwaway mTLS client identity (an EC key, its certificate and the CA
// certificate that issued it), made in memory for a process-local probe: the
// attached tier asks node:tls how it hands out a presented chain by running
// one handshake with it. Nothing it makes is trusted anywhere.
#ifndef NATIVE_THROWAWAY_IDENTITY_H_
#define NATIVE_THROWAWAY_IDENTITY_H_

#include <napi.h>

namespace ctls {

// throwawayIdentity(commonName: string) -> { key, chain } as PEM strings: the
// leaf (CN=commonName) first, then its issuer (CN=commonName + " CA"). Valid
// for one hour; a new pair of keys each call. A name that is not a string of
// 1 to 64 characters is an ERR_CTLS_INVALID_OPTION.
Napi::Value ThrowawayIdentity(const Napi::CallbackInfo& info);

}  // namespace ctls

#endif  // NATIVE_THROWAWAY_IDENTITY_H_
