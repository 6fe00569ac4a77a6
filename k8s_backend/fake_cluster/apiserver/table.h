// Server-side printing (meta.k8s.io/v1 Table), with the columns kubectl
// users know: pod STATUS shows Completed, Error, ContainerCreating,
// Terminating...; Job COMPLETIONS shows 3/3.
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

// A Table of `items`; `with_columns` false leaves out columnDefinitions
// (later events of a watch). `include_object` is the request's
// includeObject: each row carries its object's metadata ("Metadata", the
// default, also for ""), the whole object ("Object", which kubectl asks for
// to --sort-by) or nothing ("None").
json ToTable(const ResourceKind& kind, const std::vector<json>& items, TimePoint now,
             bool with_columns = true, const std::string& include_object = "");

// `object` as PartialObjectMetadata (meta.k8s.io/v1): its metadata only,
// as a Table's rows carry it and as a client that asks for it gets it.
json PartialObjectMetadata(const json& object);

// kubectl's short durations: 45s, 5m3s, 3h, 2d4h, 400d.
std::string HumanDuration(Duration d);

// The pod STATUS column, as kubectl prints it.
std::string PodStatus(const json& pod);

}  // namespace portflow::fake
