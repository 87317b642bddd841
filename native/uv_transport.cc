#include "uv_transport.h"

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace ctls {

namespace {

// libuv reads into this and the delegate copies out before the next read.
// A loop runs on one thread, and every worker thread has a loop of its own:
// one buffer per thread serves all of that thread's connections (a buffer
// per connection would hold 64 KiB per idle one), while two threads never
// read into the same memory.
constexpr size_t kReadBufferSize = 64 * 1024;
thread_local char read_buffer[kReadBufferSize];

}  // namespace

// A copy of the bytes the kernel did not take at once, owned by the request.
struct UvTransport::WriteRequest {
  uv_write_t req;
  UvTransport* transport;
  size_t length;
  char data[1];
};

UvTransport::UvTransport(napi_env env, Delegate* delegate) : env_(env), delegate_(delegate) {}

UvTransport* UvTransport::Open(napi_env env, int fd, Delegate* delegate, int* status) {
#ifdef _WIN32
  // Node's sockets on Windows are not descriptors that can be dup()ed and
  // reopened: TLSSocket keeps the JavaScript transport path there.
  *status = UV_ENOTSUP;
  return nullptr;
#else
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    *status = UV_EINVAL;
    return nullptr;
  }
  // Close-on-exec, as every descriptor node and libuv open: a child process
  // must not inherit the connection (nor keep it open once we close it).
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    *status = uv_translate_sys_error(errno);
    return nullptr;
  }
  auto* transport = new (std::nothrow) UvTransport(env, delegate);
  if (transport == nullptr) {
    close(copy);
    *status = UV_ENOMEM;
    return nullptr;
  }
  uv_tcp_init(loop, &transport->tcp_);
  transport->tcp_.data = transport;
  *status = uv_tcp_open(&transport->tcp_, copy);
  if (*status != 0) {
    close(copy);
    transport->delegate_ = nullptr;
    transport->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&transport->tcp_), OnClose);
    return nullptr;
  }
  // Lets the environment's teardown (a worker ending) wait for the close.
  napi_add_async_cleanup_hook(env, OnEnvCleanup, transport, &transport->cleanup_hook_);
  return transport;
#endif
}

int UvTransport::SetReading(bool reading) {
  owner_reading_ = reading;
  return UpdateReading();
}

void UvTransport::HoldReadsUntilDrain() {
  if (queued_ == 0) return;
  reads_held_ = true;
  awaiting_drain_ = true;
  UpdateReading();  // stopping cannot fail
}

int UvTransport::UpdateReading() {
  if (closing_) return 0;
  const bool want = owner_reading_ && !reads_held_;
  if (want == reading_) return 0;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    const int status = uv_read_start(stream, OnAlloc, OnRead);
    if (status != 0) return status;
  } else {
    uv_read_stop(stream);
  }
  reading_ = want;
  return 0;
}

void UvTransport::Write(const char* data, size_t length) {
  if (closing_ || length == 0) return;
  // uv_buf_t lengths are unsigned int on some platforms.
  constexpr size_t kMaxPiece = 1u << 30;
  while (length > kMaxPiece) {
    Write(data, kMaxPiece);
    data += kMaxPiece;
    length -= kMaxPiece;
  }
  bytes_written_ += static_cast<double>(length);
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  size_t written = 0;
  if (queued_ == 0) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned int>(length));
    const int result = uv_try_write(stream, &buf, 1);
    // Any error but "would block" comes back again from uv_write, through
    // OnWrite, so the owner learns of it outside this call.
    if (result > 0) written = static_cast<size_t>(result);
    if (written == length) return;
  }
  const size_t rest = length - written;
  auto* request = static_cast<WriteRequest*>(std::malloc(sizeof(WriteRequest) + rest));
  // Out of memory for a queued write: a TLS stream missing bytes cannot go
  // on, and Node itself stops at an allocation failure of its own buffers.
  if (request == nullptr) napi_fatal_error("continuous-tls", NAPI_AUTO_LENGTH, "out of memory queuing a write", 0);
  request->transport = this;
  request->length = rest;
  std::memcpy(request->data, data + written, rest);
  uv_buf_t buf = uv_buf_init(request->data, static_cast<unsigned int>(rest));
  // Fails at once only on a socket shut down (UV_EPIPE) or closing: what
  // comes after our own end has nowhere to go, as with a net.Socket's.
  if (uv_write(&request->req, stream, &buf, 1, OnWrite) != 0) {
    std::free(request);
    return;
  }
  queued_ += rest;
  if (queued_ > kHighWater) awaiting_drain_ = true;
}

int UvTransport::Shutdown() {
  if (closing_ || shutdown_started_) return UV_EINVAL;
  shutdown_req_.data = this;
  const int status = uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), OnShutdown);
  shutdown_started_ = status == 0;
  return status;
}

void UvTransport::SetRef(bool ref) {
  if (closing_) return;
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&tcp_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&tcp_));
  }
}

void UvTransport::Close() {
  if (closing_) return;
  closing_ = true;
  delegate_ = nullptr;
  // Queued writes end with UV_ECANCELED before OnClose runs.
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
}

void UvTransport::Fail(int status, const char* syscall) {
  if (delegate_ != nullptr) delegate_->OnTransportError(status, syscall);
}

void UvTransport::OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  *buf = uv_buf_init(read_buffer, kReadBufferSize);
}

void UvTransport::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* transport = static_cast<UvTransport*>(stream->data);
  if (transport->delegate_ == nullptr || nread == 0) return;
  if (nread > 0) {
    transport->bytes_read_ += static_cast<double>(nread);
    transport->delegate_->OnTransportRead(buf->base, static_cast<size_t>(nread));
    return;
  }
  // EOF or an error: libuv reads no more either way.
  transport->reading_ = false;
  uv_read_stop(stream);
  if (nread == UV_EOF) {
    transport->delegate_->OnTransportEnd();
  } else {
    transport->Fail(static_cast<int>(nread), "read");
  }
}

void UvTransport::OnWrite(uv_write_t* req, int status) {
  auto* request = reinterpret_cast<WriteRequest*>(req);
  UvTransport* transport = request->transport;
  transport->queued_ -= request->length;
  std::free(request);
  if (status == UV_ECANCELED || transport->delegate_ == nullptr) return;
  if (status != 0) {
    transport->Fail(status, "write");
    return;
  }
  if (transport->queued_ != 0 || !transport->awaiting_drain_) return;
  transport->awaiting_drain_ = false;
  transport->reads_held_ = false;
  const int read_status = transport->UpdateReading();
  if (read_status != 0) {
    transport->Fail(read_status, "read");
    return;
  }
  if (transport->delegate_ != nullptr) transport->delegate_->OnTransportDrain();
}

void UvTransport::OnShutdown(uv_shutdown_t* req, int status) {
  auto* transport = static_cast<UvTransport*>(req->data);
  if (transport->delegate_ != nullptr) transport->delegate_->OnTransportShutdown(status);
}

void UvTransport::OnClose(uv_handle_t* handle) {
  auto* transport = static_cast<UvTransport*>(handle->data);
  if (transport->cleanup_hook_ != nullptr) napi_remove_async_cleanup_hook(transport->cleanup_hook_);
  delete transport;
}

void UvTransport::OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* transport = static_cast<UvTransport*>(arg);
  if (transport->delegate_ != nullptr) transport->delegate_->OnTransportGone();
  transport->Close();
}

}  // namespace ctls
