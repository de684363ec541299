# The optional native crypto addon (native/ucrypt_crypto.c, DESIGN.md "Native crypto"), built by
# the install script with node-gyp into build/Release/ucrypt_crypto.node. It includes the OpenSSL
# headers Node ships (<nodedir>/include/node/openssl, ahead of any system ones) and links no
# libssl: its OpenSSL symbols resolve against the node binary, which exports its bundled OpenSSL.
# native/ucrypt_io.c adds the file backend's preadv2/pwritev2 RWF_NOWAIT calls to the same addon.
{
  "targets": [
    {
      "target_name": "ucrypt_crypto",
      "sources": ["native/ucrypt_crypto.c", "native/ucrypt_io.c"],
      "include_dirs": ["<(node_root_dir)/include/node"],
      "defines": ["NAPI_VERSION=8", "OPENSSL_API_COMPAT=0x30000000L", "OPENSSL_NO_DEPRECATED"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall"] },
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]]
    }
  ]
}
