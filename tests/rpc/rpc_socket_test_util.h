#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "rpc/dispatcher.h"
#include "rpc/frame.h"
#include "rpc/server.h"

namespace warren::rpc::testing {

// A private directory under /tmp (short, so sun_path stays < 108 bytes),
// removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A raw client socket for sending arbitrary bytes. Reads are bounded by a
// generous hang guard (a test that waits that long has failed anyway).
class RawConn {
 public:
  explicit RawConn(const std::filesystem::path& socket);
  ~RawConn();
  bool connected() const { return fd_ >= 0; }
  void Send(std::string_view bytes);
  void SendJson(const nlohmann::json& message);
  // The next frame, or nullopt on EOF (or hang guard).
  std::optional<Frame> ReadFrame();
  // Next kJson frame parsed, skipping stream frames; null json on EOF.
  nlohmann::json ReadJson();
  // True when the server closes the connection (after any pending frames).
  bool WaitEof();
  void Close();

 private:
  int fd_ = -1;
  bool eof_ = false;
  FrameDecoder decoder_{1u << 30};
};

// Runs a Server with the test dispatcher (or a given one) on a thread.
class ServerHarness {
 public:
  explicit ServerHarness(ServerOptions options, std::unique_ptr<Dispatcher> dispatcher = nullptr);
  ~ServerHarness();
  bool ok() const { return server_ != nullptr; }
  Server& server() { return *server_; }
  Dispatcher& dispatcher() { return *dispatcher_; }
  const std::filesystem::path& socket() const { return socket_; }
  void Shutdown();

 private:
  TempDir dir_;
  std::filesystem::path socket_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Server> server_;
  std::thread serve_thread_;
};

}  // namespace warren::rpc::testing
