// Container image references as container runtimes parse them (the grammar
// of the distribution reference library): [host[:port]/]path[:tag][@digest],
// with a lowercase path such as "library/python". Shared by the spec loader
// (a bad image is an error at its line) and the fake cluster's kubelet
// (which reports InvalidImageName, as a real one does).
#pragma once

#include <string_view>

namespace portflow {

// "python:3.12", "ghcr.io/org/app:v1", "localhost:5000/a/b@sha256:<64 hex>".
bool IsImageReference(std::string_view ref);

}  // namespace portflow
