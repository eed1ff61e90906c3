// Data-parallel training on c10d Gloo: the collectives, the bucketed gradient reduction, and
// two ranks (threads of this process, over loopback TCP) against one process that computes the
// same per-rank losses on the same global batch.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "joule/config/options.h"
#include "joule/core/runtime.h"
#include "joule/distributed/communicator.h"
#include "joule/distributed/sharded_source.h"
#include "joule/methods/method.h"
#include "support/blobs.h"
#include "support/test_support.h"

namespace {

using joule::distributed::Communicator;
using joule::testing::TempDir;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs fn(comm) on each of `world` ranks, one thread each, joined through a fresh Gloo group.
void run_ranks(int64_t world, const std::function<void(Communicator&)>& fn) {
  const int port = free_port();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world));
  for (int64_t r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        joule::distributed::DistributedOptions o;
        o.rank = r;
        o.world_size = world;
        o.master_port = port;
        o.timeout_s = 60;
        auto comm = joule::distributed::connect(o);
        fn(*comm);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t r = 0; r < world; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
}

TEST(DataParallelTest, EnvironmentIsReadAndCheckedLikeTorchrun) {
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "2", 1);
  ::setenv("MASTER_PORT", "29601", 1);
  auto o = joule::distributed::DistributedOptions::from_environment();
  EXPECT_EQ(o.world_size, 4);
  EXPECT_EQ(o.rank, 2);
  EXPECT_EQ(o.local_rank, 2);
  EXPECT_EQ(o.master_port, 29601);
  ::setenv("RANK", "4", 1);
  EXPECT_NE(joule::testing::error_of([] { joule::distributed::DistributedOptions::from_environment(); }).find("0..3, got 4"),
            std::string::npos);
  ::setenv("RANK", "x", 1);
  EXPECT_NE(joule::testing::error_of([] { joule::distributed::DistributedOptions::from_environment(); }).find("RANK='x'"),
            std::string::npos);
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  ::unsetenv("MASTER_PORT");
  EXPECT_EQ(joule::distributed::DistributedOptions::from_environment().world_size, 1);
}

// Which backend and GPU a rank gets: torch.distributed's default (NCCL on a GPU when the build has
// it, else Gloo), one GPU per process by LOCAL_RANK, and errors that say what to change.
TEST(DataParallelTest, BackendAndDeviceFollowTheRanksDevice) {
  using joule::distributed::choose_backend;
  const at::Device cpu(at::kCPU), gpu(at::kCUDA, 0);
  EXPECT_EQ(choose_backend("auto", cpu, true), "gloo");
  EXPECT_EQ(choose_backend("auto", gpu, true), "nccl");
  EXPECT_EQ(choose_backend("auto", gpu, false), "gloo");  // Gloo reduces CUDA tensors through the host
  EXPECT_EQ(choose_backend("gloo", gpu, true), "gloo");
  EXPECT_EQ(choose_backend("nccl", gpu, true), "nccl");
  EXPECT_NE(joule::testing::error_of([&] { choose_backend("nccl", cpu, true); }).find("set run.device=cuda"), std::string::npos);
  EXPECT_NE(joule::testing::error_of([&] { choose_backend("nccl", gpu, false); }).find("built without c10d's NCCL"),
            std::string::npos);
  EXPECT_NE(joule::testing::error_of([&] { choose_backend("mpi", cpu, true); }).find("'mpi'"), std::string::npos);

  joule::distributed::DistributedOptions o;
  o.world_size = 4;
  o.rank = 3;
  o.local_rank = 3;
  using joule::distributed::rank_device;
  EXPECT_EQ(rank_device(o, at::Device(at::kCUDA), 2), at::Device(at::kCUDA, 1));  // LOCAL_RANK mod the GPUs
  EXPECT_EQ(rank_device(o, at::Device(at::kCUDA), 8), at::Device(at::kCUDA, 3));
  EXPECT_EQ(rank_device(o, at::Device(at::kCUDA, 0), 8), at::Device(at::kCUDA, 0));  // an explicit GPU is kept
  EXPECT_EQ(rank_device(o, cpu, 8), cpu);
  EXPECT_NE(joule::testing::error_of([&] { rank_device(o, at::Device(at::kCUDA), 0); }).find("none is visible"),
            std::string::npos);
  o.world_size = 1;
  o.rank = o.local_rank = 0;
  EXPECT_EQ(rank_device(o, at::Device(at::kCUDA), 0), at::Device(at::kCUDA));  // one process: untouched

  // NCCL asked for on the CPU fails before any worker waits for the others (this build's or a CUDA
  // build's error, whichever applies first), and a bad backend name is named.
  joule::distributed::DistributedOptions two;
  two.world_size = 2;
  two.backend = "nccl";
  const std::string e = joule::testing::error_of([&] { joule::distributed::connect(two, cpu); });
  EXPECT_TRUE(e.find("built without c10d's NCCL") != std::string::npos || e.find("set run.device=cuda") != std::string::npos) << e;
  ::setenv("JOULE_DIST_BACKEND", "mpi", 1);
  EXPECT_NE(joule::testing::error_of([] { joule::distributed::DistributedOptions::from_environment(); }).find("JOULE_DIST_BACKEND='mpi'"),
            std::string::npos);
  ::setenv("JOULE_DIST_BACKEND", "gloo", 1);
  EXPECT_EQ(joule::distributed::DistributedOptions::from_environment().backend, "gloo");
  ::unsetenv("JOULE_DIST_BACKEND");
  EXPECT_EQ(joule::distributed::DistributedOptions::from_environment().backend, "auto");
}

TEST(DataParallelTest, CollectivesAndBucketedGradientMeans) {
  ASSERT_TRUE(joule::distributed::gloo_available());
  run_ranks(3, [](Communicator& comm) {
    const int64_t r = comm.rank();
    EXPECT_EQ(comm.backend(), "gloo");  // "auto" on the CPU
    EXPECT_EQ(comm.device(), at::Device(at::kCPU));
    // all-reduce, broadcast, all-gather of variable-length bytes
    std::vector<at::Tensor> t{at::full({5}, double(r + 1), at::kDouble)};
    comm.all_reduce_sum(t);
    EXPECT_TRUE(at::equal(t[0], at::full({5}, 6.0, at::kDouble)));
    std::vector<at::Tensor> b{at::full({2, 2}, float(r), at::kFloat)};
    comm.broadcast(b, 1);
    EXPECT_TRUE(at::equal(b[0], at::ones({2, 2})));
    const auto all = joule::distributed::all_gather_bytes(comm, std::string(size_t(r * 7), char('a' + r)));
    ASSERT_EQ(all.size(), 3u);
    for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(all[k], std::string(size_t(k * 7), char('a' + k)));

    // Gradients of three parameters (float, one undefined on rank 0) in 16-byte buckets: the
    // mean over ranks, and the extras summed in the last bucket.
    auto p1 = at::zeros({3}).requires_grad_(), p2 = at::zeros({2, 2}).requires_grad_(), p3 = at::zeros({1}).requires_grad_();
    p1.mutable_grad() = at::arange(3, at::kFloat) * float(r + 1);
    p2.mutable_grad() = at::full({2, 2}, float(10 * r));
    if (r > 0) p3.mutable_grad() = at::full({1}, 3.0f);
    joule::distributed::GradientReducer reducer(std::shared_ptr<Communicator>(&comm, [](Communicator*) {}), 16);
    std::vector<double> extra{double(r == 2), 0.5 * double(r)};
    reducer.reduce({p1, p2, p3}, extra);
    EXPECT_TRUE(at::allclose(p1.grad(), at::arange(3, at::kFloat) * 2.0f));
    EXPECT_TRUE(at::allclose(p2.grad(), at::full({2, 2}, 10.0f)));
    EXPECT_TRUE(at::allclose(p3.grad(), at::full({1}, 2.0f)));
    EXPECT_EQ(extra[0], 1.0);
    EXPECT_DOUBLE_EQ(extra[1], 1.5);
    EXPECT_EQ(reducer.collectives(), 3);  // 12 B | 16 B | 4 B + extras
  });
}

// The reference of a data-parallel step in one process: the global batch of 2·B rows is split
// as the ranks split it, each half goes to the objective (own chains) and generator rank r would
// use, and the loss (or closed-form gradient) is the mean of the two.
class TwoRankObjective : public joule::Objective {
 public:
  TwoRankObjective(std::vector<std::shared_ptr<joule::Objective>> ranks, uint64_t seed) : ranks_(std::move(ranks)) {
    for (size_t r = 0; r < ranks_.size(); ++r) gens_.push_back(joule::make_generator(seed + 7919 * r));
  }
  joule::ObjectiveOutput compute(joule::ModuleSet& modules, const joule::Batch& batch, at::Generator&,
                                 const joule::Update& update) override {
    const int64_t b = batch.x.size(0) / static_cast<int64_t>(ranks_.size());
    joule::ObjectiveOutput out;
    for (size_t r = 0; r < ranks_.size(); ++r) {
      joule::Batch half{batch.x.narrow(0, int64_t(r) * b, b), batch.y.defined() ? batch.y.narrow(0, int64_t(r) * b, b) : at::Tensor()};
      auto o = ranks_[r]->compute(modules, half, gens_[r], update);
      const double w = 1.0 / double(ranks_.size());
      out.loss = out.loss.defined() ? out.loss + w * o.loss : w * o.loss;
      for (size_t i = 0; i < o.gradients.size(); ++i) {
        if (out.gradients.size() <= i) out.gradients.push_back(w * o.gradients[i]);
        else out.gradients[i] = out.gradients[i] + w * o.gradients[i];
      }
    }
    return out;
  }
  void after_update(joule::ModuleSet& modules, const joule::Update& update) override {
    ranks_[0]->after_update(modules, update);
  }
  std::string name() const override { return "two-rank reference"; }

 private:
  std::vector<std::shared_ptr<joule::Objective>> ranks_;
  std::vector<at::Generator> gens_;
};

std::vector<at::Tensor> all_parameters(joule::ModuleSet& modules) {
  std::vector<at::Tensor> out;
  for (const auto& [name, module] : modules.items()) {
    for (const auto& p : module->parameters()) out.push_back(p.detach().clone());
  }
  return out;
}

std::unique_ptr<joule::methods::Method> built(joule::config::Document doc, int64_t batch) {
  doc.set("train.batch_size", std::to_string(batch));
  auto m = joule::methods::create(doc);
  m->build();
  return m;
}

// Two ranks with batch B against the one-process reference with batch 2B: after `steps` steps
// both ranks hold the same parameters, equal to the reference's within float rounding.
void expect_two_ranks_match_one_process(const joule::config::Document& doc, int64_t batch, double tol) {
  joule::testing::OneThread one_thread;
  const int64_t steps = std::stoll(doc.get_text("train.steps"));
  std::vector<std::vector<at::Tensor>> rank_params(2);
  run_ranks(2, [&](Communicator& comm) {
    auto m = built(doc, batch);
    m->trainer().set_communicator(std::shared_ptr<Communicator>(&comm, [](Communicator*) {}));
    m->trainer().train();
    EXPECT_EQ(m->trainer().step_count(), steps);
    rank_params[comm.rank()] = all_parameters(m->trainer().modules());
  });

  auto reference = built(doc, 2 * batch);
  auto rank0 = built(doc, batch), rank1 = built(doc, batch);
  auto& t = reference->trainer();
  t.set_communicator(std::make_shared<joule::distributed::SingleProcess>());  // the shared data order
  const uint64_t seed = t.options().seed();
  auto objective = std::make_shared<TwoRankObjective>(
      std::vector<std::shared_ptr<joule::Objective>>{rank0->trainer().objective_ptr(), rank1->trainer().objective_ptr()}, seed);
  joule::train::Trainer one(t.modules(), t.groups(), objective, t.data_ptr(), t.options());
  for (int64_t s = 0; s < steps; ++s) one.step();

  const auto ref = all_parameters(one.modules());
  ASSERT_EQ(ref.size(), rank_params[0].size());
  ASSERT_EQ(rank_params[1].size(), rank_params[0].size());
  double worst = 0, moved = 0;
  const auto initial = all_parameters(built(doc, batch)->trainer().modules());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(at::equal(rank_params[0][i], rank_params[1][i])) << "ranks disagree on parameter " << i;
    worst = std::max(worst, (rank_params[0][i] - ref[i]).abs().max().item<double>());
    moved = std::max(moved, (ref[i] - initial[i]).abs().max().item<double>());
  }
  EXPECT_LT(worst, tol);
  std::cout << "largest difference from the one-process reference " << worst << ", largest parameter change " << moved << "\n";
  EXPECT_GT(moved, 100 * tol) << "training must move the parameters for the comparison to mean anything";
}

// A warm start loads weights on rank 0 only (train_run); train() broadcasts them, and a divergence
// restart must return every rank to those weights, not a worker to its own initial ones.
TEST(DataParallelTest, RestartAfterAWarmStartReturnsEveryRankToRankZerosWeights) {
  joule::testing::OneThread one_thread;
  TempDir dir;
  auto doc = joule::config::preset("pcd_8gaussians");
  doc.set("train.steps", "4");
  doc.set("buffer.capacity", "64");
  doc.set("sampler.steps", "2");
  const std::string warm = dir / "warm.pt";
  std::vector<at::Tensor> warm_params;
  {
    auto other = doc;
    other.set("run.seed", "99");
    auto m = built(other, 16);
    m->trainer().save(warm);
    warm_params = all_parameters(m->trainer().modules());
  }
  std::vector<std::vector<at::Tensor>> rank_params(2);
  std::vector<std::string> errors(2);
  doc.set("train.energy_bound", "1e-12");  // every step is refused: restart once, then give up
  doc.set("train.max_restarts", "1");
  run_ranks(2, [&](Communicator& comm) {
    auto m = built(doc, 16);
    auto& t = m->trainer();
    t.set_communicator(std::shared_ptr<Communicator>(&comm, [](Communicator*) {}));
    if (comm.is_main()) t.load_modules(warm);
    t.save(dir / "step0.pt");  // collective, as train_run's first save
    try {
      t.train();
    } catch (const joule::train::DivergenceError& e) {
      errors[comm.rank()] = e.what();
    }
    EXPECT_EQ(t.restarts(), 1);
    rank_params[comm.rank()] = all_parameters(t.modules());
  });
  for (int r = 0; r < 2; ++r) EXPECT_NE(errors[r], "") << "rank " << r << " must give up after its restart";
  ASSERT_EQ(rank_params[0].size(), rank_params[1].size());
  for (size_t i = 0; i < rank_params[0].size(); ++i) {
    EXPECT_TRUE(at::equal(rank_params[0][i], rank_params[1][i])) << "ranks disagree on parameter " << i;
    EXPECT_TRUE(at::equal(rank_params[1][i], warm_params[i])) << "rank 1 left the warm start, parameter " << i;
  }
}

TEST(DataParallelTest, PcdOnTwoRanksEqualsOneProcessOnTheGlobalBatch) {
  auto doc = joule::config::preset("pcd_8gaussians");
  doc.set("train.steps", "8");
  doc.set("buffer.capacity", "256");
  doc.set("sampler.steps", "5");
  expect_two_ranks_match_one_process(doc, 32, 2e-5);
}

TEST(DataParallelTest, JemOnTwoRanksEqualsOneProcessOnTheGlobalBatch) {
  TempDir dir;
  const std::string path = joule::testing::write_blobs(dir);
  auto doc = joule::config::preset("jem_tabular_mlp");
  doc.set("data.path", path);
  doc.set("train.steps", "8");
  doc.set("buffer.capacity", "100");
  doc.set("model.width", "16");
  doc.set("jem.px_weight", "1.0");
  doc.set("train.warmup_steps", "0");
  doc.set("train.optimizer", "sgd");  // Adam would hide a wrongly scaled mean gradient
  doc.set("train.lr", "0.05");
  expect_two_ranks_match_one_process(doc, 16, 2e-5);
}

TEST(DataParallelTest, RbmOnTwoRanksEqualsOneProcessOnTheGlobalBatch) {
  auto doc = joule::config::preset("rbm_pcd_fashion");
  doc.set("train.steps", "6");
  doc.set("rbm.hidden", "16");
  doc.set("rbm.n_train", "512");
  doc.set("rbm.epochs", "0");
  doc.set("rbm.validation", "64");
  expect_two_ranks_match_one_process(doc, 32, 2e-5);
}

}  // namespace
