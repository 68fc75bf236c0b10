// image.*: build, register, list, inspect, remove, and the build cache.
#include <chrono>

#include "image/recipe.h"
#include "image/registry.h"
#include "rpc/services.h"

namespace warren::rpc {
namespace {

using json = nlohmann::json;

struct NameRequest {
  std::string name;
  static constexpr auto kParams = std::to_array<ParamSpec>({Str("name", kRequired, "the image")});
  static Result<NameRequest> FromJson(const json& p) {
    NameRequest r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateImageName(r.name));
    return r;
  }
};

// The recipe travels as TOML text (the CLI reads the file) and is parsed here,
// before any lock, so a bad recipe never starts an op.
struct BuildRequest {
  std::string name;
  std::string recipe_text;  // "" = the built-in default
  Recipe recipe;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the new image's name"),
      Str("recipe", kOptional, "the recipe's TOML text; empty = the built-in default", 1 << 20),
      Str("recipe_origin", kOptional, "the recipe's file name, for error messages"),
  });
  static Result<BuildRequest> FromJson(const json& p) {
    BuildRequest r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateImageName(r.name));
    ASSIGN_OR_RETURN(r.recipe_text, OptionalString(p, "recipe"));
    ASSIGN_OR_RETURN(std::string origin, OptionalString(p, "recipe_origin", "recipe"));
    if (r.recipe_text.empty()) {
      r.recipe = DefaultRecipe();
    } else {
      ASSIGN_OR_RETURN(r.recipe, ParseRecipe(r.recipe_text, origin));
    }
    return r;
  }
};

struct RegisterParams {
  RegisterRequest req;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the new image's name"),
      Str("kernel", kRequired, "absolute path of the kernel on the daemon's host"),
      Str("rootfs", kRequired, "absolute path of the root filesystem image"),
      Str("initrd", kOptional, "absolute path of the initrd"),
      Str("cmdline", kOptional, "extra kernel command line"),
      Bool("cloud_init", "the image runs cloud-init (its facts say so; #cloud-config user-data "
                         "is accepted for its VMs)"),
      Bool("guest_agent", "the image serves warren's guest agent on the virtio-serial port "
                          "org.warren.agent.0 (docs/SNAPSHOTS.md): its VMs can be cloned"),
  });
  static Result<RegisterParams> FromJson(const json& p) {
    RegisterParams r;
    ASSIGN_OR_RETURN(r.req.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateImageName(r.req.name));
    ASSIGN_OR_RETURN(std::string kernel, RequiredString(p, "kernel"));
    ASSIGN_OR_RETURN(std::string rootfs, RequiredString(p, "rootfs"));
    ASSIGN_OR_RETURN(std::string initrd, OptionalString(p, "initrd"));
    ASSIGN_OR_RETURN(r.req.cmdline, OptionalString(p, "cmdline"));
    r.req.kernel = kernel;
    r.req.rootfs = rootfs;
    r.req.initrd = initrd;
    ASSIGN_OR_RETURN(bool cloud_init, OptionalBool(p, "cloud_init"));
    ASSIGN_OR_RETURN(bool guest_agent, OptionalBool(p, "guest_agent"));
    r.req.facts = json{{"cloud_init", cloud_init}, {"guest_agent", guest_agent}};
    return r;
  }
};

struct RemoveRequest {
  std::string name;
  bool force = false;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the image"),
      Bool("force", "remove even if VMs were created from it"),
  });
  static Result<RemoveRequest> FromJson(const json& p) {
    RemoveRequest r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateImageName(r.name));
    ASSIGN_OR_RETURN(r.force, OptionalBool(p, "force"));
    return r;
  }
};

// One `image ls` row: the manifest's summary without the recipe text.
json Summary(const ImageInfo& info) {
  uint64_t bytes = 0;
  const json parts = info.manifest.value("parts", json::object());  // outlives the loop
  for (const auto& [role, part] : parts.items()) {
    bytes += part.value("bytes", uint64_t{0});
  }
  json source = info.manifest.value("source", json::object());
  json facts = info.manifest.value("facts", json::object());
  return {{"name", info.name},
          {"created_ms", info.created_ms},
          {"state", info.state},
          {"source", source.value("type", "")},
          {"flavour", facts.value("flavour", "")},
          {"bytes", bytes}};
}

Result<json> CacheList(ImageRegistry* images) {
  ASSIGN_OR_RETURN(std::vector<CacheEntry> entries, images->ListCache());
  json list = json::array();
  uint64_t total = 0;
  for (const CacheEntry& e : entries) {
    auto modified = std::chrono::file_clock::to_sys(e.modified);
    list.push_back({{"step", e.step},
                    {"key", e.key},
                    {"path", e.path.string()},
                    {"bytes", e.bytes},
                    {"modified_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                        modified.time_since_epoch())
                                        .count()}});
    total += e.bytes;
  }
  return json{{"entries", list}, {"bytes", total}};
}

}  // namespace

std::vector<MethodRow> ImageMethods(const Services& s) {
  ImageRegistry* images = s.images;
  return {
      Method<BuildRequest>(
          "image.build", Mutation::kMutating,
          {.summary = "Starts building an image from a recipe (the default one when none is "
                      "given), as an op.",
           .result = "{op, name}: follow the op with op.wait",
           .errors = {{Code::kAlreadyExists, "an image or a build of that name exists"},
                      {Code::kFailedPrecondition, "the daemon is shutting down"}}},
          [images](const BuildRequest& r, CallContext&) -> Result<json> {
            ASSIGN_OR_RETURN(std::string id, images->BuildImage(r.name, r.recipe, r.recipe_text));
            return json{{"op", id}, {"name", r.name}};
          }),
      Method<RegisterParams>(
          "image.register", Mutation::kMutating,
          {.summary = "Registers an image from existing kernel/rootfs/initrd files (copied in).",
           .result = "IMAGE {name, created_ms, state, dir, manifest}",
           .errors = {{Code::kAlreadyExists, "an image of that name exists"},
                      {Code::kNotFound, "a given file does not exist"},
                      {Code::kCancelled, "the client went away while copying"}}},
          [images](const RegisterParams& r, CallContext& ctx) -> Result<json> {
            ASSIGN_OR_RETURN(ImageInfo info, images->RegisterImage(r.req, ctx.stop));
            return ImageInfoToJson(info);
          }),
      Method<NoParams>(
          "image.list", Mutation::kReadOnly,
          {.summary = "Lists the images.",
           .result = "{images: [{name, created_ms, state, bytes, source, facts, ...}]}",
           .errors = {}},
          [images](const NoParams&, CallContext&) -> Result<json> {
            ASSIGN_OR_RETURN(std::vector<ImageInfo> all, images->List());
            json list = json::array();
            for (const ImageInfo& i : all) list.push_back(Summary(i));
            return json{{"images", list}};
          }),
      Method<NameRequest>("image.inspect", Mutation::kReadOnly,
                          {.summary = "Shows one image with its manifest.",
                           .result = "IMAGE {name, created_ms, state, dir, manifest}",
                           .errors = {{Code::kNotFound, "no such image"}}},
                          [images](const NameRequest& r, CallContext&) -> Result<json> {
                            ASSIGN_OR_RETURN(ImageInfo info, images->Get(r.name));
                            return ImageInfoToJson(info);
                          }),
      Method<RemoveRequest>(
          "image.rm", Mutation::kMutating,
          {.summary = "Deletes an image.",
           .result = "{name, removed: true}",
           .errors =
               {{Code::kNotFound, "no such image"},
                {Code::kFailedPrecondition,
                 "a build of it runs, or VMs use it (without force), or a running VM uses it"}}},
          [images](const RemoveRequest& r, CallContext&) -> Result<json> {
            RETURN_IF_ERROR(images->DeleteImage(r.name, r.force));
            return json{{"name", r.name}, {"removed", true}};
          }),
      Method<NoParams>(
          "image.cache.list", Mutation::kReadOnly,
          {.summary = "Lists the image build cache entries.",
           .result = "{entries: [{step, key, path, bytes, modified_ms}], total_bytes}",
           .errors = {}},
          [images](const NoParams&, CallContext&) -> Result<json> { return CacheList(images); }),
      Method<NoParams>("image.cache.prune", Mutation::kMutating,
                       {.summary = "Empties the image build cache.",
                        .result = "{freed_bytes}",
                        .errors = {{Code::kFailedPrecondition, "a build is running"}}},
                       [images](const NoParams&, CallContext&) -> Result<json> {
                         ASSIGN_OR_RETURN(uint64_t freed, images->PruneCache());
                         return json{{"freed_bytes", freed}};
                       }),
  };
}

}  // namespace warren::rpc
