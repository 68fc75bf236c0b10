// Typed access to the `images` table (migration 3), kept apart from store.cc so
// each record family reads on its own.
#include <sqlite3.h>

#include "store/statement.h"
#include "store/store.h"

namespace warren {
namespace {

constexpr std::string_view kImageColumns = "name, created_ms, manifest_json, state";

ImageRecord ReadImage(const Statement& st) {
  return ImageRecord{st.ColumnText(0), st.ColumnInt(1), st.ColumnText(2), st.ColumnText(3)};
}

Status ImageNotFound(std::string_view name) {
  return NotFound("image \"" + std::string(name) + "\" is not registered; see `warren image ls`");
}

}  // namespace

Status Tx::InsertImage(const ImageRecord& image) {
  Result<ImageRecord> existing = GetImage(image.name);
  if (existing.ok()) return AlreadyExists("image \"" + image.name + "\" already exists");
  if (existing.error().code() != Code::kNotFound) return existing.error();
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "INSERT INTO images (" + std::string(kImageColumns) +
                                               ") VALUES (?, ?, ?, ?)"));
  return st.Bind(1, image.name)
      .Bind(2, image.created_ms)
      .Bind(3, image.manifest_json)
      .Bind(4, image.state)
      .Run()
      .Annotate("store image " + image.name);
}

Result<std::vector<ImageRecord>> Tx::ListImages() {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "SELECT " + std::string(kImageColumns) +
                                               " FROM images ORDER BY created_ms, name"));
  std::vector<ImageRecord> images;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return images;
    images.push_back(ReadImage(st));
  }
}

Result<ImageRecord> Tx::GetImage(std::string_view name) {
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "SELECT " + std::string(kImageColumns) +
                                                             " FROM images WHERE name = ?"));
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return ImageNotFound(name);
  return ReadImage(st);
}

Status Tx::DeleteImage(std::string_view name) {
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "DELETE FROM images WHERE name = ?"));
  RETURN_IF_ERROR(st.Bind(1, name).Run());
  if (sqlite3_changes(db_) == 0) return ImageNotFound(name);
  return Status::Ok();
}

Status Tx::SetImageState(std::string_view name, std::string_view state) {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "UPDATE images SET state = ? WHERE name = ?"));
  RETURN_IF_ERROR(st.Bind(1, state).Bind(2, name).Run());
  if (sqlite3_changes(db_) == 0) return ImageNotFound(name);
  return Status::Ok();
}

Status Store::InsertImage(const ImageRecord& image) {
  return Transaction([&](Tx& tx) { return tx.InsertImage(image); });
}

Result<std::vector<ImageRecord>> Store::ListImages() {
  std::vector<ImageRecord> images;
  RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(images, tx.ListImages());
    return Status::Ok();
  }));
  return images;
}

Result<ImageRecord> Store::GetImage(std::string_view name) {
  ImageRecord image;
  RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(image, tx.GetImage(name));
    return Status::Ok();
  }));
  return image;
}

Status Store::DeleteImage(std::string_view name) {
  return Transaction([&](Tx& tx) { return tx.DeleteImage(name); });
}

}  // namespace warren
