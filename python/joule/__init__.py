"""Joule from Python: energy-based models trained, sampled and tested by Joule's C++ library.

Tensors go in and come out as ``torch.Tensor``; the configuration is the same as the CLI's
(``joule train``): a preset or TOML file plus overrides, given here as keyword dictionaries::

    import torch, joule
    run = joule.train(overrides={"train.steps": 500}, out="runs/pcd")   # the default: PCD on 8gaussians
    run.energy(torch.zeros(4, 2))            # E(x) per sample
    x = run.sample(n=1000, steps=200)        # [1000, 2]
    run.evaluate()["metrics"]["nll_test"]
    joule.gof(x, "runs/pcd")                 # LSD and KSD tests of the model on x

See docs/python.md.
"""

import sys as _sys

import torch as _torch  # loads LibTorch's Python bindings before the extension uses them

from . import _joule
from ._joule import ConfigError, DivergenceError, Run

__all__ = ["train", "load", "gof", "ksd_test", "lsd_test", "presets", "methods", "config",
           "set_num_threads", "Run", "ConfigError", "DivergenceError"]

__version__ = "0.1.0"


def _flatten(overrides, prefix=""):
    """{"train": {"steps": 5}, "sampler.kind": "mala"} -> {"train.steps": 5, "sampler.kind": "mala"}."""
    flat = {}
    for key, value in (overrides or {}).items():
        if not isinstance(key, str):
            raise ConfigError(f"override keys are option names such as 'train.steps', got {key!r}")
        name = prefix + key
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _in_notebook():
    try:
        from IPython import get_ipython  # noqa: PLC0415 (optional dependency)
        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except Exception:  # IPython absent or not running
        return False


def _progress_mode(progress, stream):
    if progress in (False, None, "none"):
        return "none"
    if progress in ("bar", "lines"):
        return progress
    if progress not in (True, "auto"):
        raise ConfigError(f"progress must be True, False, 'auto', 'bar', 'lines' or 'none', got {progress!r}")
    try:
        tty = stream.isatty()
    except Exception:
        tty = False
    return "bar" if tty or _in_notebook() else "lines"


def train(config=None, overrides=None, *, out=None, resume=None, progress="auto", stream=None):
    """Trains a method into a run folder and returns the trained :class:`Run`.

    config: a preset name (``joule.presets()``), a TOML file, or None for the default method (PCD
    on the 8gaussians toy set). overrides: option values, flat ({"train.steps": 100}) or nested
    ({"train": {"steps": 100}}), checked like the CLI's key=value (a wrong key is a ConfigError
    naming the closest one). out: the run folder (new or empty); or set ``run.out``.
    resume: a run folder to continue (to ``train.steps``), with overrides only.
    progress: a bar in terminals and notebooks, plain lines otherwise ("auto"), or "bar",
    "lines", False. Ctrl-C stops after the current step, saves the checkpoint and raises
    KeyboardInterrupt. A run that diverges beyond ``train.max_restarts`` raises DivergenceError.
    """
    stream = stream if stream is not None else _sys.stderr
    return _joule.train(config or "", _flatten(overrides), resume or "", out or "",
                        _progress_mode(progress, stream), stream)


def load(run, overrides=None, *, device=""):
    """Reopens a run folder (or checkpoint) of ``joule train`` or :func:`train`: the same model
    and training state, ready to evaluate, sample or score batches. device: "cpu", "cuda", or ""
    for the run's own ``run.device``."""
    return _joule.load(str(run), _flatten(overrides), device)


def gof(samples, model, overrides=None):
    """Goodness of fit: are the rows of ``samples`` [n, D] draws from ``model`` (a run folder,
    a checkpoint, or "gaussian", "laplace", "rbm-benchmark")? Runs the tests ``gof.test`` names
    (LSD and KSD by default) with the [gof] options in ``overrides`` ({"gof.alpha": 0.01}).
    Returns {"description": ..., "results": [{"test", "statistic", "p_value", "reject", ...}]}."""
    return _joule.gof(samples, str(model), _flatten(overrides))


def ksd_test(samples, score, *, bandwidth=0.0, bootstrap=1000, alpha=0.05, seed=0):
    """Kernel Stein discrepancy test of samples [n, D] against the model whose score
    ∇ₓ log q(x) is ``score`` (a Python function on a [m, D] tensor; q may be unnormalised).
    bandwidth 0 = the median heuristic. Returns the test's statistic, p-value and decision."""
    return _joule.ksd_test(samples, score, float(bandwidth), int(bootstrap), float(alpha), int(seed))


def lsd_test(samples, score, *, alpha=0.05, seed=0, **options):
    """Learned Stein discrepancy test (a critic trained on a split of ``samples``; arXiv:2002.05616
    §5) against the model with score function ``score``. options: the [gof] lsd_* options without
    the prefix (iterations=1000, l2=0.5, width=300, ...). Returns statistic (z), p-value, decision."""
    return _joule.lsd_test(samples, score, _flatten(options), float(alpha), int(seed))


def presets():
    """Names of the configurations shipped with Joule."""
    return _joule.presets()


def methods():
    """{name: summary} of every method Joule can train."""
    return dict(_joule.methods())


def config(config=None, overrides=None):
    """The fully resolved configuration (TOML text, every option with its value) that
    :func:`train` would use."""
    return _joule.resolved_config(config or "", _flatten(overrides))


def set_num_threads(n=0):
    """LibTorch's thread count (shared with Python's torch); 0 = every core this process may use."""
    _joule.set_num_threads(int(n))


def _sample(self, n=None, steps=None, *, init=None, seed=None, **options):
    """Samples [n, ...] from the model with its sampler (``sample.*`` options: n, steps, init
    "buffer" or "noise", seed, and method-specific ones such as JEM's and VERA-JEM's ``cls`` for class)."""
    opts = {k: v for k, v in (("n", n), ("steps", steps), ("init", init), ("seed", seed)) if v is not None}
    if "cls" in options:
        options["class"] = options.pop("cls")
    opts.update(options)
    return self._sample(opts)


def _evaluate(self, **options):
    """The method's evaluation protocol (what ``joule eval`` prints), with ``eval.*`` options.
    Returns {"step", "method", "metrics": {name: value}, "notes", "table"}."""
    import json  # noqa: PLC0415
    text, table = self._evaluate(options)
    report = json.loads(text)
    report["table"] = table
    return report


def _log_prob_unnormalized(self, x):
    """log p̃(x) = −E(x)/T per sample (no normalising constant)."""
    return -self.energy(x) / self.temperature


def _export(self, path, format=None):
    """Writes the trained weights as safetensors or a ``torch.load``-able dict ("pt"); the
    format defaults from the file's extension."""
    path = str(path)
    if format is None:
        format = "safetensors" if path.endswith(".safetensors") else "pt"
    self._export(path, format)
    return path


def _repr(self):
    return f"<joule.Run {self.method} at step {self.step}, {self.dir or 'in memory'}>"


Run._sample = Run.sample
Run.sample = _sample
Run._evaluate = Run.evaluate
Run.evaluate = _evaluate
Run._export = Run.export
Run.export = _export
Run.log_prob_unnormalized = _log_prob_unnormalized
Run.__repr__ = _repr
