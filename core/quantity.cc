#include "core/quantity.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace portflow {
namespace {

__extension__ typedef __int128 i128;
constexpr i128 kMax = static_cast<i128>(INT64_MAX);

// value = mantissa * 10^exp10 * 2^exp2, exactly.
struct Exact {
  i128 mantissa = 0;
  int exp10 = 0;
  int exp2 = 0;
};

Status QuantityError(std::string_view text, std::string_view why) {
  return InvalidArgument("invalid quantity \"" + std::string(text) + "\": " + std::string(why));
}

Result<Exact> ParseExact(std::string_view text) {
  Exact e;
  size_t i = 0;
  if (text.empty()) return QuantityError(text, "empty");
  bool negative = false;
  if (text[i] == '+' || text[i] == '-') negative = text[i++] == '-';
  size_t digits = 0;
  bool seen_dot = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.' && !seen_dot) {
      seen_dot = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    if (++digits > 30) return QuantityError(text, "too many digits");
    e.mantissa = e.mantissa * 10 + (c - '0');
    if (seen_dot) --e.exp10;
  }
  if (digits == 0) return QuantityError(text, "expected a number");
  std::string_view suffix = text.substr(i);
  if (suffix.empty()) {
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    static constexpr std::string_view kBinary = "KMGTPE";
    size_t p = kBinary.find(suffix[0]);
    if (p == std::string_view::npos) {
      return QuantityError(text,
                           "unknown suffix \"" + std::string(suffix) +
                               "\" (use n, u, m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei)");
    }
    e.exp2 = 10 * static_cast<int>(p + 1);
  } else if (suffix == "E") {
    e.exp10 += 18;  // exa; "1E3" below is an exponent
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view exp = suffix.substr(1);
    size_t j = 0;
    bool neg_exp = false;
    if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) neg_exp = exp[j++] == '-';
    if (j == exp.size() || exp.size() - j > 3) return QuantityError(text, "bad exponent");
    int n = 0;
    for (; j < exp.size(); ++j) {
      if (!std::isdigit(static_cast<unsigned char>(exp[j])))
        return QuantityError(text, "bad exponent");
      n = n * 10 + (exp[j] - '0');
    }
    e.exp10 += neg_exp ? -n : n;
  } else if (suffix.size() == 1) {
    static constexpr std::string_view kDecimal = "num kMGTPE";
    size_t p = kDecimal.find(suffix[0]);
    if (p == std::string_view::npos || suffix[0] == ' ') {
      return QuantityError(text,
                           "unknown suffix \"" + std::string(suffix) +
                               "\" (use n, u, m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei)");
    }
    e.exp10 += 3 * (static_cast<int>(p) - 3);
  } else {
    return QuantityError(text, "unknown suffix \"" + std::string(suffix) +
                                   "\" (use n, u, m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei)");
  }
  if (negative && e.mantissa != 0) return QuantityError(text, "must not be negative");
  return e;
}

// ceil(e * 10^shift) as int64, or an error when it does not fit.
Result<int64_t> Scale(std::string_view text, Exact e, int shift) {
  int exp10 = e.exp10 + shift;
  i128 v = e.mantissa;
  if (v == 0) return int64_t{0};
  for (int k = 0; k < e.exp2; ++k) {
    v *= 2;
    if (v > kMax) return QuantityError(text, "too large");
  }
  for (; exp10 > 0; --exp10) {
    v *= 10;
    if (v > kMax) return QuantityError(text, "too large");
  }
  for (; exp10 < 0; ++exp10) {
    i128 q = v / 10;
    if (v % 10 != 0) ++q;  // round up, as the API server does
    v = q;
  }
  return static_cast<int64_t>(v);
}

}  // namespace

Result<int64_t> ParseMilliQuantity(std::string_view text) {
  ASSIGN_OR_RETURN(Exact e, ParseExact(text));
  return Scale(text, e, 3);
}

Result<int64_t> ParseQuantity(std::string_view text) {
  ASSIGN_OR_RETURN(Exact e, ParseExact(text));
  return Scale(text, e, 0);
}

Result<Duration> ParseDuration(std::string_view text) {
  auto error = [&](std::string_view why) {
    return InvalidArgument("invalid duration \"" + std::string(text) + "\": " + std::string(why) +
                           " (examples: 90s, 1h30m, 500ms)");
  };
  if (text == "0") return Duration(0);
  if (text.empty()) return error("empty");
  long double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    long double value = 0, scale = 1;
    bool dot = false, any = false;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '.' && !dot) {
        dot = true;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        any = true;
        if (dot) {
          scale /= 10;
          value += (c - '0') * scale;
        } else {
          value = value * 10 + (c - '0');
        }
      } else {
        break;
      }
    }
    if (!any)
      return error(start == 0 && (text[0] == '-' || text[0] == '+') ? "must not be signed"
                                                                    : "expected a number");
    size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.')
      ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    long double ns;
    if (unit == "ns")
      ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s")
      ns = 1e3;
    else if (unit == "ms")
      ns = 1e6;
    else if (unit == "s")
      ns = 1e9;
    else if (unit == "m")
      ns = 60e9;
    else if (unit == "h")
      ns = 3600e9;
    else if (unit.empty())
      return error("missing unit");
    else
      return error("unknown unit \"" + std::string(unit) + "\"");
    total += value * ns;
    if (total > 9.2e18L) return error("too large");
  }
  return Duration(static_cast<int64_t>(total + 0.5L));
}

std::string FormatMilliCpu(int64_t milli) {
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return std::to_string(milli) + "m";
}

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit < 5 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + (unit >= 0 ? kUnits[unit] : "");
}

std::string FormatBytesShort(int64_t bytes) {
  static constexpr const char* kUnits[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (unit < 6 && std::abs(v) >= 1024) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s + kUnits[unit];
}

std::string FormatMillis(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

std::string FormatElapsed(int64_t ms) {
  int64_t s = ms / 1000;
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  }
  return buf;
}

std::string FormatDuration(Duration d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  if (ns < 1'000'000'000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%gms", static_cast<double>(ns) / 1e6);
    return buf;
  }
  int64_t h = ns / 3'600'000'000'000;
  ns -= h * 3'600'000'000'000;
  int64_t m = ns / 60'000'000'000;
  ns -= m * 60'000'000'000;
  char buf[64];
  std::string out;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ns) / 1e9);
  return out + buf;
}

std::string FormatUsd(double usd) {
  char buf[48];
  std::snprintf(buf, sizeof buf, usd < 0.01 ? "$%.6f" : usd < 1 ? "$%.4f" : "$%.2f", usd);
  return buf;
}

Result<double> ParseUsd(std::string_view text) {
  std::string number(text);
  if (number.size() > 3 && number.substr(number.size() - 3) == "USD")
    number = number.substr(0, number.size() - 3);
  char* end = nullptr;
  double usd = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || !std::isfinite(usd) || usd <= 0)
    return InvalidArgument("\"" + std::string(text) +
                           "\" must be an amount of US dollars above 0, such as 20USD");
  return usd;
}

}  // namespace portflow
