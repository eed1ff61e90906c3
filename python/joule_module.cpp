// The `joule._joule` extension: Joule's library layer (methods, run folders, the goodness-of-fit
// tests) for Python, with torch tensors in and out. python/joule/__init__.py wraps it with
// keyword arguments, nested-dict overrides and docstrings; docs/python.md is the user guide.
//
// Built against the same LibTorch as Python's torch (Debian's 1.13: libtorch-dev and
// python3-torch), so tensors cross without copies through torch's own pybind11 casters.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/python.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "joule/config/options.h"
#include "joule/core/density.h"
#include "joule/core/energy.h"
#include "joule/core/runtime.h"
#include "joule/eval/gof.h"
#include "joule/methods/gof.h"
#include "joule/methods/method.h"
#include "joule/methods/run.h"
#include "joule/train/stop_signals.h"
#include "joule/train/trainer.h"

namespace py = pybind11;
using namespace joule;

namespace {

// ------------------------------------------------------------------ errors as Python exceptions

PyObject* g_config_error = nullptr;
PyObject* g_divergence_error = nullptr;

void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const config::ConfigError& e) {
    PyErr_SetString(g_config_error, e.what());
  } catch (const train::DivergenceError& e) {
    PyErr_SetString(g_divergence_error, e.what());
  } catch (const train::InterruptedError& e) {
    const std::string msg = std::string("interrupted at step ") + std::to_string(e.step) + "; the training state is saved in " +
                            e.checkpoint + " (continue with joule.train(resume=...))";
    PyErr_SetString(PyExc_KeyboardInterrupt, msg.c_str());
  } catch (const c10::Error& e) {
    // Without LibTorch's C++ backtrace: the message is what a Python user can act on.
    PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
  }
}

// ------------------------------------------------------------------ configuration from Python

// One override value as the command-line text Document::set parses (TOML values; strings bare).
std::string toml_text(const py::handle& v);
std::string toml_item(const py::handle& v) {
  if (py::isinstance<py::str>(v)) {
    std::string s = v.cast<std::string>(), out = "\"";
    for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return out + "\"";
  }
  return toml_text(v);
}
std::string toml_text(const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::int_>(v)) return std::to_string(v.cast<int64_t>());
  if (py::isinstance<py::float_>(v)) {
    std::ostringstream os;
    os.precision(17);
    os << v.cast<double>();
    return os.str();
  }
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    std::string out = "[";
    bool first = true;
    for (auto item : v) {
      out += (first ? "" : ", ") + toml_item(item);
      first = false;
    }
    return out + "]";
  }
  throw config::ConfigError("unsupported override value " + py::repr(v).cast<std::string>() +
                            " (use a number, bool, string or list)");
}

// {"train.steps": 100, ...} (python/joule flattens nested dicts) applied on top of `doc`.
void apply_overrides(config::Document& doc, const py::dict& overrides) {
  for (auto kv : overrides) doc.set(kv.first.cast<std::string>(), toml_text(kv.second), "Python");
}

// A config file, a preset name or nothing (the default method), plus overrides.
config::Document make_document(const std::string& source, const py::dict& overrides) {
  config::Document doc;
  if (!source.empty()) {
    namespace fs = std::filesystem;
    const bool looks_like_file = source.find('/') != std::string::npos ||
                                 (source.size() > 5 && source.compare(source.size() - 5, 5, ".toml") == 0);
    if (fs::is_directory(source)) {
      throw config::ConfigError("'" + source + "' is a folder, not a config file or a preset; to open a run use joule.load()");
    }
    if (!fs::exists(source) && looks_like_file) throw config::ConfigError("config file '" + source + "' does not exist");
    doc = fs::exists(source) ? config::Document::from_file(source) : config::preset(source);
  }
  apply_overrides(doc, overrides);
  return doc;
}

// ------------------------------------------------------------------ progress to Python's stderr

// A std::streambuf that writes to a Python file object (sys.stderr: a terminal, a notebook cell
// or a log). Lines are written whole; a "\r"-redrawn bar is flushed at each "\r", which
// terminals and Jupyter both render as a bar updating in place.
class PythonStreamBuf : public std::streambuf {
 public:
  explicit PythonStreamBuf(py::object file) : file_(std::move(file)) {}
  ~PythonStreamBuf() override { flush(); }

 protected:
  int overflow(int c) override {
    if (c == EOF) return 0;
    buffer_ += static_cast<char>(c);
    if (c == '\n' || c == '\r') flush();
    return c;
  }
  int sync() override {
    flush();
    return 0;
  }

 private:
  void flush() {
    if (buffer_.empty()) return;
    py::gil_scoped_acquire gil;
    try {
      file_.attr("write")(buffer_);
      file_.attr("flush")();
    } catch (const py::error_already_set&) {
      // A closed or odd stream must not end training; the progress display is optional.
    }
    buffer_.clear();
  }
  py::object file_;
  std::string buffer_;
};

// While training runs with the GIL released, Python's own SIGINT handler cannot run: Ctrl-C
// would go unnoticed until the end. On the main thread (the only one Python lets handle
// signals), training gets the CLI's behaviour instead: stop after the step, save, raise
// KeyboardInterrupt; Python's handlers come back afterwards.
std::unique_ptr<train::StopSignalScope> stop_signals_if_main_thread() {
  auto threading = py::module_::import("threading");
  if (!threading.attr("current_thread")().is(threading.attr("main_thread")())) return nullptr;
  return std::make_unique<train::StopSignalScope>(nullptr, /*second_signal_quits=*/false);
}

// ------------------------------------------------------------------ a method or run

struct Run {
  std::unique_ptr<methods::Method> method;

  methods::Method& m() {
    TORCH_CHECK(method, "this joule.Run has no method");
    return *method;
  }
  EnergyModel& energy_model() {
    auto& mod = m().trainer().modules();
    TORCH_CHECK(mod.has("model"), "the ", m().name(), " run has no module called 'model'");
    auto* e = dynamic_cast<EnergyModel*>(mod.ptr("model").get());
    TORCH_CHECK(e, "the model of this ", m().name(), " run is a ", mod.at("model").name(),
                ", not an energy model (use log_prob() for an exact density model)");
    return *e;
  }
  // x [B, ...] or [B, D] flattened, moved to the model's device and float32.
  at::Tensor prepare(const at::Tensor& x, const std::vector<int64_t>& event_shape) {
    TORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(0) > 0, "expected a batch [B, ...] with B >= 1, got ", x.sizes());
    int64_t d = 1;
    for (auto s : event_shape) d *= s;
    TORCH_CHECK(x.numel() == x.size(0) * d, "each sample must have ", d, " values (shape ", c10::IntArrayRef(event_shape),
                "), got a batch of shape ", x.sizes());
    std::vector<int64_t> shape{x.size(0)};
    shape.insert(shape.end(), event_shape.begin(), event_shape.end());
    TORCH_CHECK(x.is_floating_point(), "expected floating-point samples, got ", x.scalar_type());
    return x.detach().reshape(shape).to(m().device(), torch::kFloat32);
  }
};

void set_sample_options(Run& run, const py::dict& options) {
  config::Document doc;
  for (auto kv : options) doc.set("sample." + kv.first.cast<std::string>(), toml_text(kv.second), "Python");
  run.m().configure(doc);
}

std::unique_ptr<Run> wrap(std::unique_ptr<methods::Method> m) {
  auto r = std::make_unique<Run>();
  r->method = std::move(m);
  return r;
}

std::unique_ptr<Run> train_into(const std::string& source, const py::dict& overrides, const std::string& resume,
                           const std::string& out, const std::string& progress, const py::object& stream) {
  std::unique_ptr<methods::Method> method;
  torch::Device device = torch::kCPU;
  if (!resume.empty()) {
    if (!source.empty()) throw config::ConfigError("resume uses the run's saved config; drop the config argument");
    auto config = methods::saved_config(resume);
    config::Document doc;
    apply_overrides(doc, overrides);
    config.merge(doc);
    const auto run = methods::run_options(config);
    set_num_threads(run.threads > 0 ? static_cast<int>(run.threads) : available_cores());
    device = resolve_device(run.device);
    method = methods::load_with_config(resume, config, device);
    const int64_t at = method->trainer().step_count(), steps = method->config().train.steps;
    if (steps < at) {
      throw config::ConfigError("train.steps = " + std::to_string(steps) + " but the checkpoint is at step " +
                                std::to_string(at) + "; a resumed run trains on to train.steps");
    }
  } else {
    method = methods::create(make_document(source, overrides));
    const auto& run = method->config().run;
    set_num_threads(run.threads > 0 ? static_cast<int>(run.threads) : available_cores());
    device = resolve_device(run.device);
    method->build(device);
  }
  std::string dir = resume.empty() ? out : "";
  if (resume.empty() && dir.empty()) dir = method->config().run.out;
  if (resume.empty() && dir.empty()) throw config::ConfigError("give the run folder: out='runs/NAME' (or run.out)");

  PythonStreamBuf buf(stream);
  std::ostream os(&buf);
  methods::TrainRunOptions opts;
  if (progress != "none") {
    opts.progress = &os;
    opts.progress_bar = progress == "bar";
  }
  train::clear_interrupt();
  {
    auto stop_signals = stop_signals_if_main_thread();
    py::gil_scoped_release release;
    methods::train_run(*method, dir, opts);
  }
  os.flush();
  return wrap(std::move(method));
}

// The sample's rows as [n, D] for the goodness-of-fit tests.
at::Tensor as_rows(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 2, "expected samples [n, D] with n >= 2, got ", x.sizes());
  TORCH_CHECK(x.is_floating_point(), "expected floating-point samples, got ", x.scalar_type());
  return x.detach().to(torch::kCPU, torch::kFloat32).contiguous();
}

// A Python score function s(x) = ∇ log q(x) [n, D] -> [n, D], called with the GIL held.
eval::ScoreFunction python_score(py::function f) {
  auto holder = std::make_shared<py::function>(std::move(f));
  return [holder](const at::Tensor& x) {
    py::gil_scoped_acquire gil;
    at::Tensor s = (*holder)(x).cast<at::Tensor>();
    TORCH_CHECK(s.sizes() == x.sizes(), "the score function returned shape ", s.sizes(), " for input ", x.sizes());
    return s.detach().to(x.device(), x.scalar_type());
  };
}

py::dict result_dict(const eval::GofResult& r) {
  py::dict d, details;
  d["test"] = r.test;
  d["statistic"] = r.statistic;
  d["p_value"] = r.p_value;
  d["alpha"] = r.alpha;
  d["reject"] = r.reject;
  for (const auto& kv : r.details) details[py::str(kv.first)] = kv.second;
  d["details"] = details;
  return d;
}

}  // namespace

PYBIND11_MODULE(_joule, m) {
  m.doc() = "Joule's C++ library for Python (use the `joule` package, which wraps this module).";
  g_config_error = PyErr_NewExceptionWithDoc("joule.ConfigError",
                                             "A bad option, value, file or shape: the message names it and what to do.",
                                             PyExc_ValueError, nullptr);
  g_divergence_error = PyErr_NewExceptionWithDoc(
      "joule.DivergenceError", "Training diverged beyond its restarts; the last good checkpoint is kept.",
      PyExc_RuntimeError, nullptr);
  m.attr("ConfigError") = py::handle(g_config_error);
  m.attr("DivergenceError") = py::handle(g_divergence_error);
  py::register_exception_translator(&translate);

  m.def("torch_version", &torch_version);
  m.def("presets", &config::preset_names);
  m.def("preset_text", &config::preset_text);
  m.def("methods", [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& info : methods::registry()) out.emplace_back(info.name, info.summary);
    return out;
  });
  m.def("resolved_config", [](const std::string& source, const py::dict& overrides) {
    return methods::create(make_document(source, overrides))->config_toml();
  });
  m.def("set_num_threads", [](int n) { set_num_threads(n > 0 ? n : available_cores()); });

  py::class_<Run>(m, "Run")
      .def_property_readonly("method", [](Run& r) { return r.m().name(); })
      .def_property_readonly("dir", [](Run& r) { return r.m().run_dir(); })
      .def_property_readonly("step", [](Run& r) { return r.m().trainer().step_count(); })
      .def_property_readonly("config_toml", [](Run& r) { return r.m().config_toml(); })
      .def_property_readonly("device", [](Run& r) { return r.m().device().str(); })
      .def_property_readonly("event_shape", [](Run& r) { return r.energy_model().event_shape(); })
      .def_property_readonly("temperature", [](Run& r) { return r.energy_model().temperature(); })
      .def("energy",
           [](Run& r, const at::Tensor& x) {
             auto& e = r.energy_model();
             auto xs = r.prepare(x, e.event_shape());
             py::gil_scoped_release release;
             torch::NoGradGuard no_grad;
             EvalModeGuard eval_mode(e);
             return e.energy(xs);
           })
      .def("score",
           [](Run& r, const at::Tensor& x) {
             auto& e = r.energy_model();
             auto xs = r.prepare(x, e.event_shape());
             py::gil_scoped_release release;
             EvalModeGuard eval_mode(e);
             return score(e, xs);
           })
      .def("log_prob",
           [](Run& r, const at::Tensor& x) {
             auto& mod = r.m().trainer().modules();
             auto* d = mod.has("model") ? dynamic_cast<DensityModel*>(mod.ptr("model").get()) : nullptr;
             TORCH_CHECK(d, "the ", r.m().name(), " model has no exact log-density; use log_prob_unnormalized() (= -E/T) "
                         "or joule eval for its log Z estimate");
             auto xs = r.prepare(x, d->event_shape());
             py::gil_scoped_release release;
             torch::NoGradGuard no_grad;
             EvalModeGuard eval_mode(mod.at("model"));
             return d->log_prob(xs);
           })
      .def("sample",
           [](Run& r, const py::dict& options) {
             set_sample_options(r, options);
             py::gil_scoped_release release;
             return r.m().sample().cpu();
           })
      .def("evaluate",
           [](Run& r, const py::dict& options) {
             config::Document doc;
             for (auto kv : options) doc.set("eval." + kv.first.cast<std::string>(), toml_text(kv.second), "Python");
             r.m().configure(doc);
             py::gil_scoped_release release;
             auto report = r.m().evaluate();
             return std::make_pair(report.to_json(), report.table);
           })
      .def("pictures",
           [](Run& r, const std::string& prefix) {
             py::gil_scoped_release release;
             return r.m().pictures(prefix);
           })
      .def("weights",
           [](Run& r) {
             py::dict d;
             for (const auto& kv : methods::weights(r.m())) d[py::str(kv.first)] = kv.second.detach().cpu();
             return d;
           })
      .def("export", [](Run& r, const std::string& path, const std::string& format) {
        methods::export_weights(r.m(), path, format);
      })
      .def("import_weights", [](Run& r, const std::string& path) { methods::import_weights(r.m(), path); });

  m.def("train", &train_into, py::arg("source"), py::arg("overrides"), py::arg("resume"), py::arg("out"), py::arg("progress"),
        py::arg("stream"));
  m.def("load", [](const std::string& path, const py::dict& overrides, const std::string& device) {
    config::Document doc;
    apply_overrides(doc, overrides);
    auto config = methods::saved_config(path);
    config.merge(doc);
    const std::string dev = device.empty() ? methods::run_options(config).device : device;
    return wrap(methods::load_with_config(path, config, resolve_device(dev)));
  });
  m.def("gof", [](const at::Tensor& samples, const std::string& model, const py::dict& overrides) {
    methods::GofConfig cfg;
    config::Document doc;
    doc.set("gof.model", toml_item(py::str(model)), "Python");
    apply_overrides(doc, overrides);
    config::read(config::visit_of(cfg), doc);
    methods::GofTest test(cfg);
    auto x = as_rows(samples);
    methods::GofReport report;
    {
      py::gil_scoped_release release;
      report = test.run(x, resolve_device(cfg.run.device));
    }
    py::dict out;
    out["description"] = report.description;
    py::list results;
    for (const auto& r : report.results) results.append(result_dict(r));
    out["results"] = results;
    return out;
  });
  m.def("ksd_test", [](const at::Tensor& samples, py::function score_fn, double bandwidth, int64_t bootstrap, double alpha,
                       uint64_t seed) {
    auto x = as_rows(samples);
    auto score_of = python_score(std::move(score_fn));
    eval::GofResult r;
    {
      py::gil_scoped_release release;
      r = eval::ksd_test(score_of, x, eval::KsdTestOptions().bandwidth(bandwidth).bootstrap(bootstrap).alpha(alpha),
                         make_generator(seed));
    }
    return result_dict(r);
  });
  m.def("lsd_test", [](const at::Tensor& samples, py::function score_fn, const py::dict& options, double alpha, uint64_t seed) {
    auto x = as_rows(samples);
    auto score_of = python_score(std::move(score_fn));
    // The same option names as [gof] lsd_* (without the prefix), read through the one registry.
    methods::GofConfig cfg;
    config::Document doc;
    for (auto kv : options) doc.set("gof.lsd_" + kv.first.cast<std::string>(), toml_text(kv.second), "Python");
    doc.set("gof.alpha", toml_text(py::float_(alpha)), "Python");
    config::read(config::visit_of(cfg), doc);
    eval::GofResult r;
    {
      py::gil_scoped_release release;
      r = eval::lsd_test(score_of, x, cfg.gof.lsd_options(), make_generator(seed));
    }
    return result_dict(r);
  });
}
