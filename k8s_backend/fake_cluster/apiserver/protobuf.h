// Request bodies in Kubernetes' protobuf encoding
// (application/vnd.kubernetes.protobuf), which client-go's typed clients send
// and kubectl's generator commands (create namespace, configmap, secret,
// service, job) use with no fallback to JSON. The body is the magic "k8s\0"
// then a runtime.Unknown envelope {typeMeta, raw}; raw is the object itself.
//
// Only decoding is done, for the kinds this fake serves and the fields those
// commands and ordinary workloads fill in (ObjectMeta, Namespace, ConfigMap,
// Secret, Service, Pod and Job with the common PodSpec and Container fields).
// The field numbers are those of k8s.io/api 1.32's generated.proto.
#pragma once

#include <string_view>

#include "core/status.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

inline constexpr std::string_view kProtobufType = "application/vnd.kubernetes.protobuf";

// The object as the JSON the API server would have decoded: apiVersion and
// kind from the envelope, Go's omitempty for plain fields (a zero pointer
// field, e.g. backoffLimit: 0, is kept), Secret data in base64.
// InvalidArgument for a malformed body; Unimplemented, naming the message
// and field number, for a kind or field this decoder does not know (the
// caller answers 415 so the client can resend as JSON).
Result<json> DecodeProtobuf(std::string_view body);

}  // namespace portflow::fake
