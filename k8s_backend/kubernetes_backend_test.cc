// What only a cluster can say about an attempt: why it waits. Against the
// fake cluster over loopback, in simulate mode.
#include "k8s_backend/kubernetes_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "core/testing/event_recorder.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow {
namespace {

using ::testing::HasSubstr;

class KubernetesBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake::ClusterOptions o;
    o.nodes = 3;  // 4 cpu each: 12 in all, but no node has 6
    o.kubelet.default_duration = std::chrono::seconds(0);
    cluster_ = std::move(fake::FakeCluster::Create(o).value());
    int port = cluster_->Serve(0).value();
    KubernetesBackendOptions k;
    k.target.image = "busybox";
    k.target.ship_code = false;
    k.target.namespace_name = "default";
    k8s::ClusterAccess access;
    access.server = "http://127.0.0.1:" + std::to_string(port);
    k.access = access;
    backend_ = NewKubernetesBackend(k);
    backend_->SetEventSink(&events_);
  }
  void TearDown() override {
    backend_.reset();
    cluster_->StopServing();
  }
  TaskSpec Spec(const std::string& instance, int64_t milli_cpu) {
    TaskSpec t;
    t.run_id = "pending";
    t.step = instance;
    t.instance = instance;
    t.argv = {"true"};
    t.run_dir = ::testing::TempDir() + "k8s_pending_" + std::to_string(::getpid());
    t.resources = {milli_cpu, 0, 0};
    return t;
  }

  std::unique_ptr<fake::FakeCluster> cluster_;
  std::unique_ptr<Backend> backend_;
  testing::EventRecorder events_;
};

TEST_F(KubernetesBackendTest, AnUnschedulablePodSaysWhyItWaits) {
  ResourceRequest capacity = backend_->Capacity();
  EXPECT_EQ(capacity.milli_cpu, 12000);  // what the engine admits against
  TaskSpec big = Spec("big", 6000);
  auto h = backend_->Submit(big);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  std::optional<TaskEvent> waiting;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!waiting && std::chrono::steady_clock::now() < until) {
    for (const TaskEvent& e : events_.events()) {
      if (e.key == big.Key() && e.reason == "Unschedulable") waiting = e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->state, TaskState::kPending);
  EXPECT_THAT(waiting->message, HasSubstr("0/3 nodes are available: 3 Insufficient cpu"));
  // Cancelled while it waits: the Job goes, the attempt ends Cancelled.
  ASSERT_TRUE(backend_->Cancel(*h, false).ok());
  auto end = events_.WaitTerminal(big.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kCancelled);
  // A pod that fits runs, and ends.
  TaskSpec small = Spec("small", 1000);
  ASSERT_TRUE(backend_->Submit(small).ok());
  auto done = events_.WaitTerminal(small.Key());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

}  // namespace
}  // namespace portflow
