#include "net/netns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>

#include "fresh_netns.h"
#include "net/netlink.h"

namespace warren {
namespace {

ino_t InodeOf(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

ino_t CallerNetnsInode() {
  struct stat st {};
  EXPECT_EQ(::stat("/proc/thread-self/ns/net", &st), 0);
  return st.st_ino;
}

TEST(NetnsTest, CreateOpenDelete) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Result<NetnsHandle> ns = NetnsHandle::Create(dir, "vms");
    ASSERT_TRUE(ns.ok()) << ns.status().ToString();
    EXPECT_EQ(ns->name(), "vms");
    EXPECT_NE(InodeOf(ns->fd()), CallerNetnsInode()) << "must be a new namespace";

    Result<NetnsHandle> again = NetnsHandle::Create(dir, "vms");
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), Code::kAlreadyExists);

    Result<NetnsHandle> opened = NetnsHandle::Open(dir, "vms");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(InodeOf(opened->fd()), InodeOf(ns->fd()));

    ASSERT_TRUE(NetnsHandle::Delete(dir, "vms").ok());
    EXPECT_EQ(NetnsHandle::Open(dir, "vms").status().code(), Code::kNotFound);
    EXPECT_EQ(NetnsHandle::Delete(dir, "vms").code(), Code::kNotFound);
  });
}

TEST(NetnsTest, OpenOrCreateAdoptsTheSameNamespace) {
  IN_FRESH_NETNS([](const std::string& dir) {
    ino_t first;
    {
      Result<NetnsHandle> ns = NetnsHandle::OpenOrCreate(dir, "vms");
      ASSERT_TRUE(ns.ok()) << ns.status().ToString();
      first = InodeOf(ns->fd());
      Result<Netlink> nl = Netlink::OpenIn(*ns);
      ASSERT_TRUE(nl.ok());
      ASSERT_TRUE(nl->AddBridge("survivor").ok());
    }  // like a daemon exiting: every fd closed, only the bind mount remains
    Result<NetnsHandle> adopted = NetnsHandle::OpenOrCreate(dir, "vms");
    ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
    EXPECT_EQ(InodeOf(adopted->fd()), first);
    Result<Netlink> nl = Netlink::OpenIn(*adopted);
    ASSERT_TRUE(nl.ok());
    EXPECT_TRUE(nl->GetLink("survivor").ok());
    ASSERT_TRUE(NetnsHandle::Delete(dir, "vms").ok());
  });
}

TEST(NetnsTest, StaleFileIsReplaced) {
  IN_FRESH_NETNS([](const std::string& dir) {
    std::ofstream(dir + "/vms") << "not a namespace";
    EXPECT_EQ(NetnsHandle::Open(dir, "vms").status().code(), Code::kFailedPrecondition);
    Result<NetnsHandle> ns = NetnsHandle::OpenOrCreate(dir, "vms");
    ASSERT_TRUE(ns.ok()) << ns.status().ToString();
    EXPECT_NE(InodeOf(ns->fd()), CallerNetnsInode());
    ASSERT_TRUE(NetnsHandle::Delete(dir, "vms").ok());
  });
}

TEST(NetnsTest, RejectsPathLikeNames) {
  for (const char* bad : {"", "a/b", "..", "."}) {
    EXPECT_EQ(NetnsHandle::Create("/nonexistent", bad).status().code(), Code::kInvalidArgument);
  }
}

TEST(NetnsTest, RunInNetnsNeverMovesTheCaller) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Result<NetnsHandle> ns = NetnsHandle::Create(dir, "vms");
    ASSERT_TRUE(ns.ok());
    ino_t before = CallerNetnsInode();
    Result<ino_t> inside =
        RunInNetns(ns->fd(), []() -> Result<ino_t> { return CallerNetnsInode(); });
    ASSERT_TRUE(inside.ok());
    EXPECT_EQ(*inside, InodeOf(ns->fd()));
    EXPECT_EQ(CallerNetnsInode(), before);
    ASSERT_TRUE(NetnsHandle::Delete(dir, "vms").ok());
  });
}

TEST(NetnsTest, RunInNetnsReportsBadFd) {
  Result<int> r = RunInNetns(-1, []() -> Result<int> { return 1; });
  EXPECT_FALSE(r.ok());
}

TEST(NetnsTest, SocketsOpenedInsideStayThere) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Result<NetnsHandle> ns = NetnsHandle::Create(dir, "vms");
    ASSERT_TRUE(ns.ok());
    Result<UniqueFd> sock = OpenSocketIn(*ns, AF_INET, SOCK_DGRAM, 0);
    ASSERT_TRUE(sock.ok()) << sock.status().ToString();
    UniqueFd sock_ns(::ioctl(sock->get(), SIOCGSKNS));  // the socket's own namespace
    ASSERT_TRUE(sock_ns.valid());
    EXPECT_EQ(InodeOf(sock_ns.get()), InodeOf(ns->fd()));
    ASSERT_TRUE(NetnsHandle::Delete(dir, "vms").ok());
  });
}

TEST(NetnsTest, CurrentIsTheCallersNamespace) {
  Result<NetnsHandle> cur = NetnsHandle::Current();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(InodeOf(cur->fd()), CallerNetnsInode());
  EXPECT_TRUE(cur->name().empty());
}

}  // namespace
}  // namespace warren
