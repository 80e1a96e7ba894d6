// The Prometheus exporter: exposition text of a step, NaN spelled as the format wants, a live scrape over
// loopback that follows publish(), and a port that is taken refused with its number.
#include "tessera/train/prometheus_exporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

StepMetrics step(int64_t n, double loss) {
  return StepMetrics{.step = n, .loss = loss, .lr = 3e-4, .grad_norm = 0.5, .step_seconds = 0.25,
                     .tokens_per_s = 2048, .mfu = 0.41, .mfu_peak_gflops = 100, .peak_rss_bytes = 123456789};
}

TEST(PrometheusExporter, RendersGaugesCountersAndNaN) {
  const std::string before = PrometheusExporter::render(std::nullopt, std::nullopt, 0, 4096, 0);
  EXPECT_THAT(before, HasSubstr("# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 4096\n"));
  EXPECT_THAT(before, Not(HasSubstr("tessera_train_step")));  // nothing to say before the first step
  StepMetrics m = step(7, NAN);
  const std::string text = PrometheusExporter::render(m, 2.5, 3584, 4096, 1.5e9);
  EXPECT_THAT(text, HasSubstr("# TYPE tessera_train_step gauge\ntessera_train_step 7\n"));
  EXPECT_THAT(text, HasSubstr("tessera_train_loss NaN\n"));
  EXPECT_THAT(text, HasSubstr("tessera_train_val_loss 2.5\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE tessera_train_tokens_total counter\ntessera_train_tokens_total 3584\n"));
  EXPECT_THAT(text, HasSubstr("tessera_train_mfu 0.41\n"));
  EXPECT_THAT(text, HasSubstr("tessera_train_learning_rate 0.0003\n"));
  EXPECT_THAT(text, HasSubstr("tessera_train_peak_rss_bytes 123456789\n"));
  EXPECT_THAT(text, HasSubstr("tessera_train_last_step_timestamp_seconds 1500000000\n"));
  EXPECT_THAT(PrometheusExporter::render(m, std::nullopt, 0, 0, 0), Not(HasSubstr("val_loss")));
}

TEST(PrometheusExporter, ServesTheLatestStepOnLoopback) {
  // A free port: bind one, let it go, then take it (a race with other processes only in theory).
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(probe);
  const int port = ntohs(addr.sin_port);
  auto exporter = PrometheusExporter::start(port);
  if (!exporter.ok()) GTEST_SKIP() << exporter.status().message();
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(res->body, HasSubstr("process_resident_memory_bytes"));
  (*exporter)->publish(step(1, 7.5));
  StepMetrics evaluated = step(2, 7.0);
  evaluated.val_loss = 7.25;
  (*exporter)->publish(evaluated);
  (*exporter)->publish(step(3, 6.5));
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_THAT(res->body, HasSubstr("tessera_train_step 3\n"));
  EXPECT_THAT(res->body, HasSubstr("tessera_train_loss 6.5\n"));
  EXPECT_THAT(res->body, HasSubstr("tessera_train_val_loss 7.25\n"));  // the last evaluation's, kept
  EXPECT_THAT(res->body, HasSubstr("tessera_train_tokens_total 1536\n"));  // 3 steps x 2048 tok/s x 0.25 s
  // The port is now taken: a second exporter is refused, naming it.
  auto second = PrometheusExporter::start(port);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(port)));
  EXPECT_FALSE(PrometheusExporter::start(0).ok());
  EXPECT_GT(current_rss_bytes(), 0);
  EXPECT_GE(peak_rss_bytes(), current_rss_bytes() / 2);
}

}  // namespace
}  // namespace tessera
