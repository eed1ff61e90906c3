#include "joule/methods/method.h"

#include <c10/util/Exception.h>

#include <algorithm>

#include "joule/io/checkpoint.h"

namespace joule::methods {

namespace {

// Other methods' keys, for a hint when a document sets one of them ("it is an option of method rbm").
// Keys renamed by the library-shape change: LSD's critic became a parameter group; the
// classifier methods share [model] (the network) and [data] (the data set) families.
struct RenamedKey {
  std::string old_key, new_key, method;  // method: where the old key was that method's option
};
const std::vector<RenamedKey>& renamed_keys() {
  static const std::vector<RenamedKey> renamed = [] {
    std::vector<RenamedKey> r;
    for (const char* m : {"ebm", "ica"}) {
      r.push_back({"lsd.critic_steps", "optim.critic.updates", m});
      r.push_back({"lsd.critic_lr", "optim.critic.lr", m});
      r.push_back({"lsd.critic_beta1", "optim.critic.beta1", m});
      r.push_back({"lsd.critic_beta2", "optim.critic.beta2", m});
      r.push_back({"lsd.critic_weight_decay", "optim.critic.weight_decay", m});
      r.push_back({"lsd.fresh_critic_batches", "optim.critic.fresh_batches", m});
    }
    for (const char* k : {"channels", "wrn_depth", "wrn_widen", "dropout", "norm", "norm_groups"}) {
      r.push_back({std::string("jem.") + k, std::string("model.") + k, "jem"});
    }
    for (const char* k : {"n_train", "n_test", "label_column", "val_fraction", "test_fraction", "synthetic_n"}) {
      r.push_back({std::string("jem.") + k, std::string("data.") + k, "jem"});
    }
    // VERA's refinement became a [refine] sampler (MALA or a cold Langevin chain).
    r.push_back({"eval.mala_steps", "refine.steps", "vera"});
    r.push_back({"eval.mala_step_size", "refine.step_size", "vera"});
    return r;
  }();
  return renamed;
}

std::string other_method_hint(const std::string& self, const std::string& key) {
  for (const auto& r : renamed_keys()) {
    if (key == r.old_key) return "it is now '" + r.new_key + "'";
  }
  std::vector<std::string> owners;
  for (const auto& info : registry()) {
    if (info.name == self) continue;
    auto m = info.create();
    for (const auto& f : m->schema()) {
      if (f.key == key) {
        owners.push_back(info.name);
        break;
      }
    }
  }
  if (owners.empty()) return "";
  std::string list;
  for (const auto& o : owners) list += (list.empty() ? "" : ", ") + o;
  return "it is an option of method " + list + ", not of method " + self;
}

}  // namespace

config::Document rename_saved_keys(const config::Document& saved) {
  config::Document doc = saved;
  const std::string name = doc.get_text("method", "ebm");
  // A renamed key of this method replaces whatever the new name held (in format 1, another
  // method's option of the same name, e.g. the EBM's data.n_train in a JEM run).
  for (const auto& r : renamed_keys()) {
    if (r.method != name || !doc.has(r.old_key)) continue;
    doc.set(r.new_key, doc.get_text(r.old_key), doc.origin(r.old_key));
    doc.erase(r.old_key);
  }
  return doc;
}

config::Document upgrade_saved_config(const config::Document& saved) {
  config::Document doc = rename_saved_keys(saved);
  const std::string name = doc.get_text("method", "ebm");
  // The old registry wrote every method's keys into every run's config; keep this method's.
  auto method = create(name);
  std::vector<std::string> known;
  for (const auto& f : method->schema()) known.push_back(f.key);
  for (const auto& key : doc.keys()) {
    if (key != "method" && std::find(known.begin(), known.end(), key) == known.end()) doc.erase(key);
  }
  return doc;
}

void Method::configure(const config::Document& doc) {
  const std::string named = doc.get_text("method", name());
  if (named != name()) {
    throw config::ConfigError(doc.origin("method") + ": this is method '" + name() + "', but the configuration says method = '" +
                              named + "'");
  }
  config::ReadOptions opts;
  opts.ignore = {"method"};
  const std::string self = name();
  opts.hint = [self](const std::string& key) { return other_method_hint(self, key); };
  auto& cfg = config();
  config::read([&cfg](config::Fields& f) { cfg.visit(f); }, doc, opts);
}

std::string Method::config_toml() {
  auto& cfg = config();
  return config::to_toml([&cfg](config::Fields& f) { cfg.visit(f); },
                         "# Resolved Joule configuration (every option, defaults included).\nmethod = \"" + name() + "\"\n\n");
}

std::vector<config::FieldInfo> Method::schema() {
  auto& cfg = config();
  return config::schema([&cfg](config::Fields& f) { cfg.visit(f); });
}

void Method::build(torch::Device device) {
  auto& cfg = config();
  config::validate([&cfg](config::Fields& f) { cfg.visit(f); });
  device_ = device;
  Parts parts = build_parts(device);
  TORCH_CHECK(parts.objective && parts.data, "method '", name(), "' built no objective or no data");
  std::vector<train::ParamGroup> groups = parts.before;
  groups.emplace_back("model", std::vector<std::string>{"model"}, cfg.train.optimizer.options().updates(1).every(1));
  groups.insert(groups.end(), parts.after.begin(), parts.after.end());
  trainer_ = std::make_unique<train::Trainer>(std::move(parts.modules), std::move(groups), parts.objective, parts.data,
                                              cfg.train.options(static_cast<uint64_t>(cfg.run.seed)));
}

train::Trainer& Method::trainer() {
  TORCH_CHECK(trainer_, "method '", name(), "' is not built yet: call build() first");
  return *trainer_;
}

void Method::train() { trainer().train(); }

void Method::add_periodic_evaluation(const Monitor& monitor, int64_t every,
                                     std::function<std::vector<std::pair<std::string, double>>()> measure,
                                     const std::string& shown, const std::string& label) {
  if (every <= 0) return;
  auto metrics = monitor.metrics;
  auto progress = monitor.progress;
  train::HeldOutWatchOptions wo;
  if (train::HeldOutWatch::defaults_for(shown, wo)) {
    wo.best_checkpoint = monitor.best_checkpoint;
    wo.action = monitor.degrade_action;
    watch_ = std::make_shared<train::HeldOutWatch>(wo);
    // A resumed run: the best so far is in its metrics (up to the checkpoint's step).
    if (metrics && io::file_exists(metrics->path())) {
      for (const auto& row : train::MetricsLogger::read(metrics->path())) {
        if (row.step > trainer().step_count()) continue;
        for (const auto& [n, v] : row.values) {
          if (n == shown) watch_->seed(row.step, v);
        }
      }
    }
  }
  auto watch = watch_;
  auto health = health_;  // add_sampler_health() comes first
  trainer().add_callback(std::make_shared<train::PeriodicCallback>(
      every,
      [metrics, progress, watch, health, measure = std::move(measure), shown, label](train::Trainer& trainer, int64_t step) {
        const auto values = measure();
        if (metrics) metrics->log(step, values);
        for (const auto& [n, v] : values) {
          if (watch && n == shown) watch->observe(trainer, step, v, metrics.get());
          if (health) health->observe_evaluation(trainer, step, n, v);
        }
        if (!progress) return;
        for (const auto& [n, v] : values) {
          if (n == shown) progress->set_extra(label, v);
        }
      },
      /*at_end=*/false));
}

void Method::add_sampler_health(const Monitor& monitor, double gap_threshold, double tv_threshold) {
  if (gap_threshold <= 0 && tv_threshold <= 0) return;
  health_ = std::make_shared<train::SamplerHealthWatch>(train::SamplerHealthOptions()
                                                            .threshold(gap_threshold)
                                                            .tv_threshold(tv_threshold)
                                                            .action(monitor.degrade_action),
                                                        monitor.metrics);
  trainer().add_callback(health_);
}

std::unique_ptr<Method> create(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& info : registry()) {
    if (info.name == name) return info.create();
    names.push_back(info.name);
  }
  const std::string near = config::closest_match(name, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw config::ConfigError("unknown method '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                            "; methods: " + list);
}

std::unique_ptr<Method> create(const config::Document& doc) {
  std::unique_ptr<Method> m;
  try {
    m = create(doc.get_text("method", "ebm"));
  } catch (const config::ConfigError& e) {
    throw config::ConfigError(doc.origin("method") + ": " + e.what());
  }
  m->configure(doc);
  return m;
}

}  // namespace joule::methods
