/*
 * ucrypt native crypto: batched sector encryption with the OpenSSL that Node itself bundles.
 *
 * One call encrypts or decrypts a whole batch of sectors in place: `data` holds n sectors of
 * `sectorSize` bytes and `ivs` one 16-byte IV per sector. Each key gets one EVP_CIPHER_CTX per
 * direction, keyed once at creation; per sector the context is only re-initialised with the
 * sector's IV (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc)) and run over the sector in
 * place, so a call allocates nothing. (One context per direction because XTS and CBC keep a
 * direction-specific AES key schedule: re-initialising with a changed `enc` and no key would
 * reuse the wrong one.)
 *
 * IV in place: in OpenSSL 3.0 (Node 20's) a re-initialisation costs about as much as encrypting
 * a 512-byte sector (a parameter round trip for the IV length on every call), so where the
 * context exposes its working IV, EVP_CIPHER_CTX_iv_noconst() (looked up at run time, as it is
 * deprecated and may be absent), each sector's IV is copied straight into it instead. This is
 * used only if a self-test at key creation shows it gives exactly what re-initialising gives,
 * for that context; otherwise, or with create(..., true), every sector is re-initialised.
 *
 * Modes: "xts" with 32- or 64-byte keys (aes-128-xts / aes-256-xts; OpenSSL has no 192-bit XTS
 * and refuses identical key halves, which the kernel accepts: the JavaScript path handles both),
 * "cbc" with 16/24/32-byte keys (aes-128/192/256-cbc, padding off).
 *
 * The symbols are resolved against the node binary, which exports its bundled OpenSSL; nothing
 * links a system libssl. Plain Node-API, context-aware (NAPI_MODULE_INIT): no global state, so
 * it loads in any number of worker_threads.
 *
 * JS API (src/crypto/native/index.ts wraps it):
 *   create(mode: "xts" | "cbc", key: Uint8Array, reinit?: boolean): handle  (throws on a bad key)
 *   ivInPlace(handle): boolean                                      (the fast IV path is in use)
 *   crypt(handle, data: Uint8Array, sectorSize: number, ivs: Uint8Array, encrypt: boolean): void
 *   wipe(handle): void                                              (idempotent)
 *   openssl: string                                                 (OpenSSL_version)
 *   preadNowait, pwriteNowait, nowaitErrno                         (native/ucrypt_io.c)
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <dlfcn.h>
#endif

#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define MAX_KEY 64

/* native/ucrypt_io.c */
int ucrypt_io_init(napi_env env, napi_value exports);

typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  /* Our copy of the key, only while the contexts are keyed; cleansed right after and on wipe. */
  unsigned char key[MAX_KEY];
  size_t key_len;
  /* XTS data units: OpenSSL refuses more than 2^20 blocks per unit. */
  size_t max_sector;
  /* The contexts' working IVs when the IV-in-place path passed its self-test, else NULL. */
  unsigned char *enc_iv;
  unsigned char *dec_iv;
} ucrypt_key;

typedef unsigned char *(*iv_noconst_fn)(EVP_CIPHER_CTX *);

static iv_noconst_fn find_iv_noconst(void) {
#ifdef _WIN32
  return NULL;
#else
  return (iv_noconst_fn)dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_iv_noconst");
#endif
}

/*
 * The context's working IV, if writing a sector's IV there is exactly equivalent to
 * re-initialising with it: checked by running two blocks both ways (with a different IV set
 * beforehand, so a pointer to a stale copy fails) and requiring the IV to make a difference.
 */
static unsigned char *iv_in_place(EVP_CIPHER_CTX *ctx, int enc) {
  iv_noconst_fn iv_noconst = find_iv_noconst();
  if (!iv_noconst) return NULL;
  static const unsigned char iv_a[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  static const unsigned char iv_b[16] = {0xa5, 0x5a, 0x0f, 0xf0, 0x3c, 0xc3, 0x96, 0x69, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  unsigned char x[32], y[32], z[32];
  for (int i = 0; i < 32; i++) x[i] = y[i] = z[i] = (unsigned char)(i * 7 + 3);
  int l1 = 0, l2 = 0, l3 = 0;
  unsigned char *iv = NULL;
  int ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv_a, enc) == 1 && EVP_CipherUpdate(ctx, x, &l1, x, 32) == 1 &&
           EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv_b, enc) == 1 && EVP_CipherUpdate(ctx, z, &l3, z, 32) == 1 &&
           (iv = iv_noconst(ctx)) != NULL;
  if (ok) {
    memcpy(iv, iv_a, 16);
    ok = EVP_CipherUpdate(ctx, y, &l2, y, 32) == 1;
  }
  ERR_clear_error();
  if (!ok || l1 != 32 || l2 != 32 || l3 != 32 || memcmp(x, y, 32) != 0 || memcmp(x, z, 32) == 0) return NULL;
  return iv;
}

static void key_wipe(ucrypt_key *k) {
  OPENSSL_cleanse(k->key, sizeof k->key);
  k->key_len = 0;
  /* EVP_CIPHER_CTX_free cleanses the provider's key schedule. */
  EVP_CIPHER_CTX_free(k->enc);
  EVP_CIPHER_CTX_free(k->dec);
  k->enc = NULL;
  k->dec = NULL;
  k->enc_iv = NULL;
  k->dec_iv = NULL;
}

static void key_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ucrypt_key *k = (ucrypt_key *)data;
  key_wipe(k);
  free(k);
}

/* Throws `message` (plus OpenSSL's reason, if any) and clears OpenSSL's error queue, which
 * node:crypto expects to find empty. */
static void throw_openssl(napi_env env, const char *message) {
  char buf[512];
  unsigned long e = ERR_peek_last_error();
  if (e != 0) {
    char reason[256];
    ERR_error_string_n(e, reason, sizeof reason);
    snprintf(buf, sizeof buf, "%s (%s)", message, reason);
  } else {
    snprintf(buf, sizeof buf, "%s", message);
  }
  ERR_clear_error();
  napi_throw_error(env, "ERR_UCRYPT_NATIVE", buf);
}

#define CHECK(call)                                         \
  do {                                                      \
    if ((call) != napi_ok) {                                \
      const napi_extended_error_info *info = NULL;          \
      napi_get_last_error_info(env, &info);                 \
      bool pending = false;                                 \
      napi_is_exception_pending(env, &pending);             \
      if (!pending)                                         \
        napi_throw_error(env, NULL,                         \
                         info && info->error_message        \
                             ? info->error_message          \
                             : "ucrypt native: N-API call failed"); \
      return NULL;                                          \
    }                                                       \
  } while (0)

/* A Uint8Array argument's bytes (any backing store: ArrayBuffer or SharedArrayBuffer). */
static int get_bytes(napi_env env, napi_value v, const char *what, unsigned char **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    char msg[96];
    snprintf(msg, sizeof msg, "ucrypt native: %s must be a Uint8Array", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  napi_typedarray_type type;
  void *p = NULL;
  size_t length = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "ucrypt native: %s must be a Uint8Array", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  *data = (unsigned char *)p;
  *len = length;
  return 1;
}

static int init_ctx(EVP_CIPHER_CTX **out, const EVP_CIPHER *cipher, const unsigned char *key, int enc, int padding_off) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return 0;
  if (EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) != 1 || (padding_off && EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)) {
    EVP_CIPHER_CTX_free(ctx);
    return 0;
  }
  *out = ctx;
  return 1;
}

/* create(mode, key, reinit) */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "ucrypt native: create(mode, key)");
    return NULL;
  }
  char mode[8];
  size_t mode_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], mode, sizeof mode, &mode_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "ucrypt native: mode must be a string");
    return NULL;
  }
  unsigned char *key;
  size_t key_len;
  if (!get_bytes(env, argv[1], "key", &key, &key_len)) return NULL;
  bool reinit = false;
  if (argc >= 3) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[2], &t));
    if (t == napi_boolean) CHECK(napi_get_value_bool(env, argv[2], &reinit));
  }

  const EVP_CIPHER *cipher = NULL;
  size_t max_sector = (size_t)1 << 30;
  if (strcmp(mode, "xts") == 0) {
    if (key_len == 32) cipher = EVP_aes_128_xts();
    else if (key_len == 64) cipher = EVP_aes_256_xts();
    max_sector = (size_t)16 << 20;
  } else if (strcmp(mode, "cbc") == 0) {
    if (key_len == 16) cipher = EVP_aes_128_cbc();
    else if (key_len == 24) cipher = EVP_aes_192_cbc();
    else if (key_len == 32) cipher = EVP_aes_256_cbc();
  } else {
    napi_throw_error(env, "ERR_UCRYPT_NATIVE", "ucrypt native: unknown mode");
    return NULL;
  }
  if (!cipher) {
    napi_throw_error(env, "ERR_UCRYPT_NATIVE", "ucrypt native: key size not supported by this mode");
    return NULL;
  }

  ucrypt_key *k = (ucrypt_key *)calloc(1, sizeof *k);
  if (!k) {
    napi_throw_error(env, NULL, "ucrypt native: out of memory");
    return NULL;
  }
  /* Key from our own copy: the caller's bytes may live in a SharedArrayBuffer. */
  memcpy(k->key, key, key_len);
  k->key_len = key_len;
  k->max_sector = max_sector;
  /* CBC: padding off, or decryption would hold back each sector's last block. (XTS has none;
   * setting it would cost a parameter round trip on every per-sector re-initialisation.) */
  int padding_off = mode[0] == 'c';
  int ok = init_ctx(&k->enc, cipher, k->key, 1, padding_off) && init_ctx(&k->dec, cipher, k->key, 0, padding_off);
  OPENSSL_cleanse(k->key, sizeof k->key);
  if (!ok) {
    key_wipe(k);
    free(k);
    throw_openssl(env, "ucrypt native: OpenSSL refused the key");
    return NULL;
  }
  if (!reinit) {
    k->enc_iv = iv_in_place(k->enc, 1);
    k->dec_iv = iv_in_place(k->dec, 0);
  }
  napi_value handle;
  if (napi_create_external(env, k, key_finalize, NULL, &handle) != napi_ok) {
    key_wipe(k);
    free(k);
    napi_throw_error(env, NULL, "ucrypt native: napi_create_external failed");
    return NULL;
  }
  return handle;
}

static ucrypt_key *get_key(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, NULL, "ucrypt native: not a key handle");
    return NULL;
  }
  return (ucrypt_key *)p;
}

/* crypt(handle, data, sectorSize, ivs, encrypt) */
static napi_value js_crypt(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "ucrypt native: crypt(handle, data, sectorSize, ivs, encrypt)");
    return NULL;
  }
  ucrypt_key *k = get_key(env, argv[0]);
  if (!k) return NULL;
  unsigned char *data, *ivs;
  size_t len, ivs_len;
  if (!get_bytes(env, argv[1], "data", &data, &len)) return NULL;
  int64_t ss64 = 0;
  if (napi_get_value_int64(env, argv[2], &ss64) != napi_ok) {
    napi_throw_type_error(env, NULL, "ucrypt native: sectorSize must be a number");
    return NULL;
  }
  if (!get_bytes(env, argv[3], "ivs", &ivs, &ivs_len)) return NULL;
  bool enc = true;
  CHECK(napi_get_value_bool(env, argv[4], &enc));

  EVP_CIPHER_CTX *ctx = enc ? k->enc : k->dec;
  if (!ctx) {
    napi_throw_error(env, "ERR_UCRYPT_NATIVE", "ucrypt native: the key was wiped");
    return NULL;
  }
  if (ss64 <= 0 || ss64 % 16 != 0 || (uint64_t)ss64 > k->max_sector) {
    napi_throw_range_error(env, NULL, "ucrypt native: sectorSize must be a positive multiple of 16 within the mode's limit");
    return NULL;
  }
  size_t ss = (size_t)ss64;
  if (len % ss != 0) {
    napi_throw_range_error(env, NULL, "ucrypt native: data is not a whole number of sectors");
    return NULL;
  }
  size_t n = len / ss;
  if (ivs_len / 16 < n) {
    napi_throw_range_error(env, NULL, "ucrypt native: one 16-byte IV per sector is needed");
    return NULL;
  }
  int enc_flag = enc ? 1 : 0;
  unsigned char *iv = enc ? k->enc_iv : k->dec_iv;
  for (size_t s = 0; s < n; s++) {
    unsigned char *p = data + s * ss;
    int outl = 0;
    int ok;
    if (iv) {
      memcpy(iv, ivs + 16 * s, 16);
      ok = 1;
    } else {
      ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, ivs + 16 * s, enc_flag) == 1;
    }
    if (!ok || EVP_CipherUpdate(ctx, p, &outl, p, (int)ss) != 1 || (size_t)outl != ss) {
      throw_openssl(env, "ucrypt native: OpenSSL failed on a sector");
      return NULL;
    }
  }
  /* Leave no IV (derived from the sector number) behind in the context. */
  if (iv) OPENSSL_cleanse(iv, 16);
  return NULL;
}

/* wipe(handle) */
static napi_value js_wipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "ucrypt native: wipe(handle)");
    return NULL;
  }
  ucrypt_key *k = get_key(env, argv[0]);
  if (!k) return NULL;
  key_wipe(k);
  return NULL;
}

/* ivInPlace(handle) */
static napi_value js_iv_in_place(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "ucrypt native: ivInPlace(handle)");
    return NULL;
  }
  ucrypt_key *k = get_key(env, argv[0]);
  if (!k) return NULL;
  napi_value r;
  CHECK(napi_get_boolean(env, k->enc_iv != NULL && k->dec_iv != NULL, &r));
  return r;
}

NAPI_MODULE_INIT() {
  napi_value version;
  const char *v = OpenSSL_version(OPENSSL_VERSION);
  CHECK(napi_create_string_utf8(env, v ? v : "unknown", NAPI_AUTO_LENGTH, &version));
  const napi_property_descriptor props[] = {
    { .utf8name = "create", .method = js_create, .attributes = napi_enumerable },
    { .utf8name = "crypt", .method = js_crypt, .attributes = napi_enumerable },
    { .utf8name = "wipe", .method = js_wipe, .attributes = napi_enumerable },
    { .utf8name = "ivInPlace", .method = js_iv_in_place, .attributes = napi_enumerable },
    { .utf8name = "openssl", .value = version, .attributes = napi_enumerable },
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  /* The file backend's nowait I/O (native/ucrypt_io.c) rides in the same addon. */
  if (!ucrypt_io_init(env, exports)) return NULL;
  return exports;
}
