/*
 * ucrypt native I/O: preadv2/pwritev2 with RWF_NOWAIT on a file descriptor, for the file
 * backend's synchronous submission (BlockDevice.readNow/writeNow, DESIGN.md "Native crypto").
 *
 * The io_uring shape: try the I/O in the caller's context with RWF_NOWAIT (IOCB_NOWAIT: the
 * kernel returns EAGAIN instead of waiting for a page-cache miss, a lock or block allocation);
 * on EAGAIN or a short count the caller punts to its asynchronous path (the libuv thread pool).
 * Linked into the same addon as ucrypt_crypto.c (it registers these exports from its
 * NAPI_MODULE_INIT), so there is one file to build and to load.
 *
 * JS API (src/backends/file/nowait.ts wraps it):
 *   preadNowait(fd, buf: TypedArray, bufOffset, length, position): number
 *   pwriteNowait(fd, buf: TypedArray, bufOffset, length, position): number
 *     bytes transferred (0 at EOF for reads, possibly short), or a negative errno: -EAGAIN
 *     (would block), -EOPNOTSUPP (the file system does not do it, e.g. ext4 buffered writes),
 *     -EINVAL/-ENOSYS (kernel before 4.14), others as the system call reports them.
 *     Throws only on misuse (not a typed array, range outside the buffer). The buffer may be
 *     backed by a SharedArrayBuffer. EINTR is retried.
 *   recvNowait(fd, buf: TypedArray, bufOffset, length): number
 *     recv(2) with MSG_DONTWAIT on a socket: bytes received (0: the peer closed), or a negative
 *     errno (-EAGAIN: nothing there yet). The NBD server's busy poll at iodepth 1 (DESIGN.md
 *     "The NBD server"), reading a socket libuv also watches (level-triggered, so whatever is
 *     left is still reported to libuv).
 *   setSendBuffer(fd, bytes): number
 *     setsockopt(SO_SNDBUF) on a socket (the kernel caps the request at net.core.wmem_max and
 *     doubles it for its bookkeeping), then the size in force from getsockopt; a negative errno
 *     on failure. The NBD server sizes its sockets for whole large replies (libuv does this only
 *     for UDP in Node).
 *   nowaitErrno: { EAGAIN, EOPNOTSUPP, EINVAL, ENOSYS } (this platform's values)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#ifdef __linux__
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

#include <node_api.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

#define IO_CHECK(call)                                                                            \
  do {                                                                                            \
    if ((call) != napi_ok) return NULL;                                                           \
  } while (0)

/* buf (any typed array, plain or shared memory), bufOffset, length -> the byte range. */
static int io_range(napi_env env, napi_value *argv, unsigned char **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, argv[1], &is_ta) != napi_ok || !is_ta) {
    napi_throw_type_error(env, NULL, "ucrypt native: buf must be a typed array");
    return 0;
  }
  napi_typedarray_type type;
  size_t count = 0;
  void *base = NULL;
  if (napi_get_typedarray_info(env, argv[1], &type, &count, &base, NULL, NULL) != napi_ok) return 0;
  size_t elem = 1;
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      elem = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      elem = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      elem = 8;
      break;
    default:
      elem = 1;
  }
  size_t bytes = count * elem;
  int64_t off = 0, n = 0;
  if (napi_get_value_int64(env, argv[2], &off) != napi_ok || napi_get_value_int64(env, argv[3], &n) != napi_ok || off < 0 ||
      n < 0 || (uint64_t)off > bytes || (uint64_t)n > bytes - (uint64_t)off) {
    napi_throw_range_error(env, NULL, "ucrypt native: bufOffset/length outside the buffer");
    return 0;
  }
  *data = (unsigned char *)base + off;
  *len = (size_t)n;
  return 1;
}

enum io_op { IO_PREAD, IO_PWRITE, IO_RECV };

/* One system call that never waits: preadv2/pwritev2 with RWF_NOWAIT, or recv with MSG_DONTWAIT.
 * Arguments (fd, buf, bufOffset, length[, position]); returns bytes or a negative errno. */
static napi_value io_nowait(napi_env env, napi_callback_info info, enum io_op op) {
  size_t want = op == IO_RECV ? 4 : 5;
  size_t argc = 5;
  napi_value argv[5];
  IO_CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < want) {
    napi_throw_type_error(env, NULL, op == IO_RECV ? "ucrypt native: (fd, buf, bufOffset, length)" : "ucrypt native: (fd, buf, bufOffset, length, position)");
    return NULL;
  }
  int32_t fd = -1;
  int64_t pos = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || (op != IO_RECV && napi_get_value_int64(env, argv[4], &pos) != napi_ok) ||
      fd < 0 || pos < 0) {
    napi_throw_type_error(env, NULL, "ucrypt native: fd and position must be non-negative numbers");
    return NULL;
  }
  unsigned char *data = NULL;
  size_t len = 0;
  if (!io_range(env, argv, &data, &len)) return NULL;
  double result;
#ifdef __linux__
  struct iovec iov = { data, len };
  ssize_t r;
  do {
    /* The raw system calls: glibc before 2.26 (and some libcs) lack the wrappers. */
    if (op == IO_RECV) r = recv(fd, data, len, MSG_DONTWAIT);
    else if (op == IO_PWRITE) r = syscall(SYS_pwritev2, fd, &iov, 1, (long)pos, (long)((uint64_t)pos >> 32), RWF_NOWAIT);
    else r = syscall(SYS_preadv2, fd, &iov, 1, (long)pos, (long)((uint64_t)pos >> 32), RWF_NOWAIT);
  } while (r < 0 && errno == EINTR);
  result = r < 0 ? -(double)errno : (double)r;
#else
  (void)fd;
  (void)pos;
  (void)data;
  (void)len;
  (void)op;
  result = -(double)EOPNOTSUPP;
#endif
  napi_value out;
  IO_CHECK(napi_create_double(env, result, &out));
  return out;
}

static napi_value js_pread_nowait(napi_env env, napi_callback_info info) { return io_nowait(env, info, IO_PREAD); }

static napi_value js_pwrite_nowait(napi_env env, napi_callback_info info) { return io_nowait(env, info, IO_PWRITE); }

static napi_value js_recv_nowait(napi_env env, napi_callback_info info) { return io_nowait(env, info, IO_RECV); }

static napi_value js_set_send_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  IO_CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1, bytes = -1;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &bytes) != napi_ok ||
      fd < 0 || bytes <= 0) {
    napi_throw_type_error(env, NULL, "ucrypt native: (fd, bytes) must be positive numbers");
    return NULL;
  }
  double result;
#ifdef __linux__
  int v = bytes;
  socklen_t l = sizeof v;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0 || getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &l) < 0)
    result = -(double)errno;
  else
    result = (double)v;
#else
  result = -(double)EOPNOTSUPP;
#endif
  napi_value out;
  IO_CHECK(napi_create_double(env, result, &out));
  return out;
}

static int set_int(napi_env env, napi_value obj, const char *name, int v) {
  napi_value x;
  return napi_create_int32(env, v, &x) == napi_ok && napi_set_named_property(env, obj, name, x) == napi_ok;
}

/* Called from ucrypt_crypto.c's NAPI_MODULE_INIT: adds the I/O exports. */
int ucrypt_io_init(napi_env env, napi_value exports) {
  napi_value errnos;
  if (napi_create_object(env, &errnos) != napi_ok) return 0;
  if (!set_int(env, errnos, "EAGAIN", EAGAIN) || !set_int(env, errnos, "EOPNOTSUPP", EOPNOTSUPP) ||
      !set_int(env, errnos, "EINVAL", EINVAL) || !set_int(env, errnos, "ENOSYS", ENOSYS))
    return 0;
  const napi_property_descriptor props[] = {
    { .utf8name = "preadNowait", .method = js_pread_nowait, .attributes = napi_enumerable },
    { .utf8name = "pwriteNowait", .method = js_pwrite_nowait, .attributes = napi_enumerable },
    { .utf8name = "recvNowait", .method = js_recv_nowait, .attributes = napi_enumerable },
    { .utf8name = "setSendBuffer", .method = js_set_send_buffer, .attributes = napi_enumerable },
    { .utf8name = "nowaitErrno", .value = errnos, .attributes = napi_enumerable },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
