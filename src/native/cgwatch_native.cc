// cgwatch's only native code. Node can neither create an eventfd, nor wait
// for POLLPRI, nor send a unix datagram; the kernel reports cgroup v1 memory
// events only through eventfds registered in cgroup.event_control, v2 PSI
// triggers only through POLLPRI, and systemd listens on a datagram socket.
// So this file does exactly those syscalls and watches the fds on Node's own
// libuv loop (uv_poll_t: no thread per fd, no busy polling, no blocking
// read). Every decision (what to register, what a wake means) lives in
// TypeScript (src/native/index.ts, src/sources/).
//
// Errors are thrown as JS Errors carrying `code` (e.g. "EINVAL"), `errno`
// and `syscall`, the shape Node's own fs errors have. Built without C++
// exceptions (NAPI_DISABLE_CPP_EXCEPTIONS): every throw returns at once.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <string>

namespace {

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  char name[64];
  uv_err_name_r(-err, name, sizeof(name));
  std::string message = std::string(syscall) + " failed: " + name + " (" + strerror(err) + ")";
  if (!detail.empty()) message += ": " + detail;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IsFd(const Napi::Value& v) {
  return v.IsNumber() && v.As<Napi::Number>().Int32Value() >= 0;
}

int OpenRetry(const std::string& path, int flags) {
  int fd;
  do fd = open(path.c_str(), flags);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// Opens a control file the way src/cgroup/safeOpen.ts does: never through a
// symlink (O_NOFOLLOW: ELOOP), never blocking (O_NONBLOCK: a FIFO cannot
// stall the event loop), and only a regular file (kernfs files are; a FIFO,
// socket, directory or device on a fake or hostile tree fails with EINVAL).
int OpenControlFile(const std::string& path, int flags) {
  int fd = OpenRetry(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fd;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  return fd;
}

ssize_t WriteRetry(int fd, const void* buf, size_t len) {
  ssize_t n;
  do n = write(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n;
}

// The periodic passes read ~20 control files of every cgroup one-shot (more
// than the fds that can be kept). In JS each read is four fs calls
// (open, fstat, read, close), each a Stats or Error object when it fails
// (an absent file throws); here it is the same four syscalls in one call
// that allocates nothing, relative to the cgroup's directory fd (openat: no
// walk of the whole path per file). The safety rules are safeOpen.ts's:
// O_NOFOLLOW (a symlink fails with ELOOP), O_NONBLOCK (a FIFO cannot block),
// and fstat must say "regular file" before anything is read.

// Returned for a file that is not a regular file: kNotRegular + its S_IFMT
// type bits (st_mode >> 12: 1 FIFO, 2 char device, 4 directory, 6 block
// device, 10 symlink, 12 socket). Errnos are below 4096, so the two never meet.
constexpr int kNotRegular = 4096;

// openDir(path) -> a directory fd (O_PATH: only a base for readAt), or -errno.
Napi::Value OpenDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "openDir(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = OpenRetry(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return Napi::Number::New(env, fd < 0 ? -errno : fd);
}

// readAt(dirfd, name, buffer) -> bytes read into buffer (from offset 0 to
// EOF, at most its length), -errno when the open, fstat or read failed, or
// -(kNotRegular + type) when `name` is not a regular file (not read). dirfd
// -100 (AT_FDCWD) reads an absolute path.
Napi::Value ReadAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsString() || !info[2].IsBuffer())
    return ThrowType(env, "readAt(dirfd, name, buffer)");
  int dirfd = info[0].As<Napi::Number>().Int32Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  Napi::Buffer<char> buf = info[2].As<Napi::Buffer<char>>();
  int fd;
  do fd = openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return Napi::Number::New(env, -errno);
  int result = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    result = -errno;
  } else if (!S_ISREG(st.st_mode)) {
    result = -(kNotRegular + static_cast<int>((st.st_mode & S_IFMT) >> 12));
  } else {
    size_t total = 0;
    size_t cap = buf.Length();
    while (total < cap) {
      ssize_t n = read(fd, buf.Data() + total, cap - total);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        result = -errno;
        break;
      }
      total += static_cast<size_t>(n);
      // A short read is the end: kernfs (seq_file) gives the whole file in one
      // read when the buffer holds it, and must be read in one go to be
      // consistent; a regular file's short read is its EOF. No second read for a 0.
      if (n == 0 || total < cap) break;
    }
    if (result == 0) result = static_cast<int>(total);
  }
  close(fd);
  return Napi::Number::New(env, result);
}

// eventfd() -> fd. Non-blocking (the Watcher drains it from the loop) and
// close-on-exec (children must not inherit notification fds).
Napi::Value CreateEventfd(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ThrowErrno(info.Env(), errno, "eventfd", "");
  return Napi::Number::New(info.Env(), fd);
}

// eventfdWrite(fd, n): adds n to the counter (tests and the benchmark).
Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsFd(info[0]) || !info[1].IsNumber()) return ThrowType(env, "eventfdWrite(fd, n)");
  uint64_t n = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  if (WriteRetry(info[0].As<Napi::Number>().Int32Value(), &n, sizeof(n)) != sizeof(n)) return ThrowErrno(env, errno, "write", "eventfd");
  return env.Undefined();
}

// closeFd(fd): for fds not owned by a Watcher. Throws on EBADF, so a double
// close is a visible bug rather than a silent close of someone else's fd.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsFd(info[0])) return ThrowType(env, "closeFd(fd)");
  // Linux always releases the fd, even when close() reports EINTR: never retry.
  if (close(info[0].As<Napi::Number>().Int32Value()) < 0 && errno != EINTR) return ThrowErrno(env, errno, "close", "");
  return env.Undefined();
}

// openV1Notification(cgroupDir, file, args) -> eventfd.
// Writes "<efd> <fd of file> [args]" to <cgroupDir>/cgroup.event_control
// (cgroup-v1/memory.rst §9-§11). The control file's fd may be closed right
// after the write: the kernel holds its own references (containerd does the
// same). On any failure every fd opened here is closed again.
Napi::Value OpenV1Notification(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString() || !info[2].IsString()) return ThrowType(env, "openV1Notification(dir, file, args)");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  std::string file = info[1].As<Napi::String>().Utf8Value();
  std::string args = info[2].As<Napi::String>().Utf8Value();
  std::string target = dir + "/" + file;
  std::string control = dir + "/cgroup.event_control";

  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return ThrowErrno(env, errno, "eventfd", "");
  int tfd = OpenControlFile(target, O_RDONLY);
  if (tfd < 0) {
    int err = errno;
    close(efd);
    return ThrowErrno(env, err, "open", target);
  }
  int cfd = OpenControlFile(control, O_WRONLY);
  if (cfd < 0) {
    int err = errno;
    close(tfd);
    close(efd);
    return ThrowErrno(env, err, "open", control);
  }
  std::string line = std::to_string(efd) + " " + std::to_string(tfd);
  if (!args.empty()) line += " " + args;
  // One write: the kernel parses the whole registration from one buffer.
  ssize_t n = WriteRetry(cfd, line.data(), line.size());
  int err = errno;
  close(cfd);
  close(tfd);
  if (n != static_cast<ssize_t>(line.size())) {
    close(efd);
    return ThrowErrno(env, n < 0 ? err : EIO, "write", control + " <- \"" + file + (args.empty() ? "" : " " + args) + "\"");
  }
  return Napi::Number::New(env, efd);
}

// openPsiTrigger(path, trigger) -> fd. psi.rst: open the pressure file
// O_RDWR|O_NONBLOCK and write "<some|full> <stall us> <window us>"; the trigger
// lives as long as the fd. The terminating NUL is written too: the kernel
// copies the buffer and overwrites its LAST byte with '\0', so a write
// without it would lose the window's last digit.
Napi::Value OpenPsiTrigger(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) return ThrowType(env, "openPsiTrigger(path, trigger)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string trigger = info[1].As<Napi::String>().Utf8Value();
  int fd = OpenControlFile(path, O_RDWR);
  if (fd < 0) return ThrowErrno(env, errno, "open", path);
  ssize_t n = WriteRetry(fd, trigger.c_str(), trigger.size() + 1);
  int err = errno;
  if (n != static_cast<ssize_t>(trigger.size() + 1)) {
    close(fd);
    std::string why = path + " <- \"" + trigger + "\"";
    if (n < 0 && err == EINVAL) why += " (the kernel wants <some|full> <stall us> <window us>, window 500000..10000000, 0 < stall <= window)";
    return ThrowErrno(env, n < 0 ? err : EIO, "write", why);
  }
  return Napi::Number::New(env, fd);
}

// sdNotify(socketPath, message): one datagram to systemd's NOTIFY_SOCKET.
// A leading '@' names the abstract namespace (sd_notify(3)).
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) return ThrowType(env, "sdNotify(socketPath, message)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string message = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return ThrowErrno(env, ENAMETOOLONG, "sendto", "NOTIFY_SOCKET=" + path);
  memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract: no trailing NUL counted
  else len += 1;
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, errno, "socket", "");
  ssize_t n;
  do n = sendto(s, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(s);
  if (n < 0) return ThrowErrno(env, err, "sendto", "NOTIFY_SOCKET=" + path);
  return Napi::Boolean::New(env, true);
}

// new Watcher(fd, mode, callback): watches fd on Node's loop.
//   mode 0 ("eventfd"): UV_READABLE; each wake drains the counter with one
//     8-byte read and calls callback(null, counter).
//   mode 1 ("priority"): UV_PRIORITIZED (POLLPRI, PSI triggers); the kernel
//     consumes the event in poll() itself, so callback(null, 1).
// On a poll error (POLLERR: a PSI trigger whose cgroup is gone, also when
// libuv reports it as POLLPRI) polling stops and callback(error) is called
// once. A successful constructor takes ownership of fd: close() closes it
// exactly once (later calls do nothing).
// While open, the watcher keeps itself alive (strong reference) and, unless
// unref()'d, keeps the loop alive, like a socket.

class Watcher;

// The libuv side of a Watcher, on its own heap block: its close callback may
// run after the JS object was finalized (environment teardown finalizes
// every wrapped object), so it must not live inside the Watcher.
struct PollBox {
  uv_poll_t handle;
  int fd = -1;
  Watcher* owner = nullptr;  // cleared by ~Watcher
  bool closing = false;
  bool tearing_down = false;  // the environment is going away: no JS any more
  napi_async_cleanup_hook_handle hook = nullptr;
};

class Watcher : public Napi::ObjectWrap<Watcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Watcher",
                       {InstanceMethod<&Watcher::Close>("close"), InstanceMethod<&Watcher::RefLoop>("ref"),
                        InstanceMethod<&Watcher::UnrefLoop>("unref"), InstanceAccessor<&Watcher::GetClosed>("closed")});
  }

  explicit Watcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Watcher>(info) {
    Napi::Env env = info.Env();
    if (!IsFd(info[0]) || !info[1].IsNumber() || !info[2].IsFunction()) {
      ThrowType(env, "new Watcher(fd, mode 0|1, callback)");
      return;
    }
    int mode = info[1].As<Napi::Number>().Int32Value();
    if (mode != 0 && mode != 1) {
      ThrowType(env, "Watcher mode must be 0 (eventfd) or 1 (priority)");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    auto* box = new PollBox;
    int rc = uv_poll_init(loop, &box->handle, fd);
    if (rc < 0) {
      delete box;  // never registered with the loop: no uv_close needed
      ThrowErrno(env, -rc, "uv_poll_init", "");
      return;
    }
    box->handle.data = box;
    rc = uv_poll_start(&box->handle, mode == 0 ? UV_READABLE : UV_PRIORITIZED, &Watcher::OnPoll);
    if (rc < 0) {
      box->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&box->handle), &Watcher::OnClosed);  // fd stays the caller's
      ThrowErrno(env, -rc, "uv_poll_start", "");
      return;
    }
    box->fd = fd;
    box->owner = this;
    // A Worker (or an embedder) tearing down its environment with this
    // watcher open must not find a live handle on its loop: the hook closes
    // it, and the loop keeps running until OnClosed removes the hook.
    napi_add_async_cleanup_hook(env, &Watcher::OnEnvTeardown, box, &box->hook);
    box_ = box;
    drain_ = mode == 0;
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "cgwatch:Watcher");
    Ref();  // released when the handle is closed (OnClosed)
  }

  ~Watcher() override {
    // Normally OnClosed ran already (box_ null). At environment teardown the
    // box may still be closing: detach it so its callback does not touch us.
    if (box_ != nullptr) {
      box_->owner = nullptr;
      box_->tearing_down = true;
      if (!box_->closing) CloseBox(box_);
    }
  }

 private:
  // Stops polling, closes the handle (freed in OnClosed) and the fd, once.
  static void CloseBox(PollBox* box) {
    if (box->closing) return;
    box->closing = true;
    uv_poll_stop(&box->handle);  // removes fd from epoll before it is closed
    uv_close(reinterpret_cast<uv_handle_t*>(&box->handle), &Watcher::OnClosed);
    if (box->fd >= 0) close(box->fd);  // Linux releases the fd even on EINTR: never retry
    box->fd = -1;
  }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
    auto* box = static_cast<PollBox*>(arg);
    box->tearing_down = true;
    if (box->owner != nullptr) box->owner->closed_ = true;
    CloseBox(box);  // no-op if already closing; OnClosed removes the hook either way
  }

  static void OnClosed(uv_handle_t* h) {
    auto* box = static_cast<PollBox*>(h->data);
    if (box->hook != nullptr) napi_remove_async_cleanup_hook(box->hook);
    Watcher* self = box->owner;
    bool teardown = box->tearing_down;
    delete box;
    if (self == nullptr) return;
    self->box_ = nullptr;
    if (teardown) return;  // no JS during teardown
    Napi::HandleScope scope(self->Env());
    self->callback_.Reset();
    self->context_.reset();
    self->Unref();  // the JS object may be collected from now on
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* box = static_cast<PollBox*>(h->data);
    Watcher* self = box->owner;
    if (self == nullptr || box->tearing_down || self->closed_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      uv_poll_stop(h);
      char name[64];
      uv_err_name_r(status, name, sizeof(name));
      Napi::Error error = Napi::Error::New(env, std::string("poll error on fd ") + std::to_string(box->fd) + ": " + name +
                                                    " (POLLERR: the event source is gone)");
      error.Set("code", Napi::String::New(env, name));
      self->Deliver({error.Value()});
      return;
    }
    if (self->drain_) {
      uint64_t counter = 0;
      ssize_t n;
      do n = read(box->fd, &counter, sizeof(counter));
      while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // spurious wake: nothing counted
      if (n != sizeof(counter)) {
        ThrowErrno(env, n < 0 ? errno : EIO, "read", "eventfd");
        Napi::Error error = env.GetAndClearPendingException();
        uv_poll_stop(h);
        self->Deliver({error.Value()});
        return;
      }
      self->Deliver({env.Null(), Napi::Number::New(env, static_cast<double>(counter))});
    } else {
      // libuv hands on POLLPRI and drops POLLERR when both are set, and a
      // pressure file whose cgroup is being removed polls as both: on 6.1
      // rmdir wakes the trigger (kernfs releases its open files) and, the
      // poll being level-triggered, would keep waking it until closed. So
      // ask the fd itself. (A live trigger never reports POLLERR; a second
      // poll may consume an event raised meanwhile, which this wake covers.)
      struct pollfd pfd = {box->fd, POLLPRI, 0};
      int n;
      do n = poll(&pfd, 1, 0);
      while (n < 0 && errno == EINTR);
      if (n > 0 && (pfd.revents & (POLLERR | POLLNVAL)) != 0) {
        uv_poll_stop(h);
        Napi::Error error = Napi::Error::New(env, std::string("poll error on fd ") + std::to_string(box->fd) + ": POLLERR (the event source is gone)");
        error.Set("code", Napi::String::New(env, "EPOLLERR"));
        self->Deliver({error.Value()});
        return;
      }
      if ((events & UV_PRIORITIZED) == 0) return;
      self->Deliver({env.Null(), Napi::Number::New(env, 1)});
    }
  }

  // Calls back into JS inside a callback scope (microtasks run after it). A
  // throwing callback becomes an 'uncaughtException', as for any Node
  // callback, instead of a pending exception no one would see. The C API is
  // used on purpose: node-addon-api's wrapper turns any failure into a new
  // Error, which is fatal when the environment is terminating (a Worker that
  // called process.exit() inside this callback); then there is nothing left
  // to report to, and nothing is done.
  void Deliver(std::initializer_list<napi_value> args) {
    napi_env env = Env();
    napi_value result;
    napi_status status = napi_make_callback(env, *context_, Value(), callback_.Value(), args.size(), args.begin(), &result);
    if (status == napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      closed_ = true;
      if (box_ != nullptr) CloseBox(box_);
    }
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (!closed_ && box_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&box_->handle));
    return info.This();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (!closed_ && box_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&box_->handle));
    return info.This();
  }

  Napi::Value GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

  PollBox* box_ = nullptr;
  bool drain_ = true;
  bool closed_ = false;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New<CreateEventfd>(env, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New<EventfdWrite>(env, "eventfdWrite"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("openV1Notification", Napi::Function::New<OpenV1Notification>(env, "openV1Notification"));
  exports.Set("openPsiTrigger", Napi::Function::New<OpenPsiTrigger>(env, "openPsiTrigger"));
  exports.Set("sdNotify", Napi::Function::New<SdNotify>(env, "sdNotify"));
  exports.Set("openDir", Napi::Function::New<OpenDir>(env, "openDir"));
  exports.Set("readAt", Napi::Function::New<ReadAt>(env, "readAt"));
  exports.Set("Watcher", Watcher::Init(env));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(cgwatch_native, Init)
