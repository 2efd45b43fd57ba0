"""companion.text: the from-scratch encoder against transformers' BertModel, tokenization limits, the
vendored data, the int8/4-bit modules against PyTorch's fake-quantize ops, and head/neuron pruning
against gating and finite differences."""
import os

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from companion.quant import packing
from companion.quant.lowbit import quantize_uniform
from companion.text import (EncoderConfig, Int4Linear, Int8Embedding, SentenceEncoder, Tokenizer, cached, embed,
                            gate_importance, load_minilm, lowest_units, mean_pool, model_dir, normalize_per_layer,
                            prune_heads, prune_neurons, quantize_embeddings, quantize_linears_int4,
                            sentiment_sentences)
from companion.text.embed import fingerprint

SENTENCES = ["The mic is great.", "So there is no way for me to plug it in here in the US unless I go by a converter.",
             "Bad.", "Not what I expected, and the service was slow; still, the dessert saved the evening!"]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


def tiny_encoder(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    model = SentenceEncoder(EncoderConfig(vocab_size=50, hidden_size=16, num_layers=2, num_heads=4,
                                          intermediate_size=24, max_positions=12))
    with torch.no_grad():  # break LayerNorm's identity initialisation so every parameter matters
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.to(dtype).eval()


def tiny_batch():
    ids = torch.randint(1, 50, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    return ids, mask


def test_encoder_matches_transformers_bert_model(minilm, tokenizer):
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    transformers = pytest.importorskip("transformers")
    reference = transformers.BertModel.from_pretrained(str(model_dir()), add_pooling_layer=False).eval()
    batch = tokenizer(SENTENCES)
    assert (batch.attention_mask == 0).any(), "the batch must contain padding"
    with torch.no_grad():
        expected = reference(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        got = minilm.token_states(batch.input_ids, batch.attention_mask)
        pooled = minilm(batch.input_ids, batch.attention_mask)
    real = batch.attention_mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(pooled, mean_pool(expected, batch.attention_mask), atol=1e-5, rtol=0)


def test_encoder_matches_pytorch_transformer_encoder_layers(minilm, tokenizer):
    """A second, install-free reference for the layers' arithmetic: torch.nn.TransformerEncoderLayer (post-norm)."""
    config = minilm.config
    batch = tokenizer(SENTENCES)
    embeddings = minilm.embeddings
    positions = torch.arange(batch.input_ids.shape[1])
    x = F.layer_norm(F.embedding(batch.input_ids, embeddings.word.weight) + embeddings.position.weight[positions]
                     + embeddings.token_type.weight[0], (config.hidden_size,), embeddings.norm.weight,
                     embeddings.norm.bias, config.layer_norm_eps)
    padding = batch.attention_mask == 0
    with torch.no_grad():
        for layer in minilm.layers:
            reference = nn.TransformerEncoderLayer(config.hidden_size, config.num_heads, config.intermediate_size,
                                                   dropout=0.0, activation="gelu", layer_norm_eps=config.layer_norm_eps,
                                                   batch_first=True, norm_first=False).eval()
            attention, ffn = layer.attention, layer.ffn
            reference.self_attn.in_proj_weight.copy_(torch.cat([attention.query.weight, attention.key.weight,
                                                                attention.value.weight]))
            reference.self_attn.in_proj_bias.copy_(torch.cat([attention.query.bias, attention.key.bias,
                                                              attention.value.bias]))
            pairs = [(attention.output, reference.self_attn.out_proj), (attention.norm, reference.norm1),
                     (ffn.up, reference.linear1), (ffn.down, reference.linear2), (ffn.norm, reference.norm2)]
            for mine, theirs in pairs:
                theirs.weight.copy_(mine.weight)
                theirs.bias.copy_(mine.bias)
            x = reference(x, src_key_padding_mask=padding)
        got = minilm.token_states(batch.input_ids, batch.attention_mask)
    real = batch.attention_mask.bool()
    torch.testing.assert_close(got[real], x[real], atol=1e-5, rtol=0)


def test_minilm_shape_and_parameter_count(minilm):
    assert minilm.config == EncoderConfig()
    assert sum(p.numel() for p in minilm.parameters()) == 22_565_376  # 22.7 M with the unused pooler
    assert minilm.heads_per_layer() == [12] * 6 and minilm.neurons_per_layer() == [1536] * 6


def test_tokenizer_truncates_long_text_to_the_models_positions(tokenizer, minilm):
    batch = tokenizer([" ".join(["wonderful"] * 2000), "short"])
    assert batch.input_ids.shape == (2, 512)
    assert batch.input_ids[0, 0] == tokenizer.token_id("[CLS]")
    assert batch.input_ids[0, -1] == tokenizer.token_id("[SEP]")
    assert batch.attention_mask[1].sum() == 3
    with torch.no_grad():
        assert minilm(*batch).shape == (2, 384)


def test_bad_input_is_rejected_clearly(tokenizer, minilm):
    with pytest.raises(ValueError, match="empty"):
        tokenizer([])
    with pytest.raises(ValueError, match="empty"):
        embed(minilm, tokenizer, [])
    with pytest.raises(TypeError, match="list of strings"):
        tokenizer("one string")
    with pytest.raises(TypeError, match="strings"):
        tokenizer(["fine", 3])
    with pytest.raises(ValueError, match="max_length"):
        Tokenizer(max_length=513)
    with pytest.raises(ValueError, match="vocabulary"):
        tokenizer.token_id("[NOT-A-TOKEN]")
    with pytest.raises(ValueError, match="513 positions but the model has only 512"):
        minilm(torch.ones(1, 513, dtype=torch.int64))
    with pytest.raises(ValueError, match="batch"):
        minilm(torch.ones(0, 5, dtype=torch.int64))
    with pytest.raises(TypeError, match="integer"):
        minilm(torch.ones(1, 5))


def test_embed_does_not_depend_on_batching_or_order(minilm, tokenizer):
    one_by_one = torch.cat([embed(minilm, tokenizer, [s], batch_size=1) for s in SENTENCES])
    together = embed(minilm, tokenizer, SENTENCES, batch_size=3)
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="batch_size"):
        embed(minilm, tokenizer, SENTENCES, batch_size=0)


def test_cached_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.arange(3)}

    first = cached("unit", {"a": 1}, compute)
    second = cached("unit", {"a": 1}, compute)
    cached("unit", {"a": 2}, compute)
    assert torch.equal(first["x"], second["x"]) and len(calls) == 2


def test_fingerprint_follows_the_weights():
    model = tiny_encoder()
    assert fingerprint(model) == fingerprint(tiny_encoder())
    assert fingerprint(model) != fingerprint(tiny_encoder(seed=1))


def test_sentiment_sentences_split():
    splits = sentiment_sentences()
    texts = splits.train_texts + splits.test_texts
    assert len(texts) == 3000 - 17 and len(set(texts)) == len(texts)
    assert splits.dropped_unlabelled == 3 and splits.dropped_duplicates == 17
    assert len(splits.test_texts) == round(0.2 * len(texts))
    assert set(splits.train_labels.tolist()) == {0, 1} and all(t.strip() for t in texts)
    assert sentiment_sentences().test_texts == splits.test_texts
    assert sentiment_sentences(seed=1).test_texts != splits.test_texts
    with pytest.raises(ValueError, match="test_fraction"):
        sentiment_sentences(test_fraction=1.0)


def test_int8_embedding_matches_pytorch_fake_quantize():
    torch.manual_seed(0)
    table = torch.randn(20, 8) * torch.rand(20, 1) * 3
    quantized = Int8Embedding.from_float(nn.Embedding.from_pretrained(table))
    expected_table = torch.fake_quantize_per_channel_affine(table, quantized.scale, torch.zeros(20, dtype=torch.int32),
                                                            0, -128, 127)
    ids = torch.tensor([[0, 5, 19], [3, 3, 7]])
    torch.testing.assert_close(quantized(ids), expected_table[ids], atol=1e-6, rtol=0)
    torch.testing.assert_close(quantized.scale, table.abs().amax(dim=1) / 127.5)
    assert quantized.weight_int8.dtype == torch.int8
    with pytest.raises(TypeError, match="nn.Embedding"):
        Int8Embedding.from_float(nn.Linear(2, 2))


@pytest.mark.parametrize("in_features, group_size", [(64, 32), (40, 16), (40, 32)])
def test_int4_linear_matches_group_fake_quantize_and_packing(in_features, group_size):
    torch.manual_seed(0)
    linear = nn.Linear(in_features, 6)
    quantized = Int4Linear.from_float(linear, group_size)
    record = quantize_uniform(linear.weight.detach(), 4, granularity="group", group_size=group_size)
    padded = F.pad(linear.weight.detach(), (0, -in_features % group_size)).reshape(-1, group_size)
    groups = record.scale.numel()
    oracle = torch.fake_quantize_per_channel_affine(padded, record.scale.reshape(groups),
                                                    record.zero_point.reshape(groups).to(torch.int32), 0, 0, 15)
    oracle = oracle.reshape(6, -1)[:, :in_features]
    torch.testing.assert_close(quantized.dequantized_weight(), oracle, atol=1e-6, rtol=0)
    x = torch.randn(2, 3, in_features)
    torch.testing.assert_close(quantized(x), F.linear(x, oracle, linear.bias.detach()), atol=1e-5, rtol=0)
    codes = F.pad(record.codes, (0, -in_features % group_size))
    assert torch.equal(quantized.packed.reshape(-1), packing.pack(codes, 4))
    assert quantized.packed.numel() == 6 * (in_features + (-in_features % group_size)) // 2


def test_quantizers_copy_and_reject_bad_arguments():
    model = tiny_encoder()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_linears_int4(quantize_embeddings(model), group_size=8)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(type(m) in (nn.Linear, nn.Embedding) for m in q.modules())
    ids, mask = tiny_batch()
    with torch.no_grad():
        assert F.cosine_similarity(q(ids, mask), model(ids, mask)).min() > 0.9
    with pytest.raises(ValueError, match="group_size"):
        quantize_linears_int4(model, group_size=3)
    with pytest.raises(ValueError, match="no nn.Embedding"):
        quantize_embeddings(nn.Linear(2, 2))


def test_removing_heads_equals_gating_them_off():
    model = tiny_encoder()
    ids, mask = tiny_batch()
    plan = {0: [1, 3], 1: [0, 1, 2, 3]}  # layer 1 loses every head
    gate = torch.ones(2, 4)
    gate[0, [1, 3]] = 0
    gate[1, :] = 0
    pruned = prune_heads(model, plan)
    assert pruned.heads_per_layer() == [2, 0] and model.heads_per_layer() == [4, 4]
    assert pruned.layers[0].attention.query.weight.shape == (8, 16)
    with torch.no_grad():
        torch.testing.assert_close(pruned(ids, mask), model(ids, mask, head_mask=gate), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="head indices"):
        prune_heads(model, {0: [4]})
    with pytest.raises(ValueError, match="layer indices"):
        prune_heads(model, {2: [0]})
    with pytest.raises(TypeError, match="SentenceEncoder"):
        prune_heads(nn.Linear(2, 2), {})


def test_removing_neurons_equals_gating_them_off():
    model = tiny_encoder()
    ids, mask = tiny_batch()
    gate = torch.ones(2, 24)
    gate[0, [0, 5, 23]] = 0
    gate[1, 10:20] = 0
    pruned = prune_neurons(model, {0: [0, 5, 23], 1: list(range(10, 20))})
    assert pruned.neurons_per_layer() == [21, 14]
    with torch.no_grad():
        torch.testing.assert_close(pruned(ids, mask), model(ids, mask, neuron_mask=gate), atol=1e-5, rtol=0)


def test_gate_importance_matches_finite_differences():
    model = tiny_encoder(dtype=torch.float64)
    classifier = nn.Linear(16, 2).double()
    ids, mask = tiny_batch()
    labels = torch.tensor([0, 1, 1])
    batches = [(ids[:2], mask[:2], labels[:2]), (ids[2:], mask[2:], labels[2:])]
    scores = gate_importance(model, classifier, batches)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())

    def loss(gate_name, layer, unit, value, sentence):
        gates = {"heads": torch.ones(2, 4, dtype=torch.float64), "neurons": torch.ones(2, 24, dtype=torch.float64)}
        gates[gate_name][layer, unit] = value
        with torch.no_grad():
            logits = classifier(model(ids[sentence:sentence + 1], mask[sentence:sentence + 1], gates["heads"],
                                      gates["neurons"]))
            return float(F.cross_entropy(logits, labels[sentence:sentence + 1]))

    step = 1e-6
    for gate_name, layer, unit in [("heads", 0, 2), ("heads", 1, 3), ("neurons", 0, 7), ("neurons", 1, 20)]:
        per_sentence = [abs(loss(gate_name, layer, unit, 1 + step, x) - loss(gate_name, layer, unit, 1 - step, x))
                        / (2 * step) for x in range(3)]  # E_x |∂L(x)/∂ξ|: magnitudes per sentence, then the mean
        assert float(scores[gate_name][layer, unit]) == pytest.approx(sum(per_sentence) / 3, rel=1e-6, abs=1e-9)
    with pytest.raises(ValueError, match="empty"):
        gate_importance(model, classifier, [])
    with pytest.raises(ValueError, match="same width"):
        gate_importance(prune_heads(model, {0: [0]}), classifier, batches)


def test_lowest_units_and_normalization():
    scores = torch.tensor([[1.0, 3.0, 2.0], [30.0, 10.0, 20.0]])
    normalized = normalize_per_layer(scores)
    torch.testing.assert_close(normalized[0], normalized[1] * torch.tensor([1 / 3, 3.0, 1.0]))
    assert lowest_units(scores, 2) == {0: [0, 2]}
    assert lowest_units(normalized, 2) == {0: [0], 1: [1]}
    assert lowest_units(torch.zeros(2, 2), 3) == {0: [0, 1], 1: [0]}
    with pytest.raises(ValueError, match="count"):
        lowest_units(scores, 7)
    with pytest.raises(ValueError, match="shape"):
        normalize_per_layer(torch.ones(3))


def test_int8_encoders_keep_the_embeddings(minilm, tokenizer):
    from companion.quant import quantize_dynamic
    from companion.quant.baselines import torchao_quantize

    batch = tokenizer(SENTENCES)
    with torch.no_grad():
        reference = minilm(*batch)
        for variant in (quantize_embeddings(quantize_dynamic(minilm)), torchao_quantize(minilm)):
            assert F.cosine_similarity(variant(*batch), reference).min() > 0.95
