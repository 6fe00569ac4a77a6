#include "core/backend_wrapper.h"

namespace portflow {

BackendWrapper::BackendWrapper(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {
  inner_->SetEventSink(this);
}

}  // namespace portflow
