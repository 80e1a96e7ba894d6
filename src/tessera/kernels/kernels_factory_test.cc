// make_kernel_backend, the kernel thread count, and the machine probe's JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "tessera/kernels/kernel_backend.h"
#include "tessera/kernels/kernel_probe.h"

namespace tessera {
namespace {

TEST(KernelFactoryTest, MakesBothBackends) {
  for (const char* name : {"ref", "fast"}) {
    StatusOr<std::unique_ptr<KernelBackend>> backend = make_kernel_backend(name);
    ASSERT_TRUE(backend.ok()) << backend.status().to_string();
    EXPECT_STREQ((*backend)->name(), name);
  }
}

TEST(KernelFactoryTest, UnknownNameIsInvalidArgumentNamingTheKnownOnes) {
  for (const char* name : {"cuda", "", "Fast"}) {
    StatusOr<std::unique_ptr<KernelBackend>> backend = make_kernel_backend(name);
    ASSERT_FALSE(backend.ok()) << name;
    EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument);
    const std::string message = backend.status().message();
    EXPECT_NE(message.find("'" + std::string(name) + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("ref"), std::string::npos) << message;
    EXPECT_NE(message.find("fast"), std::string::npos) << message;
  }
}

TEST(KernelFactoryTest, ThreadsRoundTripAndZeroMeansAllCores) {
  set_kernel_threads(3);
  EXPECT_EQ(kernel_threads(), 3);
  set_kernel_threads(0);
  EXPECT_GE(kernel_threads(), 1);
  set_kernel_threads(2);
  EXPECT_EQ(kernel_threads(), 2);
}

TEST(KernelProbeTest, JsonHasEveryField) {
  MachineProbe probe;
  probe.threads = 2;
  probe.matmul = {{2048, 384, 384, 150.5}, {8, 9, 10, 1.25}};
  probe.memory_bandwidth_gbs = 31.5;
  probe.peak.fp32_gflops = 230.0;
  probe.peak.bf16_gflops = 460.0;
  const nlohmann::json json = nlohmann::json::parse(machine_probe_to_json(probe));
  EXPECT_EQ(json.at("threads"), 2);
  ASSERT_EQ(json.at("matmul").size(), 2u);
  EXPECT_EQ(json.at("matmul")[0].at("m"), 2048);
  EXPECT_EQ(json.at("matmul")[1].at("k"), 10);
  EXPECT_DOUBLE_EQ(json.at("matmul")[0].at("gflops").get<double>(), 150.5);
  EXPECT_DOUBLE_EQ(json.at("memory_bandwidth_gbs").get<double>(), 31.5);
  EXPECT_DOUBLE_EQ(json.at("fp32_peak_gflops").get<double>(), 230.0);
  EXPECT_DOUBLE_EQ(json.at("bf16_peak_gflops").get<double>(), 460.0);
}

// One real, minimal probe (each point timed once after its warm-up): every figure must be positive.
TEST(KernelProbeTest, ProbeMeasuresEveryShape) {
  StatusOr<std::unique_ptr<KernelBackend>> backend = make_kernel_backend("fast");
  ASSERT_TRUE(backend.ok());
  const MachineProbe probe = probe_machine(**backend, 2, 0.0);
  EXPECT_EQ(probe.threads, 2);
  ASSERT_EQ(probe.matmul.size(), matmul_probe_shapes().size());
  for (const MatmulProbe& shape : probe.matmul) EXPECT_GT(shape.gflops, 0.0) << shape.m << "x" << shape.n;
  EXPECT_GT(probe.memory_bandwidth_gbs, 0.0);
  EXPECT_GT(probe.peak.fp32_gflops, 0.0);
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// Programmer errors abort with a message naming the bad values (TESSERA_CHECK), in both backends.
TEST(KernelsDeathTest, BadShapesAndStepsAbortWithTheValues) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // OpenMP threads exist by now
  for (const char* name : {"ref", "fast"}) {
    std::unique_ptr<KernelBackend> backend = std::move(make_kernel_backend(name).value());
    std::vector<float> qkv(3 * 10), out(10), stats(6);
    EXPECT_DEATH(backend->attention_forward(out.data(), stats.data(), qkv.data(), 1, 1, 10, 3), "C=10.*NH=3")
        << name;
    float p = 0.0f, g = 0.0f, m = 0.0f, v = 0.0f;
    EXPECT_DEATH(backend->adamw_update(&p, &g, &m, &v, 1, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 0), "t=0") << name;
  }
}

}  // namespace
}  // namespace tessera
