// UvTransport: the connection's TCP socket, read and written by the addon
// through libuv instead of through a net.Socket in JavaScript. It opens a
// dup() of the socket's descriptor: libuv keeps one watcher per descriptor
// number, so a second handle on the very number Node's own handle holds would
// clash; a dup is a separate slot on the same open file description. Node's
// handle stays open (addresses, options, its close) but never reads.
//
// No OpenSSL and no JavaScript here: the owner (a TlsConnection) is told of
// every outcome through Delegate, and decides what to do with the bytes.
#ifndef NATIVE_UV_TRANSPORT_H_
#define NATIVE_UV_TRANSPORT_H_

#include <node_api.h>
#include <uv.h>

#include <cstddef>

namespace ctls {

class UvTransport {
 public:
  class Delegate {
   public:
    // `length` bytes arrived; `data` is valid only for the call.
    virtual void OnTransportRead(const char* data, size_t length) = 0;
    // The peer ended its side (read returned EOF).
    virtual void OnTransportEnd() = 0;
    // A read or write failed; `status` is a libuv error code.
    virtual void OnTransportError(int status, const char* syscall) = 0;
    // The write queue went from above the high-water mark to empty.
    virtual void OnTransportDrain() = 0;
    // uv_shutdown finished (status 0) or failed.
    virtual void OnTransportShutdown(int status) = 0;
    // The environment is going away: the transport closes itself, and the
    // owner must forget it.
    virtual void OnTransportGone() = 0;

   protected:
    ~Delegate() = default;
  };

  // Queued bytes above which a writer is told to wait for OnTransportDrain.
  static constexpr size_t kHighWater = 64 * 1024;

  // Opens a TCP handle on a dup of `fd`; nullptr with *status set on failure.
  static UvTransport* Open(napi_env env, int fd, Delegate* delegate, int* status);

  // Whether the owner wants to read; a libuv error code when reading cannot
  // start (reported here, not through the delegate: the owner is mid-call).
  int SetReading(bool reading);
  // Stops reading until the write queue drains, whatever SetReading says:
  // for bytes that reading itself made OpenSSL send (see ReadFlow.awaitDrain).
  void HoldReadsUntilDrain();
  // Writes the bytes: straight to the kernel when it takes them, otherwise a
  // copy is queued. A failure of the socket is reported later, through
  // OnTransportError; bytes written after Shutdown() or Close() are dropped.
  void Write(const char* data, size_t length);
  // Half-closes once the queued writes are out (shutdown(2), SHUT_WR).
  void Shutdown();
  void SetRef(bool ref);
  // Stops every callback to the delegate and closes the handle; the object
  // deletes itself once libuv is done with it. Idempotent.
  void Close();

  size_t queued() const { return queued_; }
  bool above_high_water() const { return queued_ > kHighWater; }

 private:
  struct WriteRequest;

  UvTransport(napi_env env, Delegate* delegate);
  ~UvTransport() = default;
  int UpdateReading();
  void Fail(int status, const char* syscall);

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnShutdown(uv_shutdown_t* req, int status);
  static void OnClose(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  uv_tcp_t tcp_;
  uv_shutdown_t shutdown_req_;
  napi_env env_;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  Delegate* delegate_;
  size_t queued_ = 0;
  bool owner_reading_ = false;
  bool awaiting_drain_ = false;  // OnTransportDrain is owed once the queue empties
  bool reads_held_ = false;      // HoldReadsUntilDrain
  bool reading_ = false;
  bool shutdown_started_ = false;
  bool closing_ = false;
};

}  // namespace ctls

#endif  // NATIVE_UV_TRANSPORT_H_
