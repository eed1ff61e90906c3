// Runtime set-up: device strings, explicit generators, BLAS detection, the energy interface.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <thread>

#include "joule/core/energy.h"
#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/models/mlp_energy.h"

namespace {

TEST(RuntimeTest, DeviceStringsAreParsedOrRejected) {
  EXPECT_EQ(joule::resolve_device("cpu"), torch::Device(torch::kCPU));
  const auto autodev = joule::resolve_device("auto");
  EXPECT_TRUE(autodev.is_cpu() || autodev.is_cuda());
  EXPECT_THROW(joule::resolve_device("tpu"), c10::Error);
  if (!torch::cuda::is_available()) {
    try {
      joule::resolve_device("cuda");
      FAIL();
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("not available"), std::string::npos);
    }
  }
}

TEST(RuntimeTest, GeneratorsAreIndependentOfTheGlobalOne) {
  auto a = joule::make_generator(3), b = joule::make_generator(3);
  auto x = torch::randn({5}, a);
  torch::randn({100});  // the global generator moves; ours must not care
  EXPECT_TRUE(torch::equal(x, torch::randn({5}, b)));
}

TEST(RuntimeTest, BlasDetectionFindsTheLibrary) {
  auto info = joule::detect_blas();
  // The test machine has OpenBLAS installed (setup installs libopenblas0-pthread).
  EXPECT_FALSE(info.library.empty());
  EXPECT_FALSE(info.reference) << "reference BLAS in use: " << info.library;
  std::ostringstream os;
  EXPECT_EQ(joule::warn_if_reference_blas(os), info.reference || !info.better_core.empty()) << os.str();
}

TEST(RuntimeTest, OldOpenBlasKernelsOnANewerCpuGetABetterCoreSuggested) {
  // The fallback for an unrecognised CPU (e.g. a VM's "Intel Xeon Processor"), on AVX-512 and AVX2 CPUs.
  EXPECT_EQ(joule::openblas_core_suggestion("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(joule::openblas_core_suggestion("PRESCOTT", true, false), "Haswell");
  EXPECT_EQ(joule::openblas_core_suggestion("Nehalem", true, false), "Haswell");
  // Nothing better to run, or already AVX2 kernels, or not OpenBLAS.
  EXPECT_EQ(joule::openblas_core_suggestion("Prescott", false, false), "");
  EXPECT_EQ(joule::openblas_core_suggestion("Haswell", true, true), "");
  EXPECT_EQ(joule::openblas_core_suggestion("SkylakeX", true, true), "");
  EXPECT_EQ(joule::openblas_core_suggestion("Zen", true, false), "");
  EXPECT_EQ(joule::openblas_core_suggestion("", true, true), "");
  // This machine: OpenBLAS names its kernels, and a suggestion exists only for old ones.
  const auto info = joule::detect_blas();
  if (info.library.find("openblas") != std::string::npos) {
    EXPECT_FALSE(info.core.empty());
    if (!info.better_core.empty()) {
      std::ostringstream os;
      EXPECT_TRUE(joule::warn_if_reference_blas(os));
      EXPECT_NE(os.str().find("OPENBLAS_CORETYPE=" + info.better_core), std::string::npos) << os.str();
    }
  }
}

TEST(RuntimeTest, ThreadCountReachesLibTorchButOpenBlasStaysSingleThreaded) {
  const int before = at::get_num_threads();
  joule::set_num_threads(2);
  EXPECT_EQ(at::get_num_threads(), 2);
  const bool openblas = joule::detect_blas().library.find("openblas") != std::string::npos;
  EXPECT_EQ(joule::blas_num_threads() > 0, openblas);  // the setup installs OpenBLAS
  if (openblas) {
    EXPECT_EQ(joule::blas_num_threads(), 1);  // its pool would contend with LibTorch's OpenMP workers
    joule::set_blas_num_threads(2);
    EXPECT_EQ(joule::blas_num_threads(), 2);
    joule::set_num_threads(2);
    EXPECT_EQ(joule::blas_num_threads(), 1);
  }
  joule::set_num_threads(before);
  EXPECT_EQ(at::get_num_threads(), before);
  EXPECT_THROW(joule::set_num_threads(-1), c10::Error);
}

TEST(RuntimeTest, AvailableCoresFollowsOmpNumThreadsThenTheAffinityMask) {
  const char* old = std::getenv("OMP_NUM_THREADS");
  const std::string saved = old ? old : "";
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EQ(joule::available_cores(), 3);
  setenv("OMP_NUM_THREADS", "junk", 1);  // not a positive number: ignored
  const int cores = joule::available_cores();
  unsetenv("OMP_NUM_THREADS");
  EXPECT_EQ(joule::available_cores(), cores);
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (old) setenv("OMP_NUM_THREADS", saved.c_str(), 1);
}

TEST(EnergyModelTest, ScoreIsMinusGradientOverTemperature) {
  auto model = joule::GaussianEnergy(torch::tensor({1.0f}), torch::tensor({2.0f}));
  model->set_temperature(0.5);
  auto x = torch::tensor({{3.0f}});
  // E = (x − 1)²/8, ∇E = (x − 1)/4 = 0.5, score = −0.5/0.5 = −1.
  EXPECT_NEAR(joule::score(*model, x).item<double>(), -1.0, 1e-6);
  auto xg = x.clone().requires_grad_(true);
  EXPECT_NEAR(joule::score(*model, xg, /*create_graph=*/true).item<double>(), -1.0, 1e-6);
  EXPECT_THROW(model->set_temperature(0.0), c10::Error);
}

TEST(EnergyModelTest, TemperatureIsSavedWithTheParameters) {
  auto a = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(4));
  a->set_temperature(0.125);
  torch::serialize::OutputArchive out;
  a->save(out);
  std::ostringstream os;
  out.save_to(os);
  auto b = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(4));
  torch::serialize::InputArchive in;
  std::istringstream is(os.str());
  in.load_from(is);
  b->load(in);
  EXPECT_DOUBLE_EQ(b->temperature(), 0.125);
  EXPECT_TRUE(torch::equal(a->weights[0], b->weights[0]));
}

TEST(EnergyModelTest, SamplersLeaveTheModelInItsTrainingMode) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(4));
  model->train();
  {
    joule::EvalModeGuard guard(*model);
    EXPECT_FALSE(model->is_training());
  }
  EXPECT_TRUE(model->is_training());
}

}  // namespace
