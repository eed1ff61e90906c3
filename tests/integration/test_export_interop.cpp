// joule export: a trained run's weights as safetensors and as a torch.load-able dict, read by the
// real tools (Debian's python3-torch; the safetensors package, which scripts/setup.sh test
// installs with pip into a cache folder), imported back into the method, and a file written by
// the safetensors package read by Joule.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "joule/io/safetensors.h"
#include "joule/methods/run.h"
#include "support/python_tools.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::python_tools;
using joule::testing::run_command;

const std::string kTiny =
    " data.n_train=2000 data.n_test=500 train.steps=20 train.log_every=10 train.eval_every=0"
    " eval.chain_steps=20 eval.n_samples=200 eval.grid_resolution=64 run.progress=none";

class ExportInterop : public joule::testing::CliTestBase {
 protected:
  ExportInterop() : CliTestBase("joule-export") {}
};


const std::string kPeer = std::string(JOULE_SOURCE_DIR) + "/tests/interop/weights_peer.py";

nlohmann::json last_json_line(const std::string& output) {
  const auto last = output.find_last_of('\n', output.size() - 2);
  return nlohmann::json::parse(output.substr(last == std::string::npos ? 0 : last + 1));
}

// Every tensor of `summary` (the Python peer's JSON) equals Joule's weights.
void expect_same(const nlohmann::json& summary, const std::vector<std::pair<std::string, at::Tensor>>& w,
                 const std::string& what) {
  EXPECT_EQ(summary.size(), w.size()) << what;
  for (const auto& [k, v] : w) {
    ASSERT_TRUE(summary.contains(k)) << what << " has no " << k;
    const auto& s = summary[k];
    EXPECT_EQ(s["shape"].get<std::vector<int64_t>>(), v.sizes().vec()) << what << " " << k;
    EXPECT_NEAR(s["sum"].get<double>(), v.to(at::kDouble).sum().item<double>(), 1e-9 * (1 + v.abs().sum().item<double>()))
        << what << " " << k;
    auto first = v.flatten().slice(0, 0, 3).to(at::kDouble);
    for (int64_t i = 0; i < first.numel(); ++i) EXPECT_EQ(s["first"][i].get<double>(), first[i].item<double>()) << k;
  }
}

TEST_F(ExportInterop, WeightsReachPythonAndComeBack) {
  auto r = joule("train out=run" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("export run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("weights-step20.safetensors"), std::string::npos) << r.output;
  r = joule("export run export.format=pt export.out=w.pt");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto method = joule::methods::load(path("run"), torch::Device(torch::kCPU));
  const auto w = joule::methods::weights(*method);
  ASSERT_FALSE(w.empty());
  for (const auto& [k, v] : w) EXPECT_EQ(k.rfind("model.", 0), 0u) << k;

  // Joule's own reader, and the metadata.
  auto file = joule::io::read_safetensors(path("run/weights-step20.safetensors"));
  EXPECT_EQ(file.metadata.at("joule_step"), "20");
  EXPECT_NE(file.metadata.at("joule_config").find("[train]"), std::string::npos);

  // Python: torch.load (Debian's python3-torch) on the .pt; the safetensors package on the other.
  auto pt = run_command("/usr/bin/python3 " + kPeer + " torch " + path("w.pt"));
  if (pt.exit_code == 77) GTEST_SKIP() << pt.output;
  ASSERT_EQ(pt.exit_code, 0) << pt.output;
  expect_same(last_json_line(pt.output), w, "torch.load");
  auto st = run_command("PYTHONPATH='" + python_tools() + "' /usr/bin/python3 " + kPeer + " safetensors " +
                        path("run/weights-step20.safetensors"));
  if (st.exit_code == 77) GTEST_SKIP() << "safetensors is not installed (scripts/setup.sh test installs it): " << st.output;
  ASSERT_EQ(st.exit_code, 0) << st.output;
  expect_same(last_json_line(st.output), w, "safetensors");

  // Import back into a freshly initialised model of the same config: identical energies.
  for (const std::string f : {"run/weights-step20.safetensors", "w.pt"}) {
    auto fresh = joule::methods::create(joule::methods::saved_config(path("run")));
    fresh->build(torch::Device(torch::kCPU));
    joule::methods::import_weights(*fresh, path(f));
    const auto back = joule::methods::weights(*fresh);
    ASSERT_EQ(back.size(), w.size());
    for (size_t i = 0; i < w.size(); ++i) EXPECT_TRUE(at::equal(back[i].second, w[i].second)) << f << " " << w[i].first;
  }

  // A file from the safetensors package, read by Joule.
  auto wr = run_command("PYTHONPATH='" + python_tools() + "' /usr/bin/python3 " + kPeer + " write-safetensors " + path("py.safetensors"));
  ASSERT_EQ(wr.exit_code, 0) << wr.output;
  auto py = joule::io::read_safetensors(path("py.safetensors"));
  EXPECT_EQ(py.metadata.at("who"), "python");
  std::map<std::string, at::Tensor> t(py.tensors.begin(), py.tensors.end());
  EXPECT_TRUE(at::equal(t.at("a"), at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(at::equal(t.at("b"), at::tensor({-1, 5}, at::kLong)));
  EXPECT_EQ(t.at("c").dim(), 0);
  EXPECT_EQ(t.at("c").item<double>(), 2.5);
}

TEST_F(ExportInterop, BadRequestsFailClearlyAndWriteNothing) {
  auto r = joule("train out=run" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("export run export.format=onnx");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("safetensors or pt"), std::string::npos) << r.output;
  r = joule("export run export.fromat=pt");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("did you mean 'export.format'"), std::string::npos) << r.output;
  r = joule("export run export.out=run/checkpoint.pt");
  EXPECT_NE(r.exit_code, 0);
  r = joule("export nowhere");
  EXPECT_NE(r.exit_code, 0);
  for (const auto& e : fs::directory_iterator(path("run")))
    EXPECT_EQ(e.path().filename().string().rfind("weights-", 0), std::string::npos) << e.path();

  // Importing into a model of another shape names what differs.
  r = joule("train out=wide model.width=32" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(joule("export wide export.out=wide.safetensors").exit_code, 0);
  auto method = joule::methods::load(path("run"), torch::Device(torch::kCPU));
  try {
    joule::methods::import_weights(*method, path("wide.safetensors"));
    ADD_FAILURE() << "importing a model of other widths should fail";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("wrong shape"), std::string::npos) << e.what_without_backtrace();
  }
}

}  // namespace
