import math

import pytest
import torch
from torch import nn

from companion import data, train
from companion.models import MLP


def _tiny_config(**overrides):
    base = dict(model="mlp", data="digits", model_kwargs={"hidden": (16,)}, epochs=2)
    return train.TrainConfig(**{**base, **overrides})


def test_evaluate_counts_correct_predictions_like_a_hand_loop():
    splits = data.digits()
    torch.manual_seed(0)
    model = MLP(hidden=(8,))
    metrics = train.evaluate(model, splits.loader("test", 50))
    with torch.no_grad():
        logits = model(splits.x_test)
    assert metrics.accuracy == pytest.approx(float((logits.argmax(1) == splits.y_test).float().mean()))
    assert metrics.loss == pytest.approx(float(nn.functional.cross_entropy(logits, splits.y_test)), rel=1e-5)


def test_fit_lowers_the_loss_and_calls_the_step_hook():
    splits = data.digits()
    torch.manual_seed(0)
    model = MLP(hidden=(32,))
    steps = []
    history = train.fit(model, splits.loader("train", 64), epochs=3, lr=1e-2, val_loader=splits.loader("val", 512),
                        after_step=lambda m, step: steps.append(step), device="cpu")
    batches = len(splits.loader("train", 64))
    assert steps == list(range(1, 3 * batches + 1))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.8
    assert not model.training


def test_fit_steps_a_scheduler_per_epoch_or_per_batch():
    splits = data.digits()
    for interval, expected_steps in (("epoch", 2), ("batch", 2 * len(splits.loader("train", 256)))):
        model = MLP(hidden=(8,))
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        train.fit(model, splits.loader("train", 256), epochs=2, optimizer=opt, scheduler=sched,
                  scheduler_interval=interval, device="cpu")
        assert opt.param_groups[0]["lr"] == pytest.approx(0.5 ** expected_steps)


def test_training_is_deterministic():
    a, _ = train.train_config(_tiny_config(), device="cpu", progress=False)
    b, _ = train.train_config(_tiny_config(), device="cpu", progress=False)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_pretrained_caches_by_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    config = _tiny_config()
    first = train.pretrained(config, device="cpu")
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and config.key(torch.device("cpu")) in files[0].name
    mtime = files[0].stat().st_mtime_ns
    second = train.pretrained(config, device="cpu")  # a cache hit: nothing is retrained or rewritten
    assert files[0].stat().st_mtime_ns == mtime
    for pa, pb in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(pa, pb)
    train.pretrained(_tiny_config(seed=1), device="cpu")  # another configuration, another file
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_config_key_changes_with_every_field():
    cpu = torch.device("cpu")
    keys = {_tiny_config().key(cpu), _tiny_config(lr=2e-3).key(cpu), _tiny_config(epochs=3).key(cpu),
            _tiny_config(model_kwargs={"hidden": (17,)}).key(cpu), _tiny_config().key(torch.device("cuda"))}
    assert len(keys) == 5


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "x"))
    assert train.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("COMPANION_CACHE_DIR")
    assert "companion-book" in str(train.cache_dir())


def test_device_choice(monkeypatch):
    assert train.choose_device("cpu").type == "cpu"
    monkeypatch.setenv("COMPANION_DEVICE", "cpu")
    assert train.choose_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            train.choose_device("cuda")


def test_bad_arguments_are_rejected():
    splits = data.digits()
    with pytest.raises(ValueError, match="epochs"):
        train.fit(MLP(), splits.loader("train"), epochs=-1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        train.fit(MLP(), splits.loader("train"), scheduler_interval="step")
    with pytest.raises(ValueError, match="optimizer"):
        train.train_config(_tiny_config(optimizer="lbfgs"))
    with pytest.raises(ValueError, match="config must be"):
        train.pretrained("imagenet-vit")
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 64), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="empty"):
        train.evaluate(MLP(), empty)


def test_training_ignores_and_restores_the_callers_thread_count(monkeypatch):
    seen = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: (seen.append(torch.get_num_threads()), real_fit(*a, **k))[1])
    before = torch.get_num_threads()
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model, _ = train.train_config(_tiny_config(model_kwargs={"hidden": (64,)}), device="cpu", progress=False)
        assert torch.get_num_threads() == threads  # restored
        results.append(model.state_dict())
    assert seen == [train.TRAIN_THREADS] * 2
    torch.set_num_threads(before)
    for name in results[0]:
        assert torch.equal(results[0][name], results[1][name]), name


def test_cached_result_computes_once_per_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return [{"accuracy": 0.5, "control": float("nan")}]

    first = train.cached_result("tickets", {"epochs": 3}, compute)
    second = train.cached_result("tickets", {"epochs": 3}, compute)
    assert len(calls) == 1 and first[0]["accuracy"] == second[0]["accuracy"] == 0.5
    assert second[0]["control"] != second[0]["control"]  # NaN survives the round trip
    train.cached_result("tickets", {"epochs": 4}, compute)
    assert len(calls) == 2 and len(list(tmp_path.glob("tickets-*.json"))) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_cached_result_rejects_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="name"):
        train.cached_result("../escape", {}, lambda: 1)
    with pytest.raises(TypeError, match="settings"):
        train.cached_result("ok", [1], lambda: 1)
    with pytest.raises(TypeError, match="JSON"):
        train.cached_result("ok", {}, lambda: object())
    assert not list(tmp_path.glob("*.json"))


def test_finetune_is_adam_with_cosine_decay_to_zero():
    splits = data.digits()
    torch.manual_seed(0)
    model = MLP(hidden=(8,))
    history = train.finetune(model, splits.loader("train", 256), 4, lr=0.01, seed=0, progress=False)
    assert [round(h["lr"], 6) for h in history] == [0.01, round(0.01 * (1 + math.cos(math.pi / 4)) / 2, 6), 0.005,
                                                    round(0.01 * (1 + math.cos(3 * math.pi / 4)) / 2, 6)]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    with pytest.raises(ValueError, match="optimizer"):
        train.finetune(model, splits.loader("train", 256), 1, optimizer="lbfgs")


def test_every_recipe_names_a_registered_data_set_and_model():
    from companion import data as data_module, models as models_module

    for name, recipe in train.RECIPES.items():
        assert recipe.data in data_module.DATASETS, name
        assert recipe.model in models_module.MODELS, name


def test_later_config_fields_leave_old_keys_alone_and_change_the_key_when_set():
    cpu = torch.device("cpu")
    config = _tiny_config()
    import hashlib
    import json
    from dataclasses import asdict

    old_fields = {k: v for k, v in asdict(config).items()
                  if k not in ("schedule", "label_smoothing", "augment", "channels_last")}
    text = json.dumps({**old_fields, "format": train.CACHE_FORMAT, "device": "cpu"}, sort_keys=True)
    assert config.key(cpu) == hashlib.sha256(text.encode()).hexdigest()[:16]  # recipes keep their caches
    keys = {config.key(cpu), _tiny_config(schedule="onecycle").key(cpu), _tiny_config(label_smoothing=0.1).key(cpu),
            _tiny_config(augment="flip").key(cpu), _tiny_config(channels_last=True).key(cpu)}
    assert len(keys) == 5
    with pytest.raises(ValueError, match="augment"):
        train.train_config(_tiny_config(augment="rotate"), device="cpu")
    assert _tiny_config().augmentation() is None
    images = torch.rand(8, 1, 6, 6)
    mirrored = _tiny_config(augment="flip").augmentation(seed=2)(images)
    assert torch.equal(mirrored, train.augment_images(flip=True, seed=2)(images))


def test_augment_images_mirrors_and_shifts_against_a_loop():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5) + 1
    flipped = train.augment_images(flip=True, shift=0, seed=3)(x)
    generator = torch.Generator().manual_seed(3)
    mirrored = torch.rand(2, generator=generator) < 0.5
    for i in range(2):
        assert torch.equal(flipped[i], x[i].flip(-1) if mirrored[i] else x[i])
    shifted = train.augment_images(flip=False, shift=2, seed=4)(x)
    generator = torch.Generator().manual_seed(4)
    offsets = torch.randint(0, 5, (2, 2), generator=generator).tolist()
    for i, (top, left) in enumerate(offsets):
        expected = torch.zeros(1, 5, 5)
        dy, dx = 2 - top, 2 - left  # the image moves down by dy and right by dx
        for r in range(5):
            for c in range(5):
                if 0 <= r - dy < 5 and 0 <= c - dx < 5:
                    expected[0, r, c] = x[i, 0, r - dy, c - dx]
        assert torch.equal(shifted[i], expected)
    with pytest.raises(ValueError, match="shift"):
        train.augment_images(shift=-1)
    with pytest.raises(ValueError, match="batch of images"):
        train.augment_images()(torch.zeros(5, 5))


def test_onecycle_schedule_label_smoothing_and_channels_last_training():
    splits = data.digits(image=True)
    torch.manual_seed(0)
    from companion.models import SmallCNN

    model = SmallCNN()
    loader = splits.loader("train", 128)
    rates = []
    history = train.finetune(model, loader, 3, lr=0.01, optimizer="adamw", schedule="onecycle",
                             label_smoothing=0.1, augment=train.augment_images(seed=0), channels_last=True,
                             seed=0, progress=False,
                             after_step=lambda m, step: rates.append(step))
    assert len(rates) == 3 * len(loader)
    # one cycle: from lr/25 up to lr over the first 20% of the steps, then down
    assert history[0]["lr"] == pytest.approx(0.01 / 25)
    assert history[1]["lr"] > history[2]["lr"] > 0
    assert all(p.is_contiguous() for p in model.parameters())  # handed back in the default layout
    assert train.evaluate(model, splits.loader("test", 512)).accuracy > 0.8
    with pytest.raises(ValueError, match="schedule"):
        train.finetune(model, loader, 1, schedule="step")
    with pytest.raises(ValueError, match="label_smoothing"):
        train.finetune(model, loader, 1, label_smoothing=1.0)
