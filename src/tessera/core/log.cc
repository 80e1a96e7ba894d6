#include "tessera/core/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace tessera {

void log_line(LogLevel level, const std::string& message) {
  static constexpr char kLetters[] = {'D', 'I', 'W', 'E'};
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm local;
  localtime_r(&seconds, &local);
  // One fprintf per line so that lines from concurrent threads do not interleave mid-line.
  std::fprintf(stderr, "[tessera %c %02d:%02d:%02d.%03d] %s\n", kLetters[static_cast<int>(level)],
               local.tm_hour, local.tm_min, local.tm_sec, millis, message.c_str());
}

}  // namespace tessera
