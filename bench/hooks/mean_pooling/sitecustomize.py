"""Loaded at start-up by a Python whose PYTHONPATH holds this folder (bench/mean_pooled_head.py
sets it): BERT's pooler becomes a masked mean over the tokens, what all-MiniLM-L6-v2 was trained
for, so that one `bertft train` measures a mean-pooled head. An experiment, not a bertft option:
a model trained this way is not what plain `transformers` computes when it loads it."""

from transformers.models.bert import modeling_bert

_bert_forward = modeling_bert.BertModel.forward


def _forward(self, input_ids=None, attention_mask=None, *args, **kwargs):
    if self.pooler is not None:  # the pooler sees only the hidden states: hand it the mask
        self.pooler.mask = attention_mask
    return _bert_forward(self, input_ids, attention_mask, *args, **kwargs)


def _mean(self, hidden_states):
    mask = getattr(self, "mask", None)
    if mask is None:
        return hidden_states.mean(1)
    weights = mask.unsqueeze(-1).to(hidden_states.dtype)
    return (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1)


modeling_bert.BertModel.forward = _forward
modeling_bert.BertPooler.forward = _mean
