// joule sample CHECKPOINT [sample.n=... sample.steps=...]: draws samples from a trained model.
#include <algorithm>

#include <torch/serialize.h>

#include "joule/data/csv.h"
#include "joule/io/checkpoint.h"
#include "joule/io/plot.h"
#include "joule/io/png.h"
#include "tools/joule/command_common.h"
#include "tools/joule/commands.h"

namespace joule::cli {

int cmd_sample(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << "usage: joule sample CHECKPOINT|RUN_FOLDER [key=value ...]\n\n"
           "Runs the model's sampler from the replay buffer (or fresh noise) and writes the samples as\n"
           "CSV, as a tensor file loadable with Python's torch.load, and as a picture.\n"
        << Registry::global().help("sample");
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("joule sample needs exactly one CHECKPOINT or RUN_FOLDER");
  Config cfg("sample");
  apply_overrides(cfg, args);
  const torch::Device device = setup_runtime(cfg, err);
  Restored r = restore_run(args.positional[0], device);
  RunContext ctx;
  ctx.run_dir = r.run_dir;
  ctx.out = &out;
  ctx.device = device;
  auto x = r.pipeline->sample(*r.trainer, cfg, ctx).cpu();
  std::string prefix = cfg.get_string("sample.out");
  if (prefix.empty()) prefix = r.run_dir + "/samples-step" + std::to_string(r.trainer->step_count());
  data::write_csv(prefix + ".csv", x.reshape({x.size(0), -1}));
  {
    auto bytes = torch::pickle_save(x);
    io::write_text_file(prefix + ".pt", std::string(bytes.begin(), bytes.end()));
  }
  out << "wrote " << x.size(0) << " samples to " << prefix << ".csv and " << prefix << ".pt (torch.load)\n";
  if (x.dim() == 2 && x.size(1) == 2) {
    const double e = std::max(1.0, 1.1 * x.abs().max().item<double>());
    io::write_png(prefix + ".png", io::scatter_plot(x, io::PlotBox{-e, e, -e, e}, "samples"));
    out << "wrote " << prefix << ".png\n";
  } else if (x.dim() == 4 && (x.size(1) == 1 || x.size(1) == 3)) {
    // Images (RBM, JEM): a grid, values scaled from their own min and max.
    const int64_t show = std::min<int64_t>(x.size(0), 100);
    io::save_image_grid(x.slice(0, 0, show), prefix + ".png", 10);
    out << "wrote " << prefix << ".png (the first " << show << ")\n";
  }
  return 0;
}

}  // namespace joule::cli
