#include "cloud_backend/catalog.h"

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

namespace portflow::cloud {

extern const char* const kShippedCatalog;  // catalog_data.cc, from catalog/aws.csv

namespace {

// The fields of one CSV line (RFC 4180 quoting: "a, b" and "" inside), each
// with the column it starts at (1-based).
Result<std::vector<std::pair<std::string, int>>> Fields(const std::string& line,
                                                        const std::string& where) {
  std::vector<std::pair<std::string, int>> out;
  size_t i = 0;
  while (true) {
    int column = static_cast<int>(i) + 1;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      for (++i;; ++i) {
        if (i >= line.size())
          return InvalidArgument(where + ":" + std::to_string(column) +
                                 ": a quoted field does not end");
        if (line[i] == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          ++i;
        } else if (line[i] == '"') {
          ++i;
          break;
        } else {
          field += line[i];
        }
      }
    } else {
      while (i < line.size() && line[i] != ',') field += line[i++];
    }
    out.push_back({field, column});
    if (i >= line.size()) return out;
    if (line[i] != ',')
      return InvalidArgument(where + ":" + std::to_string(i + 1) + ": expected , after a field");
    ++i;
  }
}

}  // namespace

Result<Catalog> Catalog::Parse(const std::string& csv, const std::string& file) {
  static const char* kColumns[] = {"InstanceType", "AcceleratorName", "AcceleratorCount",
                                   "vCPUs",        "MemoryGiB",       "Price",
                                   "SpotPrice",    "Region",          "AvailabilityZone"};
  std::istringstream in(csv);
  std::string line;
  int n = 0;
  std::map<std::string, size_t> at;  // column name -> index
  Catalog catalog;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string where = file + ":" + std::to_string(n);
    if (line.empty()) continue;
    ASSIGN_OR_RETURN(auto fields, Fields(line, where));
    if (at.empty()) {
      for (size_t k = 0; k < fields.size(); ++k) at[fields[k].first] = k;
      for (const char* c : kColumns) {
        if (!at.count(c)) return InvalidArgument(where + ":1: no column " + c);
      }
      continue;
    }
    auto text = [&](const char* column) -> Result<std::string> {
      size_t k = at[column];
      if (k >= fields.size())
        return InvalidArgument(where + ": " + std::to_string(fields.size()) + " fields; column " +
                               column + " is missing");
      return fields[k].first;
    };
    auto number = [&](const char* column, bool optional) -> Result<double> {
      ASSIGN_OR_RETURN(std::string s, text(column));
      if (s.empty() && optional) return 0.0;
      double v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || end != s.data() + s.size() || v < 0)
        return InvalidArgument(where + ":" + std::to_string(fields[at[column]].second) + ": " +
                               column + " must be a number, 0 or more, not \"" + s + "\"");
      return v;
    };
    InstanceType t;
    ASSIGN_OR_RETURN(t.name, text("InstanceType"));
    if (t.name.empty()) return InvalidArgument(where + ":1: InstanceType is empty");
    ASSIGN_OR_RETURN(t.accelerator, text("AcceleratorName"));
    ASSIGN_OR_RETURN(double accelerators, number("AcceleratorCount", true));
    t.accelerators = static_cast<int>(accelerators);
    ASSIGN_OR_RETURN(t.vcpus, number("vCPUs", false));
    ASSIGN_OR_RETURN(t.memory_gib, number("MemoryGiB", false));
    ASSIGN_OR_RETURN(t.price, number("Price", false));
    ASSIGN_OR_RETURN(t.spot_price, number("SpotPrice", true));
    ASSIGN_OR_RETURN(t.region, text("Region"));
    ASSIGN_OR_RETURN(t.zone, text("AvailabilityZone"));
    catalog.rows_.push_back(std::move(t));
  }
  if (at.empty()) return InvalidArgument(file + ": empty; the first line names the columns");
  return catalog;
}

Result<Catalog> Catalog::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read the price catalog " + path);
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

const Catalog& Catalog::Shipped() {
  static const Catalog shipped = *Parse(kShippedCatalog, "catalog/aws.csv");
  return shipped;
}

std::optional<InstanceType> Catalog::Find(const std::string& type, const std::string& region,
                                          const std::string& zone) const {
  for (const InstanceType& t : rows_) {
    if (t.name == type && t.region == region && (zone.empty() || t.zone == zone)) return t;
  }
  return std::nullopt;
}

std::optional<InstanceType> Catalog::FindIn(const std::string& type, const std::string& region,
                                            const std::vector<std::string>& zones) const {
  for (const std::string& zone : zones)
    if (auto row = Find(type, region, zone)) return row;
  return Find(type, region);
}

std::vector<std::string> Catalog::Zones(const std::string& type, const std::string& region) const {
  std::vector<std::string> out;
  for (const InstanceType& t : rows_) {
    if (t.name == type && t.region == region) out.push_back(t.zone);
  }
  return out;
}

}  // namespace portflow::cloud
