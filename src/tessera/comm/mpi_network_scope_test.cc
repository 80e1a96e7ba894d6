#include "tessera/comm/mpi_network_scope.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace tessera {
namespace {

// Sets the launcher's variables for one test and restores a clean environment after it.
class MpiNetworkScopeTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_MCA_btl",
                             "TESSERA_MPI_INTERFACES", "OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_oob_tcp_if_include"}) {
      ::unsetenv(name);
    }
  }
  void launched(const char* world, const char* local) {
    ::setenv("OMPI_COMM_WORLD_SIZE", world, 1);
    ::setenv("OMPI_COMM_WORLD_LOCAL_SIZE", local, 1);
  }
};

TEST_F(MpiNetworkScopeTest, OneHostUsesSharedMemoryOnly) {
  launched("4", "4");
  EXPECT_EQ(mpi_network_scope_settings(), std::vector<std::string>{"OMPI_MCA_btl=self,vader"});
  scope_mpi_network();
  ASSERT_NE(std::getenv("OMPI_MCA_btl"), nullptr);
  EXPECT_STREQ(std::getenv("OMPI_MCA_btl"), "self,vader");
}

TEST_F(MpiNetworkScopeTest, TheOperatorsSettingWins) {
  launched("2", "2");
  ::setenv("OMPI_MCA_btl", "self,tcp", 1);
  EXPECT_TRUE(mpi_network_scope_settings().empty());
  scope_mpi_network();
  EXPECT_STREQ(std::getenv("OMPI_MCA_btl"), "self,tcp");
}

TEST_F(MpiNetworkScopeTest, SeveralHostsListenOnTheNamedInterfacesOnly) {
  launched("4", "2");
  EXPECT_TRUE(mpi_network_scope_settings().empty());  // nothing named: Open MPI's default stays
  ::setenv("TESSERA_MPI_INTERFACES", "10.77.0.0/24", 1);
  EXPECT_EQ(mpi_network_scope_settings(),
            (std::vector<std::string>{"OMPI_MCA_btl_tcp_if_include=10.77.0.0/24",
                                      "OMPI_MCA_oob_tcp_if_include=10.77.0.0/24"}));
}

TEST_F(MpiNetworkScopeTest, NotLaunchedByMpiChangesNothing) { EXPECT_TRUE(mpi_network_scope_settings().empty()); }

}  // namespace
}  // namespace tessera
