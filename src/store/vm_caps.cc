// Typed access to the `vm_caps` table (migration 5): one row per VM and
// capability, the settings that capability's Validate returned at create (or
// its Change since). Rows go with their VM (Tx::DeleteVm, and the foreign key).
#include <sqlite3.h>

#include "store/statement.h"
#include "store/store.h"

namespace warren {

Status Tx::PutVmCap(const VmCapRecord &cap) {
  ASSIGN_OR_RETURN(VmRecord vm, GetVm(cap.vm_id));
  if (vm.id != cap.vm_id) // found by name: rows are keyed by id only
    return NotFound("VM id \"" + cap.vm_id + "\" does not exist");
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "INSERT OR REPLACE INTO vm_caps "
                                           "(vm_id, cap, settings_json) VALUES (?, ?, ?)"));
  st.Bind(1, cap.vm_id).Bind(2, cap.cap).Bind(3, cap.settings_json);
  return st.Run().Annotate("store capability " + cap.cap + " of VM " + vm.name);
}

Result<std::vector<VmCapRecord>> Tx::ListVmCaps(std::string_view vm_id) {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "SELECT vm_id, cap, settings_json FROM vm_caps "
                                           "WHERE vm_id = ? ORDER BY cap"));
  st.Bind(1, vm_id);
  std::vector<VmCapRecord> caps;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row)
      return caps;
    caps.push_back(VmCapRecord{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)});
  }
}

Result<std::vector<VmCapRecord>> Store::ListVmCaps(std::string_view vm_id) {
  std::vector<VmCapRecord> caps;
  RETURN_IF_ERROR(Transaction([&](Tx &tx) -> Status {
    ASSIGN_OR_RETURN(caps, tx.ListVmCaps(vm_id));
    return Status::Ok();
  }));
  return caps;
}

Status Store::PutVmCap(const VmCapRecord &cap) {
  return Transaction([&](Tx &tx) { return tx.PutVmCap(cap); });
}

} // namespace warren
