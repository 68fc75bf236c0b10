#include "sys/line_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace warren {
namespace {

int PollMs(LineChannel::Clock::time_point deadline) {
  auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - LineChannel::Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60 * 1000));
}

// sendmsg of `data` with `fd` attached; the kernel delivers the descriptor
// with the first byte, so a partial send still passed it.
ssize_t SendWithFd(int sock, const char* data, size_t size, int fd) {
  iovec iov = {const_cast<char*>(data), size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL);
}

}  // namespace

LineChannel::LineChannel(UniqueFd fd, size_t max_line, std::string peer,
                         std::string closed_message)
    : fd_(std::move(fd)),
      max_line_(max_line),
      peer_(std::move(peer)),
      closed_message_(std::move(closed_message)) {
  ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
}

Result<bool> LineChannel::Wait(short events, Clock::time_point deadline) {
  while (true) {
    pollfd p = {fd_.get(), events, 0};
    int n = ::poll(&p, 1, PollMs(deadline));
    if (n > 0) return true;
    if (n == 0 && Clock::now() >= deadline) return false;
    if (n < 0 && errno != EINTR) return ErrnoError("poll on the " + peer_, errno);
  }
}

Status LineChannel::Write(std::string_view out, Clock::time_point deadline, int pass_fd) {
  if (closed_) return Unavailable(closed_message_);
  size_t off = 0;
  while (off < out.size()) {
    // MSG_NOSIGNAL: a peer that went away yields EPIPE, not SIGPIPE in the daemon.
    ssize_t n = off == 0 && pass_fd >= 0
                    ? SendWithFd(fd_.get(), out.data(), out.size(), pass_fd)
                    : ::send(fd_.get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      ASSIGN_OR_RETURN(bool ready, Wait(POLLOUT, deadline));
      if (!ready) return DeadlineExceeded("the " + peer_ + " stayed full until the deadline");
    } else if (errno == EPIPE || errno == ECONNRESET) {
      closed_ = true;
      return Unavailable(closed_message_);
    } else {
      return ErrnoError("send on the " + peer_, errno);
    }
  }
  return Status::Ok();
}

Result<std::string> LineChannel::ReadLine(Clock::time_point deadline) {
  while (true) {
    size_t nl = inbuf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = inbuf_.substr(0, nl);
      inbuf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      return line;
    }
    if (closed_) return Unavailable(closed_message_);
    if (inbuf_.size() > max_line_) {
      return Internal("the " + peer_ + " sent over " + std::to_string(max_line_) +
                      " bytes without a newline");
    }
    ASSIGN_OR_RETURN(bool ready, Wait(POLLIN, deadline));
    if (!ready) return DeadlineExceeded("nothing from the " + peer_ + " before the deadline");
    char buf[8192];
    ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      inbuf_.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno == ECONNRESET) {
      closed_ = true;
    } else if (errno != EINTR && errno != EAGAIN) {
      return ErrnoError("recv on the " + peer_, errno);
    }
  }
}

}  // namespace warren
