#include "tessera/comm/mpi_network_scope.h"

#include <cstdlib>

namespace tessera {

namespace {
const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? value : nullptr;
}
}  // namespace

std::vector<std::string> mpi_network_scope_settings() {
  std::vector<std::string> settings;
  const char* world = env("OMPI_COMM_WORLD_SIZE");
  const char* local = env("OMPI_COMM_WORLD_LOCAL_SIZE");
  const bool one_host = world != nullptr && local != nullptr && std::string(world) == local;
  auto set = [&](const char* name, const std::string& value) {
    if (env(name) == nullptr) settings.push_back(std::string(name) + "=" + value);
  };
  if (one_host) {
    set("OMPI_MCA_btl", "self,vader");
  } else if (const char* interfaces = env("TESSERA_MPI_INTERFACES")) {
    set("OMPI_MCA_btl_tcp_if_include", interfaces);
    set("OMPI_MCA_oob_tcp_if_include", interfaces);
  }
  return settings;
}

void scope_mpi_network() {
  for (const std::string& setting : mpi_network_scope_settings()) {
    const size_t eq = setting.find('=');
    ::setenv(setting.substr(0, eq).c_str(), setting.substr(eq + 1).c_str(), /*overwrite=*/0);
  }
}

}  // namespace tessera
