"""The arithmetic of PPO over multi-turn tool-use rollouts: masks, GAE, whitening, the clipped losses, entropy.

A DIVE-v0 rollout is one token sequence in which the policy wrote only some tokens: its turns (tool calls,
the answer, each turn's end-of-turn token). The prompt, each turn's header and the tool results come from the
environment. Every function here takes an `action_mask` (1 where the policy generated the token, 0 elsewhere,
padding included) and gives the other tokens no advantage, no return and no loss. Shapes are `[batch, time]`
over the same positions; see `token_logprobs` for lining log-probabilities up with tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


def segments_to_tokens(segments: Iterable[tuple[Sequence[int], bool]]) -> tuple[list[int], list[int]]:
    """One rollout's token ids and action mask from its pieces in order: `(token_ids, generated)` pairs, where
    `generated` is True for what the policy sampled (use the sampled ids themselves, not a re-tokenization of
    their text) and False for the prompt, turn headers and tool results."""
    ids: list[int] = []
    mask: list[int] = []
    for token_ids, generated in segments:
        ids.extend(int(t) for t in token_ids)
        mask.extend([int(generated)] * len(token_ids))
    return ids, mask


def pad_rollouts(rollouts: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad `(ids, action_mask)` rollouts into `input_ids`, `attention_mask` and `action_mask` tensors."""
    length = max(len(ids) for ids, _ in rollouts)
    input_ids = torch.full((len(rollouts), length), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rollouts), length), dtype=torch.long)
    action = torch.zeros((len(rollouts), length), dtype=torch.long)
    for row, (ids, mask) in enumerate(rollouts):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention[row, : len(ids)] = 1
        action[row, : len(mask)] = torch.as_tensor(mask, dtype=torch.long)
    return input_ids, attention, action


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each token given the tokens before it: `[B, T-1]`, where column t scores
    `input_ids[:, t+1]` from `logits[:, t]`. Use it with `action_mask[:, 1:]` (the first token has no
    prediction and is never an action)."""
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution at each position (natural log): `[..., vocab] -> [...]`."""
    logits = logits.float()
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


def masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of `values` where `mask` is 1."""
    return (values * mask).sum()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` where `mask` is 1 (0 when the mask is empty)."""
    return masked_sum(values, mask) / mask.sum().clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of `values` where `mask` is 1; `unbiased` divides by n - 1."""
    count = mask.sum()
    centred = (values - masked_mean(values, mask)) ** 2
    divisor = count - 1 if unbiased else count
    return masked_sum(centred, mask) / divisor.clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8
                  ) -> torch.Tensor:
    """`values` normalised to unit variance (and zero mean, with `shift_mean`) over the masked positions;
    masked-out positions come back as 0."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
                lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns over the policy's own tokens.

    The tokens the policy did not generate (mask 0: tool results, turn headers, padding) are not time steps:
    GAE runs over the generated tokens as if they were contiguous, so the last token of one turn bootstraps
    from the value of the first token of the next. After the last generated token the episode ends (next
    value 0). Rewards must sit on generated tokens (usually the last one); masked positions get advantage 0
    and return 0.

        delta_t = r_t + gamma * V_next(t) - V_t,    A_t = delta_t + gamma * lam * A_next(t),    R_t = A_t + V_t
    """
    mask = mask.to(values.dtype)
    if bool((rewards * (1 - mask)).abs().sum() > 0):
        raise ValueError("rewards are only valid on generated tokens (mask 1): move each reward onto the last "
                         "token the policy wrote before it")
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])
    next_advantage = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.size(1))):
        generated = mask[:, t].bool()
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = torch.where(generated, advantage, torch.zeros_like(advantage))
        next_value = torch.where(generated, values[:, t], next_value)
        next_advantage = torch.where(generated, advantage, next_advantage)
    returns = (advantages + values) * mask
    return advantages, returns


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_range: float = 0.2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate, averaged over the masked tokens:
    mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps))) with ratio = exp(logprobs - old_logprobs).

    Stats: `clipfrac` (share of tokens where the clipped term was the larger) and `approx_kl`
    (mean of (ratio - 1) - log ratio, never negative).
    """
    mask = mask.to(logprobs.dtype)
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((clipped > unclipped).to(logprobs.dtype), mask),
            "approx_kl": masked_mean((ratio - 1) - log_ratio, mask),
        }
    return loss, stats


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_range: float = 0.2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped value loss: 0.5 * mean(max((V - R)^2, (V_clipped - R)^2)) over the masked tokens, where
    V_clipped = V_old + clip(V - V_old, -eps, eps). Stats: `vf_clipfrac`."""
    mask = mask.to(values.dtype)
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    with torch.no_grad():
        stats = {"vf_clipfrac": masked_mean((clipped_error > unclipped_error).to(values.dtype), mask)}
    return loss, stats


def masked_entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the policy over the masked positions (`logits` `[B, T, vocab]`, `mask` `[B, T]`)."""
    return masked_mean(entropy_from_logits(logits), mask.to(torch.float32))
