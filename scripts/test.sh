#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the ASan+UBSan build of the tests that touch concurrency, processes
#      and parsing;
#   2. the ThreadSanitizer build of the engine, run store, process supervisor
#      and local backend;
#   3. the spec-loader fuzzer for a bounded time (FUZZ_SECONDS, default 60),
#      then the protobuf request-body decoder and the JSON parser (against
#      nlohmann's) for half that each;
#   4. every test of the dev build (warnings are errors), last, so that its
#      summary closes the output.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# ccache: paths relative to the checkout, so that a clone in another folder
# (CI's) reuses what an earlier build compiled.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-60}
protobuf_fuzz_seconds=$(( (fuzz_seconds + 1) / 2 ))

echo "== configure and build: dev (warnings are errors)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"

echo "== configure and build: asan"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs" --target core_test process_test local_backend_test \
  conformance_test fake_cluster_test k8s_client_test k8s_backend_test portflow \
  aws_test s3_test cloud_test fake_cloud_test cloud_backend_test report_test

echo "== asan: core, process library, local backend, conformance, fake cluster, cluster access, AWS client and report tests"
# Not the cases that use up every descriptor: the sanitizer runtimes need
# some of their own (UBSan tests that memory is readable through a pipe, so
# out of descriptors it reports a valid object as having an invalid vptr).
# They run in the dev build.
out_of_fds='SpawnProcess\.(AFailedStartLeavesNoDescriptorOpen|OutOfDescriptorsIsResourceExhausted)'
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build/asan -j "$jobs" --timeout 300 --output-on-failure -E "$out_of_fds" \
  -R '^(Quantity|Duration|Format|Template|Status|LogLevel|LogTest|SpecLoader|Plan|RunStore|EngineTest|LocalBackendTest|LocalBackendEngine|LocalOptions|FindExecutable|SpawnProcess|ProcessSupervisor|CurlOnDemand|Backends|ObjectStoreTest|DeferredFree|EventLogTest|FakeClusterTest|ControllersTest|ExecuteModeTest|LabelSelector|FieldSelector|LabelsOf|Kinds|Protobuf|ParseJson|CompactJson|Serialize\.|Utf8|K8sTime|Kubeconfig|Credentials|ApiClient|Tls|Watcher|Render|KubernetesBackend|PlaceInSlots|PendingReason|Capabilities|TailLogTest|BackendWrapper|Rows/AssessTest|Assess|EndOfJob|Supersedes|KeepDeletedPod|ReplicaOf|CatalogTest|SigV4Test|AwsClientTest|FakeEc2|FakeSqsTest|FakeCloud|EncodingTest|NodeGroupsTest|SizingTest|CloudBackendTest|CloudBackendRealTime|CloudBackendVirtualTime|CloudTargetTest|HybridBackendTest|HybridRunTest|HybridTargetTest|FakeS3Test|FakeS3KeptTest|ReportTest|Servers/S3Test|Servers/RunArtifacts|StoreUriTest|XmlTest|HttpServerTest|LoopServerTest|CallLaterTest)' \
  | tail -n 3

echo "== tsan: engine, run store, process supervisor, local backend, conformance, fake cluster, watcher, API client and fake cloud tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target core_test process_test local_backend_test \
  conformance_test fake_cluster_test k8s_client_test k8s_backend_test fake_cloud_test \
  cloud_backend_test
# Not the kubernetes, cloud and hybrid conformance cases: they run pods as processes inside a
# process full of threads, and under TSan the vfork launcher forks. Under
# load one such spawn never reached exec (the parent waited on the exec
# pipe for good): a forked child of a busy multi-threaded parent can block
# on a lock another thread held. SpawnProcess now gives up after 30s; these
# cases run under ASan and in the dev build. Nor the fake cloud's boto3
# and kubectl cases, for the same reason: they start python3 or kubectl
# from a process full of threads (the boto3 one hung there for 300 s once).
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan -j "$jobs" --timeout 300 --output-on-failure \
  -E "Backends/.*(kubernetes|cloud|hybrid)|$out_of_fds|FakeCloudTest.(Boto3|Kubectl)" \
  -R '^(EngineTest|RunStore|LocalBackendTest|LocalBackendEngine|SpawnProcess|ProcessSupervisor|Backends|ObjectStoreTest|DeferredFree|EventLogTest|FakeClusterTest|ControllersTest|ExecuteModeTest|WatcherTest|ApiClient|KubernetesBackend|TailLogTest|BackendWrapper|FakeCloud|CloudBackendTest|CloudBackendRealTime|CloudBackendVirtualTime|HybridBackendTest|HybridRunTest|FakeS3Test|HttpServerTest|LoopServerTest|CallLaterTest)' | tail -n 3

echo "== fuzz: spec loader for ${fuzz_seconds}s"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target spec_loader_fuzz
mkdir -p build/fuzz/corpus
# Finds are written to build/fuzz/ (crash-*, timeout-*, oom-*); add each to
# tests/spec_corpus/bad/ once fixed.
if ! build/fuzz/core/spec_loader_fuzz -max_total_time="$fuzz_seconds" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus \
  tests/spec_corpus/bad tests/spec_corpus/good scenarios/laptop-dev > build/fuzz/fuzz.log 2>&1; then
  tail -n 60 build/fuzz/fuzz.log
  echo "fuzz: the spec loader fuzzer found a problem (see above)"
  exit 1
fi
tail -n 5 build/fuzz/fuzz.log

echo "== fuzz: protobuf request bodies for ${protobuf_fuzz_seconds}s"
cmake --build --preset fuzz -j "$jobs" --target protobuf_fuzz
python3 scripts/protobuf_seeds.py build/fuzz/protobuf_seeds
mkdir -p build/fuzz/protobuf_corpus
if ! build/fuzz/k8s_backend/fake_cluster/protobuf_fuzz -max_total_time="$protobuf_fuzz_seconds" \
  -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix=build/fuzz/protobuf- build/fuzz/protobuf_corpus build/fuzz/protobuf_seeds tests/protobuf_corpus \
  > build/fuzz/protobuf_fuzz.log 2>&1; then
  tail -n 60 build/fuzz/protobuf_fuzz.log
  echo "fuzz: the protobuf decoder fuzzer found a problem (see above)"
  exit 1
fi
tail -n 5 build/fuzz/protobuf_fuzz.log

echo "== fuzz: the JSON parser against nlohmann's for ${protobuf_fuzz_seconds}s"
cmake --build --preset fuzz -j "$jobs" --target json_parse_fuzz
mkdir -p build/fuzz/json_corpus
if ! build/fuzz/core/json_parse_fuzz -max_total_time="$protobuf_fuzz_seconds" -max_len=4096 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build/fuzz/json- \
  build/fuzz/json_corpus tests/json_corpus > build/fuzz/json_fuzz.log 2>&1; then
  tail -n 60 build/fuzz/json_fuzz.log
  echo "fuzz: ParseJson and nlohmann's parser disagree (see above)"
  exit 1
fi
tail -n 5 build/fuzz/json_fuzz.log

echo "== dev: all tests"
ctest --test-dir build/dev -j "$jobs" --timeout 300 --output-on-failure
