// warren cp's pure rules: VM:PATH operands, docker cp's destination rules,
// member renaming, the guest's header, and argv that carries any path verbatim.
#include "cli/cp_plan.h"

#include <gtest/gtest.h>

namespace warren::cli::cp {
namespace {

TEST(CpEndpoint, VmPathHostPathAndStdio) {
  Endpoint e = ParseEndpoint("web:/etc/hosts");
  EXPECT_EQ(e.vm, "web");
  EXPECT_EQ(e.path, "/etc/hosts");
  EXPECT_EQ(ParseEndpoint("web:").path, ".");  // the login directory, as scp
  EXPECT_TRUE(ParseEndpoint("-").stdio);
  EXPECT_EQ(ParseEndpoint("./a:b").vm, "");     // docker's escape for a colon
  EXPECT_EQ(ParseEndpoint("/tmp/a:b").vm, "");
  EXPECT_EQ(ParseEndpoint("Web:x").vm, "");     // not a VM name: a host path
  EXPECT_EQ(ParseEndpoint("a b:x").vm, "");
  EXPECT_EQ(ParseEndpoint("plain").vm, "");
  EXPECT_EQ(ParseEndpoint("web:a:b").path, "a:b");
}

TEST(CpPlan, Directions) {
  Result<Plan> up = MakePlan({"a", "b", "web:/srv"});
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  EXPECT_EQ(up->direction, Direction::kToGuest);
  EXPECT_EQ(up->vm, "web");
  EXPECT_EQ(up->sources, (std::vector<std::string>{"a", "b"}));
  Result<Plan> down = MakePlan({"web:/a", "web:/b", "."});
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->direction, Direction::kFromGuest);
  EXPECT_EQ(down->dst, ".");
  Result<Plan> in = MakePlan({"-", "web:/srv"});
  ASSERT_TRUE(in.ok());
  EXPECT_TRUE(in->stdio);
  Result<Plan> out = MakePlan({"web:/srv", "-"});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->stdio);
  EXPECT_EQ(out->direction, Direction::kFromGuest);
}

TEST(CpPlan, Refusals) {
  EXPECT_FALSE(MakePlan({"a"}).ok());
  EXPECT_FALSE(MakePlan({"a", "b"}).ok());                  // both on the host
  EXPECT_FALSE(MakePlan({"web:/a", "db:/b"}).ok());         // VM to VM
  EXPECT_FALSE(MakePlan({"web:/a", "db:/b", "."}).ok());    // two VMs
  EXPECT_FALSE(MakePlan({"web:/a", "b", "."}).ok());        // host source in a download
  EXPECT_FALSE(MakePlan({"-", "a", "web:/b"}).ok());        // "-" is the only source
  EXPECT_FALSE(MakePlan({"web:/a", "web:/b", "-"}).ok());   // "-" takes one source
  EXPECT_FALSE(MakePlan({"-", "-"}).ok());
  Result<Plan> both = MakePlan({"a", "b"});
  EXPECT_NE(both.error().message().find("VM:PATH"), std::string::npos);
}

TEST(CpPaths, SplitParentBase) {
  EXPECT_EQ(SplitSource("a/b").dir, "a");
  EXPECT_EQ(SplitSource("a/b").name, "b");
  EXPECT_EQ(SplitSource("a/b/").name, "b");
  EXPECT_EQ(SplitSource("b").dir, ".");
  EXPECT_EQ(SplitSource("/b").dir, "/");
  EXPECT_TRUE(SplitSource("a/b/.").contents());
  EXPECT_EQ(SplitSource("a/b/.").dir, "a/b");
  EXPECT_TRUE(SplitSource("/").contents());
  EXPECT_TRUE(SplitSource(".").contents());
  EXPECT_EQ(ParentOf("a/b/"), "a");
  EXPECT_EQ(ParentOf("/a"), "/");
  EXPECT_EQ(ParentOf("a"), ".");
  EXPECT_EQ(ParentOf("//a//b"), "//a");
  EXPECT_EQ(BaseOf("a/b//"), "b");
  EXPECT_EQ(ShellOperand("-rf"), "./-rf");  // never an option, never `cd -`
  EXPECT_EQ(ShellOperand("-"), "./-");
  EXPECT_EQ(ShellOperand(""), ".");
  EXPECT_EQ(ShellOperand("/x"), "/x");
}

TEST(CpPlace, DockerRules) {
  const std::vector<SourceInfo> file = {{SrcKind::kFile, false}};
  const std::vector<SourceInfo> dir = {{SrcKind::kDir, false}};
  const std::vector<SourceInfo> two = {{SrcKind::kFile, false}, {SrcKind::kDir, false}};
  const std::vector<SourceInfo> tar = {{SrcKind::kTarStream, false}};
  auto place = [](std::string_view dst, DstState s, const std::vector<SourceInfo>& src) {
    return Place(dst, dst, s, src);
  };
  // An existing directory receives the source; anything else is its new name.
  EXPECT_EQ(*place("d", DstState::kDir, file), Placement::kInto);
  EXPECT_EQ(*place("f", DstState::kNotDir, file), Placement::kRename);  // overwritten
  EXPECT_EQ(*place("n", DstState::kMissing, file), Placement::kRename);
  EXPECT_EQ(*place("n", DstState::kMissing, dir), Placement::kRename);  // created
  EXPECT_EQ(*place("d", DstState::kDir, two), Placement::kInto);
  EXPECT_EQ(*place("d", DstState::kDir, tar), Placement::kInto);
  // Errors name the destination.
  Result<Placement> r = place("f", DstState::kNotDir, dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "cannot copy a directory to a file: f");
  r = Place("x", "web:x", DstState::kNotDir, two);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("web:x: not a directory"), std::string::npos);
  EXPECT_FALSE(place("n", DstState::kMissing, two).ok());
  EXPECT_FALSE(place("n/", DstState::kMissing, file).ok());  // a trailing '/' wants a directory
  EXPECT_FALSE(place("f/", DstState::kNotDir, file).ok());
  EXPECT_FALSE(place("a/b", DstState::kNoParent, file).ok());
  EXPECT_FALSE(place("f", DstState::kNotDir, tar).ok());
}

TEST(CpMembers, RenameAndRefuse) {
  MemberMap into{Placement::kInto, "", {"b"}, false};
  EXPECT_EQ(*MapMember("./b/x/y", into), "b/x/y");
  EXPECT_EQ(*MapMember("b/", into), "b");
  EXPECT_EQ(*MapMember("/b//x", into), "b/x");
  EXPECT_FALSE(MapMember("c/x", into).ok());       // not under a source
  EXPECT_FALSE(MapMember("b/../../etc", into).ok());
  EXPECT_FALSE(MapMember("..", into).ok());
  EXPECT_FALSE(MapMember("./", into).ok());
  MemberMap rename{Placement::kRename, "new", {"b"}, false};
  EXPECT_EQ(*MapMember("./b", rename), "new");
  EXPECT_EQ(*MapMember("b/x", rename), "new/x");
  MemberMap contents{Placement::kInto, "", {"."}, true};
  EXPECT_EQ(*MapMember("./", contents), "");  // the root: skipped, DST keeps its own mode
  EXPECT_EQ(*MapMember("./x/y", contents), "x/y");
  EXPECT_FALSE(MapMember("./x/../..", contents).ok());
  MemberMap contents_renamed{Placement::kRename, "new", {"."}, true};
  EXPECT_EQ(*MapMember("./", contents_renamed), "new");
  EXPECT_EQ(*MapMember("./x", contents_renamed), "new/x");
}

TEST(CpHeader, Parse) {
  Result<GuestHeader> h = ParseHeader("warren-cp 1 gnu fd 12345");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->flavour, "gnu");
  EXPECT_EQ(h->word, "fd");
  EXPECT_EQ(h->total, 12345);
  EXPECT_EQ(ParseHeader("warren-cp 1 busybox missing")->total, -1);
  EXPECT_EQ(ParseHeader("warren-cp 1 busybox f -")->total, -1);
  EXPECT_FALSE(ParseHeader("Welcome to the guest!").ok());  // a chatty profile, say
  EXPECT_FALSE(ParseHeader("warren-cp 2 gnu dir").ok());
  EXPECT_EQ(ParseDstState("dir"), DstState::kDir);
  EXPECT_EQ(ParseDstState("noparent"), DstState::kNoParent);
}

TEST(CpArgv, PathsAreArgumentsNeverScript) {
  const std::string evil = "a'b $(reboot) `id`\n-x;\"c";
  std::vector<std::string> up = UploadArgv("web", evil + "/d", {evil});
  ASSERT_GE(up.size(), 9u);
  EXPECT_EQ(up[0], "sh");
  EXPECT_EQ(up[1], "-c");
  EXPECT_EQ(up[2].find(evil), std::string::npos);
  EXPECT_EQ(up[5], evil + "/d");
  EXPECT_EQ(up[6], evil);
  EXPECT_EQ(up[7], "d");
  EXPECT_EQ(up[8], evil);
  std::vector<std::string> down = DownloadArgv("web", true, false, {"-x/y", "/srv/."});
  EXPECT_EQ(down[2].find("-x/y"), std::string::npos);
  EXPECT_EQ((std::vector<std::string>(down.begin() + 4, down.end())),
            (std::vector<std::string>{"web", "1", "0", "-x/y", "./-x", "y", "/srv/.", "/srv", "."}));
}

}  // namespace
}  // namespace warren::cli::cp
