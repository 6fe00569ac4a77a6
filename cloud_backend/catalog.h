// Instance types and their prices, in SkyPilot's catalog CSV shape:
// InstanceType, AcceleratorName, AcceleratorCount, vCPUs, MemoryGiB, Price,
// SpotPrice, Region, AvailabilityZone (one row per zone). The catalog
// shipped with portflow (catalog/aws.csv) holds the types the scenarios use;
// a target may name its own file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace portflow::cloud {

struct InstanceType {
  std::string name;         // c5.large
  std::string accelerator;  // A10G; "" for none
  int accelerators = 0;
  double vcpus = 0;
  double memory_gib = 0;
  double price = 0;       // USD an hour, on demand
  double spot_price = 0;  // USD an hour, spot; 0 when not offered
  std::string region;
  std::string zone;
  // USD an hour on `spot` capacity: the spot price where offered, else
  // the on-demand price.
  double Hourly(bool spot) const { return spot && spot_price > 0 ? spot_price : price; }
};

class Catalog {
 public:
  // InvalidArgument naming FILE:LINE:COLUMN for a row that is not in the
  // shape (a missing column, a number that is not one, a negative price).
  static Result<Catalog> Parse(const std::string& csv, const std::string& file);
  static Result<Catalog> Load(const std::string& path);
  // The catalog shipped with portflow, built into the binary.
  static const Catalog& Shipped();

  // The row of `type` in `region`, in `zone` when given (else its first
  // zone); nullopt when the catalog has none.
  std::optional<InstanceType> Find(const std::string& type, const std::string& region,
                                   const std::string& zone = "") const;
  // The row of `type` in the first of `zones` the catalog has for it, else
  // in its first zone: where a group (or an instance) runs, priced.
  std::optional<InstanceType> FindIn(const std::string& type, const std::string& region,
                                     const std::vector<std::string>& zones) const;
  // The zones of `region` that offer `type`, in catalog order.
  std::vector<std::string> Zones(const std::string& type, const std::string& region) const;
  const std::vector<InstanceType>& rows() const { return rows_; }

 private:
  std::vector<InstanceType> rows_;
};

}  // namespace portflow::cloud
