"""Knowledge distillation: the loss against PyTorch's kl_div and a brute-force sum, and the training loop."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from companion.distill import distill, distillation_loss, soft_kl


def logits(seed, shape=(6, 5), scale=3.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_soft_kl_matches_torch_kl_div_with_log_target(temperature):
    student, teacher = logits(0), logits(1)
    expected = F.kl_div(F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
                        reduction="batchmean", log_target=True)
    torch.testing.assert_close(soft_kl(student, teacher, temperature), expected)


def test_soft_kl_matches_a_brute_force_sum():
    student, teacher, temperature = logits(2, (3, 4)), logits(3, (3, 4)), 2.5
    total = 0.0
    for b in range(3):
        z_t = [math.exp(v / temperature) for v in teacher[b].tolist()]
        z_s = [math.exp(v / temperature) for v in student[b].tolist()]
        p = [v / sum(z_t) for v in z_t]
        q = [v / sum(z_s) for v in z_s]
        total += sum(pc * math.log(pc / qc) for pc, qc in zip(p, q))
    assert soft_kl(student, teacher, temperature).item() == pytest.approx(total / 3, rel=1e-5)


def test_soft_kl_is_zero_for_equal_logits_and_positive_otherwise():
    z = logits(4)
    assert soft_kl(z, z.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-7)
    assert soft_kl(z + 5.0, z, 3.0).item() == pytest.approx(0.0, abs=1e-6)   # softmax ignores a shift
    assert soft_kl(logits(5), z, 3.0).item() > 0


def test_distillation_loss_mixes_cross_entropy_and_scaled_kl():
    student, teacher = logits(6), logits(7)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    for alpha, temperature in [(0.0, 4.0), (1.0, 4.0), (0.3, 2.0)]:
        expected = ((1 - alpha) * F.cross_entropy(student, labels)
                    + alpha * temperature ** 2 * F.kl_div(F.log_softmax(student / temperature, 1),
                                                          F.log_softmax(teacher / temperature, 1),
                                                          reduction="batchmean", log_target=True))
        torch.testing.assert_close(distillation_loss(student, teacher, labels, temperature, alpha), expected)


def test_the_soft_gradient_is_q_minus_p_over_t_and_tends_to_the_logit_difference():
    """∂KL_T/∂z_s = (q_s − p_t)/(T·B); with zero-mean logits and large T, T²·∂KL_T/∂z_s → (z_s − z_t)/(C·B)
    (Hinton et al. 2015, section 2.1): distillation then matches logits."""
    student, teacher = logits(8, (4, 5), 1.0), logits(9, (4, 5), 1.0)
    student, teacher = student - student.mean(1, keepdim=True), teacher - teacher.mean(1, keepdim=True)
    for temperature in (1.0, 3.0):
        z = student.clone().requires_grad_()
        soft_kl(z, teacher, temperature).backward()
        expected = (F.softmax(student / temperature, 1) - F.softmax(teacher / temperature, 1)) / (temperature * 4)
        torch.testing.assert_close(z.grad, expected)
    z = student.clone().requires_grad_()
    (1000.0 ** 2 * soft_kl(z, teacher, 1000.0)).backward()
    torch.testing.assert_close(z.grad, (student - teacher) / (5 * 4), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("bad, match", [
    (dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(alpha=1.5), "alpha"), (dict(alpha=-0.1), "alpha"),
])
def test_bad_settings_are_rejected(bad, match):
    settings = {"temperature": 4.0, "alpha": 0.5, **bad}
    with pytest.raises(ValueError, match=match):
        distillation_loss(logits(0), logits(1), torch.zeros(6, dtype=torch.long), **settings)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="same shape"):
        soft_kl(logits(0, (6, 5)), logits(1, (6, 4)), 2.0)
    with pytest.raises(TypeError, match="student_logits"):
        soft_kl(logits(0, (30,)), logits(1, (30,)), 2.0)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(logits(0), logits(1), torch.zeros(5, dtype=torch.long))


def toy_problem():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    teacher = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    torch.manual_seed(1)
    with torch.no_grad():   # a fixed, non-trivial teacher
        for p in teacher.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    return x, y, teacher


def test_distill_with_alpha_one_moves_the_student_towards_the_teacher():
    x, y, teacher = toy_problem()
    torch.manual_seed(2)
    student = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    teacher_before = copy.deepcopy(teacher.state_dict())
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = soft_kl(student(x), teacher(x), 2.0).item()
    history = distill(student, teacher, loader, 20, temperature=2.0, alpha=1.0, lr=1e-2, seed=0, device="cpu")
    with torch.no_grad():
        after = soft_kl(student(x), teacher(x), 2.0).item()
    assert after < 0.2 * before
    assert len(history) == 20 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in teacher_before.items())   # frozen
    assert not student.training


def test_distill_with_alpha_zero_is_plain_training_and_seeded():
    x, y, teacher = toy_problem()
    runs = []
    for teacher_scale in (1.0, 50.0):   # α = 0: the teacher's outputs must not matter
        changed = copy.deepcopy(teacher)
        with torch.no_grad():
            changed[2].weight.mul_(teacher_scale)
        torch.manual_seed(3)
        student = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
        distill(student, changed, loader, 3, alpha=0.0, seed=0, device="cpu")
        runs.append(student.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_distill_rejects_the_teacher_as_its_own_student_and_bad_epochs():
    _, _, teacher = toy_problem()
    with pytest.raises(ValueError, match="different modules"):
        distill(teacher, teacher, [], 1)
    with pytest.raises(ValueError, match="epochs"):
        distill(copy.deepcopy(teacher), teacher, [], -1)
