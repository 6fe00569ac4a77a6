// The node groups a fake cloud starts with, from a YAML file
// (`portflow cloud serve --node-groups FILE`):
//
//   nodeGroups:
//     - name: cpu-spot
//       capacityType: SPOT        # or ON_DEMAND (the default)
//       instanceTypes: [c5.large, m5.large]
//       zones: [us-east-1a]       # default: every zone the catalog has
//       minSize: 0
//       maxSize: 10
//       desiredSize: 0
#pragma once

#include <string>
#include <vector>

#include "cloud_backend/fake_cloud/fake_ec2.h"
#include "core/status.h"

namespace portflow::fake_cloud {

// InvalidArgument naming FILE:LINE:COLUMN for anything not in that shape
// (an unknown key, a size that is not a whole number, no groups at all).
// Whether the catalog prices a type is FakeCloud::Make's to say.
Result<std::vector<GroupConfig>> ParseNodeGroups(const std::string& yaml, const std::string& file);
Result<std::vector<GroupConfig>> LoadNodeGroups(const std::string& path);

}  // namespace portflow::fake_cloud
