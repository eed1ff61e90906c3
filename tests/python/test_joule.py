"""The Python module `joule` (python/) with Debian's python3-torch: training from a config with
overrides, reopening runs, energies and scores of batches against finite differences, sampling,
evaluation, exports read by torch.load, the goodness-of-fit tests with Python score functions
against the built-in ones, and errors a user can act on. Run by ctest (label: python)."""

import io
import json
import os
import signal
import threading
import time

import pytest
import torch

import joule

STEPS = 60


@pytest.fixture(scope="module")
def pcd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "pcd"
    run = joule.train(overrides={"train": {"steps": STEPS, "eval_every": 0}, "run.seed": 3},
                      out=str(out), progress=False)
    return run


def test_train_writes_a_run_folder_and_returns_the_trained_run(pcd_run):
    assert pcd_run.method == "ebm"
    assert pcd_run.step == STEPS
    for name in ("config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json"):
        assert os.path.isfile(os.path.join(pcd_run.dir, name)), name
    assert pcd_run.event_shape == [2]
    assert "steps = 60" in pcd_run.config_toml


def test_score_is_minus_the_energy_gradient_over_temperature(pcd_run):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    s = pcd_run.score(x).double()
    h = 1e-2
    fd = torch.zeros_like(x)
    for j in range(2):
        e = torch.zeros_like(x)
        e[:, j] = h
        fd[:, j] = (pcd_run.energy(x + e).double() - pcd_run.energy(x - e).double()) / (2 * h)
    # Central differences of a float32 network: agreement to ~1e-3 relative.
    torch.testing.assert_close(s, -fd / pcd_run.temperature, rtol=2e-2, atol=2e-3)
    torch.testing.assert_close(pcd_run.log_prob_unnormalized(x), -pcd_run.energy(x) / pcd_run.temperature)


def test_energy_takes_flattened_or_shaped_batches_and_rejects_wrong_ones(pcd_run):
    assert pcd_run.energy(torch.zeros(5, 2)).shape == (5,)
    assert pcd_run.energy(torch.zeros(5, 1, 2)).shape == (5,)
    with pytest.raises(RuntimeError, match="each sample must have 2 values"):
        pcd_run.energy(torch.zeros(5, 3))
    with pytest.raises(RuntimeError, match="floating-point"):
        pcd_run.energy(torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(RuntimeError, match="exact log-density"):
        pcd_run.log_prob(torch.zeros(5, 2))


def test_load_reopens_the_same_model(pcd_run):
    again = joule.load(pcd_run.dir)
    assert again.step == STEPS
    x = torch.randn(32, 2)
    torch.testing.assert_close(again.energy(x), pcd_run.energy(x), rtol=0, atol=0)


def test_sample_is_seeded_and_has_the_requested_shape(pcd_run):
    a = pcd_run.sample(n=50, steps=20, init="noise", seed=7)
    b = pcd_run.sample(n=50, steps=20, init="noise", seed=7)
    c = pcd_run.sample(n=50, steps=20, init="noise", seed=8)
    assert a.shape == (50, 2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.isfinite(a).all()


def test_evaluate_returns_the_reports_metrics(pcd_run):
    report = pcd_run.evaluate()
    assert report["step"] == STEPS
    assert report["method"] == "ebm"
    # The same protocol and seeds as the evaluation train() wrote into eval.json.
    with open(os.path.join(pcd_run.dir, "eval.json")) as f:
        saved = json.load(f)["metrics"]
    assert report["metrics"]["nll_test"] == pytest.approx(saved["nll_test"], rel=1e-9)
    assert report["metrics"]["log_z"] == pytest.approx(saved["log_z"], rel=1e-9)


def test_export_is_read_by_torch_load_with_the_weights_keys(pcd_run, tmp_path):
    path = pcd_run.export(tmp_path / "weights.pt")
    saved = torch.load(path)
    weights = pcd_run.weights()
    assert sorted(saved) == sorted(weights)
    for k, v in weights.items():
        assert torch.equal(saved[k], v), k


def test_resume_continues_to_more_steps(tmp_path):
    out = str(tmp_path / "r")
    joule.train(overrides={"train.steps": 20, "train.eval_every": 0}, out=out, progress=False)
    run = joule.train(resume=out, overrides={"train.steps": 30}, progress=False)
    assert run.step == 30
    assert run.dir.rstrip("/") == out


def test_progress_lines_go_to_the_given_stream(tmp_path):
    stream = io.StringIO()
    joule.train(overrides={"train.steps": 20, "train.log_every": 5, "train.eval_every": 0},
                out=str(tmp_path / "p"), progress="lines", stream=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("5/20 loss") and lines[-1].startswith("20/20 loss")


def test_sigint_stops_after_the_step_saves_and_raises_keyboard_interrupt(tmp_path):
    out = str(tmp_path / "i")
    started = os.path.join(out, "checkpoint.pt")  # written at step 0, once training runs

    def interrupt_when_training():
        for _ in range(600):
            if os.path.exists(started):
                time.sleep(0.3)
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=interrupt_when_training, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt, match="saved in"):
        joule.train(overrides={"train.steps": 10**7, "train.eval_every": 0}, out=out, progress=False)
    thread.join()
    run = joule.load(out)
    assert 0 < run.step < 10**7
    # Python's own handler is back: the next Ctrl-C is an ordinary KeyboardInterrupt again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_bad_options_are_config_errors_naming_the_closest_key(tmp_path):
    with pytest.raises(joule.ConfigError, match="train.step"):
        joule.train(overrides={"train.stpes": 5}, out=str(tmp_path / "x"), progress=False)
    assert not os.path.exists(tmp_path / "x")
    with pytest.raises(joule.ConfigError):
        joule.train("no_such_preset", out=str(tmp_path / "y"))
    with pytest.raises(joule.ConfigError, match="does not exist"):
        joule.train("missing/file.toml", out=str(tmp_path / "z"))
    with pytest.raises(joule.ConfigError, match="run folder"):
        joule.train(overrides={"train.steps": 5})
    assert issubclass(joule.ConfigError, ValueError)


def test_config_resolves_presets_with_overrides():
    text = joule.config("mala_8gaussians", {"sampler.steps": 7})
    sampler = text.split("[sampler]")[1].split("\n[")[0]
    assert "kind = 'mala'" in sampler
    assert "steps = 7" in sampler
    assert "pcd_8gaussians" in joule.presets()
    assert "jem" in joule.methods()


def gaussian_score(x):
    return -x


def test_ksd_with_a_python_score_matches_the_built_in_model():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(300, 3, generator=gen)
    mine = joule.ksd_test(x, gaussian_score, seed=0)
    built_in = joule.gof(x, "gaussian", {"gof.test": "ksd", "gof.shuffle": False})["results"][0]
    assert mine["statistic"] == pytest.approx(built_in["statistic"], rel=1e-6)
    assert not mine["reject"]
    shifted = joule.ksd_test(x + 0.5, gaussian_score, seed=0)
    assert shifted["reject"] and shifted["p_value"] < 0.01


def test_lsd_with_a_python_score_rejects_a_wrong_model_and_accepts_the_right_one():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1000, 2, generator=gen)
    opts = dict(iterations=150, width=32, val_every=50)
    right = joule.lsd_test(x, gaussian_score, seed=0, **opts)
    wrong = joule.lsd_test(x, lambda y: -(y - 0.3) / 0.8**2, seed=0, **opts)
    assert right["test"] == "lsd" and not right["reject"]
    assert wrong["reject"]
    with pytest.raises(joule.ConfigError, match="lsd_iterations"):
        joule.lsd_test(x, gaussian_score, iteration=5)


def test_a_score_function_of_the_wrong_shape_is_an_error():
    x = torch.randn(50, 2)
    with pytest.raises(RuntimeError, match="score function returned shape"):
        joule.ksd_test(x, lambda y: y.sum(1))


def test_gof_of_a_trained_run(pcd_run):
    x = pcd_run.sample(n=400, steps=50, init="noise", seed=1)
    report = joule.gof(x, pcd_run.dir, {"gof.test": "ksd", "gof.ksd_bootstrap": 200})
    assert report["results"][0]["test"] == "ksd"
    assert 0 <= report["results"][0]["p_value"] <= 1


def test_relax_from_python_lowers_theta_on_the_toy(tmp_path):
    # The RELAX toy (t = 0.45): from θ = 1/2 towards the optimum θ = 0; samples are Bernoulli draws.
    run = joule.train("relax_toy", overrides={"train.steps": 800}, out=str(tmp_path / "toy"), progress=False)
    m = run.evaluate()["metrics"]
    assert m["theta"] < 0.2
    assert abs(m["loss_exact"] - (m["theta"] * 0.55**2 + (1 - m["theta"]) * 0.45**2)) < 1e-5
    b = run.sample(n=500)
    assert set(b.unique().tolist()) <= {0.0, 1.0}


def test_video_vae_from_python_on_generated_sprites(tmp_path):
    # A few steps of the factored-prior video VAE: the report has the factorisation read-outs and
    # samples are videos [n, T, C, H, W] in [0, 1].
    overrides = {"data.sequences": 32, "data.test_sequences": 12, "data.frames": 4, "data.size": 16,
                 "data.identities": 3, "data.held_out": 2, "data.held_out_sequences": 16,
                 "vae.filters": 4, "vae.hidden": 16, "train.steps": 10, "train.batch_size": 8,
                 "eval.shots": [1], "eval.repeats": 2, "sample.n": 3}
    run = joule.train("video_vae_sprites", overrides=overrides, out=str(tmp_path / "video"), progress=False)
    m = run.evaluate()["metrics"]
    assert "identity_acc_identity_latents" in m and "pose_r2_pose_latents" in m
    assert 0 <= m["fewshot1_identity_latents"] <= 1
    v = run.sample(n=3)
    assert tuple(v.shape) == (3, 4, 3, 16, 16)
    assert 0 <= float(v.min()) and float(v.max()) <= 1
