#include "tessera/plan/gemm_parts.h"

#include <charconv>

#include "tessera/plan/layer_mix.h"

namespace tessera::plan {

namespace {

constexpr std::array<const char*, kGemmPartCount> kPartNames = {"attention", "mamba_in_proj", "mamba_out_proj",
                                                                "moe_latent", "mtp",       "lm_head"};
constexpr const char* kSyntax =
    "first=N, last=N or PART=FORMAT (PART: attention, mamba_in_proj, mamba_out_proj, moe_latent, mtp, lm_head; "
    "FORMAT: bf16, fp8, fp4)";

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// The part a kind of GEMM belongs to, if a recipe can name it.
std::optional<GemmPart> part_of(LayerGemm gemm) {
  switch (gemm) {
    case LayerGemm::kAttention: return GemmPart::kAttention;
    case LayerGemm::kMambaInProj: return GemmPart::kMambaInProj;
    case LayerGemm::kMambaOutProj: return GemmPart::kMambaOutProj;
    case LayerGemm::kMoeLatent: return GemmPart::kMoeLatent;
    default: return std::nullopt;
  }
}

// Instances of a kind of GEMM in `mix`: one per layer holding it (and per MTP pass).
double instances(const LayerMix& mix, LayerGemm gemm) {
  switch (gemm) {
    case LayerGemm::kAttention: return mix.attention;
    case LayerGemm::kMambaInProj:
    case LayerGemm::kMambaOutProj: return mix.mamba;
    case LayerGemm::kDenseMlp: return mix.dense_ffn;
    case LayerGemm::kExperts:
    case LayerGemm::kSharedExperts:
    case LayerGemm::kMoeLatent:
    case LayerGemm::kRouter: return mix.moe_ffn;
    case LayerGemm::kMtpProjection: return mix.mtp;
  }
  return 0;
}

}  // namespace

const char* gemm_part_name(GemmPart part) { return kPartNames[static_cast<size_t>(part)]; }

bool GemmParts::empty() const {
  if (bf16_first_layers > 0 || bf16_last_layers > 0) return false;
  for (const auto& f : format) {
    if (f) return false;
  }
  return true;
}

StatusOr<GemmParts> parse_gemm_parts(std::string_view text) {
  GemmParts parts;
  bool first_seen = false, last_seen = false;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return invalid_argument_error("expected {}, found '{}'", kSyntax, item);
    const std::string_view key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    if (key == "first" || key == "last") {
      bool& seen = key == "first" ? first_seen : last_seen;
      int64_t n = -1;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 0 || n > (int64_t{1} << 20)) {
        return invalid_argument_error("expected {}=N with N a layer count >= 0, found '{}'", key, item);
      }
      if (seen) return invalid_argument_error("'{}' given twice", key);
      seen = true;
      (key == "first" ? parts.bf16_first_layers : parts.bf16_last_layers) = n;
      continue;
    }
    int part = -1;
    for (int i = 0; i < kGemmPartCount; ++i) {
      if (key == kPartNames[static_cast<size_t>(i)]) part = i;
    }
    std::optional<GemmFormat> format;
    if (value == "bf16") format = GemmFormat::kBf16;
    if (value == "fp8") format = GemmFormat::kFp8;
    if (value == "fp4") format = GemmFormat::kFp4;
    if (part < 0 || !format) return invalid_argument_error("expected {}, found '{}'", kSyntax, item);
    if (parts.format[static_cast<size_t>(part)]) return invalid_argument_error("'{}' given twice", key);
    parts.format[static_cast<size_t>(part)] = format;
  }
  return parts;
}

std::string gemm_parts_string(const GemmParts& parts) {
  std::string out;
  auto add = [&](const std::string& item) { out += (out.empty() ? "" : ",") + item; };
  if (parts.bf16_first_layers > 0) add("first=" + std::to_string(parts.bf16_first_layers));
  if (parts.bf16_last_layers > 0) add("last=" + std::to_string(parts.bf16_last_layers));
  for (int i = 0; i < kGemmPartCount; ++i) {
    if (const auto& f = parts.format[static_cast<size_t>(i)]) {
      add(std::string(kPartNames[static_cast<size_t>(i)]) + "=" + gemm_format_name(*f));
    }
  }
  return out;
}

Status validate_gemm_parts(const GemmParts& parts, const ModelSpec& m) {
  if (parts.bf16_first_layers < 0 || parts.bf16_last_layers < 0 ||
      parts.bf16_first_layers + parts.bf16_last_layers > m.n_layer) {
    return invalid_argument_error("expected first + last bf16 layers within the model's {} layers, found first={} "
                                  "last={}",
                                  m.n_layer, parts.bf16_first_layers, parts.bf16_last_layers);
  }
  return Status();
}

GemmSplit gemm_split(const ModelSpec& m, const GemmParts& parts, GemmFormat job_format, LayerGemm gemm) {
  const std::optional<GemmPart> part = part_of(gemm);
  const GemmFormat rest = part && parts.of(*part) ? *parts.of(*part) : job_format;
  GemmSplit split;
  split[2] = {1.0, rest};
  if (parts.empty()) return split;
  const double n = instances(layer_mix(m), gemm);
  if (n <= 0) return split;
  // Layers outside any quantization context run in the job's unquantized format (fp32 jobs stay fp32).
  const GemmFormat high = job_format == GemmFormat::kFp32 ? GemmFormat::kFp32 : GemmFormat::kBf16;
  LayerMix high_layers = layer_mix_of_layers(m, 0, parts.bf16_first_layers);
  const LayerMix last = layer_mix_of_layers(m, m.n_layer - parts.bf16_last_layers, parts.bf16_last_layers);
  high_layers.attention += last.attention, high_layers.mamba += last.mamba;
  high_layers.dense_ffn += last.dense_ffn, high_layers.moe_ffn += last.moe_ffn;
  // Each MTP pass is one attention layer, one MLP (the MoE kind in an MoE model) and a projection (layer_mix.h).
  double mtp = 0;
  if (m.mtp_layers > 0) {
    const bool mlp = gemm == LayerGemm::kDenseMlp ? !is_moe(m)
                                                  : (gemm == LayerGemm::kExperts || gemm == LayerGemm::kSharedExperts ||
                                                     gemm == LayerGemm::kMoeLatent || gemm == LayerGemm::kRouter);
    if (gemm == LayerGemm::kAttention || gemm == LayerGemm::kMtpProjection || mlp) {
      mtp = static_cast<double>(m.mtp_layers);
    }
  }
  const GemmFormat mtp_format = parts.of(GemmPart::kMtp) ? *parts.of(GemmPart::kMtp) : rest;
  const double in_high = instances(high_layers, gemm);
  split[0] = {in_high / n, high};
  if (mtp_format != rest) {
    split[1] = {mtp / n, mtp_format};
    split[2] = {(n - in_high - mtp) / n, rest};
  } else {
    split[2] = {(n - in_high) / n, rest};
  }
  return split;
}

GemmFormat lm_head_format(const GemmParts& parts, GemmFormat job_format) {
  return parts.of(GemmPart::kLmHead) ? *parts.of(GemmPart::kLmHead) : job_format;
}

double quantized_fraction(const GemmSplit& split) {
  double q = 0;
  for (const FormatShare& s : split) {
    if (s.format == GemmFormat::kFp8 || s.format == GemmFormat::kFp4) q += s.fraction;
  }
  return q;
}

}  // namespace tessera::plan
