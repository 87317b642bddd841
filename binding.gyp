{
  # The addon links against the OpenSSL that the node binary itself exports:
  # node-gyp already puts Node's include dir (which contains openssl/) on the
  # include path, and the symbols resolve from the node process at load time.
  # Never add a system OpenSSL include or library here.
  "targets": [
    {
      "target_name": "continuous_tls",
      "sources": [
        "native/addon.cc",
        "native/chain_batch.cc",
        "native/ciphertext_bios.cc",
        "native/crl_info.cc",
        "native/js_values.cc",
        "native/openssl_core.cc",
        "native/openssl_util.cc",
        "native/record_engine.cc",
        "native/secure_context.cc",
        "native/throwaway_identity.cc",
        "native/tls_connection.cc",
        "native/tls_connection_transport.cc",
        "native/uv_transport.cc",
        "native/verified_chains.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        # A call that fails while node tears an environment down (a worker thread
        # terminated mid-callback) may not throw: without this, node-addon-api makes
        # that a fatal error for the whole process.
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "OPENSSL_API_COMPAT=30000",
        "OPENSSL_NO_DEPRECATED"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "WARNING_CFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17", "/W3"] } }
    }
  ]
}
