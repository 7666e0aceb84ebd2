"""PPO's arithmetic against numbers worked out by hand, on 4-token rollouts whose third token the policy did not
write (a tool result inside the rollout)."""

from __future__ import annotations

import math

import pytest
import torch
from dive.train.ppo import (
    compute_gae,
    entropy_from_logits,
    masked_entropy,
    masked_mean,
    masked_var,
    masked_whiten,
    pad_rollouts,
    policy_loss,
    segments_to_tokens,
    token_logprobs,
    value_loss,
)

MASK = torch.tensor([[1.0, 1.0, 0.0, 1.0]])  # token 2 came from the environment


def close(actual: torch.Tensor, expected: list[float] | float, tol: float = 1e-5) -> bool:
    return torch.allclose(actual, torch.tensor(expected, dtype=actual.dtype), atol=tol)


def test_segments_mask_everything_the_policy_did_not_generate():
    ids, mask = segments_to_tokens([([1, 2, 3], False), ([10, 11], True), ([4, 5], False), ([12], True)])
    assert ids == [1, 2, 3, 10, 11, 4, 5, 12]
    assert mask == [0, 0, 0, 1, 1, 0, 0, 1]
    input_ids, attention, action = pad_rollouts([(ids, mask), ([7, 13], [0, 1])], pad_id=0)
    assert input_ids.tolist() == [[1, 2, 3, 10, 11, 4, 5, 12], [7, 13, 0, 0, 0, 0, 0, 0]]
    assert attention.tolist() == [[1] * 8, [1, 1, 0, 0, 0, 0, 0, 0]]
    assert action.tolist() == [mask, [0, 1, 0, 0, 0, 0, 0, 0]]  # padding is never an action


def test_gae_skips_the_tokens_the_policy_did_not_write():
    # gamma 0.9, lam 0.8; the reward 1 is on the last token; V = 0.5, 0.6, (0.9, ignored), 0.8.
    # t=3: delta = 1 + 0.9*0 - 0.8 = 0.2;                 A3 = 0.2
    # t=2: not generated: A2 = 0, and it passes nothing on
    # t=1: delta = 0 + 0.9*0.8 - 0.6 = 0.12;              A1 = 0.12 + 0.9*0.8*0.2   = 0.264
    # t=0: delta = 0 + 0.9*0.6 - 0.5 = 0.04;              A0 = 0.04 + 0.9*0.8*0.264 = 0.23008
    # returns = A + V on generated tokens: 0.73008, 0.864, 0, 1.0
    rewards = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.9, 0.8]])
    advantages, returns = compute_gae(rewards, values, MASK, gamma=0.9, lam=0.8)
    assert close(advantages, [[0.23008, 0.264, 0.0, 0.2]])
    assert close(returns, [[0.73008, 0.864, 0.0, 1.0]])


def test_gae_with_lambda_one_and_gamma_one_is_the_monte_carlo_return_minus_the_value():
    rewards = torch.tensor([[0.0, 0.5, 0.0, 1.0], [0.0, 2.0, 0.0, 0.0]])
    values = torch.tensor([[0.5, 0.6, 0.9, 0.8], [1.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])  # the second rollout is padded after 2 tokens
    advantages, returns = compute_gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert close(returns, [[1.5, 1.5, 0.0, 1.0], [2.0, 2.0, 0.0, 0.0]])
    assert close(advantages, [[1.0, 0.9, 0.0, 0.2], [1.0, 1.0, 0.0, 0.0]])


def test_a_reward_on_a_token_the_policy_did_not_write_is_refused():
    with pytest.raises(ValueError, match="generated tokens"):
        compute_gae(torch.tensor([[0.0, 0.0, 1.0, 0.0]]), torch.zeros(1, 4), MASK)


def test_whitening_uses_only_the_masked_positions():
    # over 1, 2, 3 (the 100 is masked out): mean 2, unbiased variance ((-1)^2 + 0 + 1^2) / 2 = 1
    values = torch.tensor([[1.0, 2.0, 100.0, 3.0]])
    assert close(masked_mean(values, MASK), 2.0)
    assert close(masked_var(values, MASK), 1.0)
    assert close(masked_var(values, MASK, unbiased=False), 2 / 3)
    assert close(masked_whiten(values, MASK), [[-1.0, 0.0, 0.0, 1.0]])
    assert close(masked_whiten(values, MASK, shift_mean=False), [[1.0, 2.0, 0.0, 3.0]])


def test_the_clipped_policy_loss():
    # eps 0.2. t0: ratio 1.5, A=1:  max(-1.5, -1.2) = -1.2 (clipped)
    #          t1: ratio 0.5, A=-1: max(0.5, 0.8)   = 0.8  (clipped)
    #          t2: masked out (its A=5 must not count)
    #          t3: ratio 1.1, A=2:  max(-2.2, -2.2) = -2.2
    # loss = (-1.2 + 0.8 - 2.2) / 3 = -0.8666667; clipfrac 2/3
    old = torch.tensor([[-1.0, -1.0, -1.0, -1.0]])
    new = old + torch.log(torch.tensor([[1.5, 0.5, 3.0, 1.1]]))
    advantages = torch.tensor([[1.0, -1.0, 5.0, 2.0]])
    loss, stats = policy_loss(new, old, advantages, MASK, clip_range=0.2)
    assert close(loss, -2.6 / 3)
    assert close(stats["clipfrac"], 2 / 3)
    # approx KL: mean of (r - 1) - log r over 1.5, 0.5, 1.1
    expected_kl = sum((r - 1) - math.log(r) for r in (1.5, 0.5, 1.1)) / 3
    assert close(stats["approx_kl"], expected_kl)


def test_the_policy_gradient_flows_only_through_unclipped_generated_tokens():
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[1.5, 0.5, 3.0, 1.1]])).requires_grad_()
    loss, _ = policy_loss(new, old, torch.tensor([[1.0, -1.0, 5.0, 2.0]]), MASK)
    loss.backward()
    # d/dlogp of -A * ratio / 3 = -A * ratio / 3 at t3 only (t0, t1 clipped, t2 masked)
    assert close(new.grad, [[0.0, 0.0, 0.0, -2.2 / 3]])


def test_the_clipped_value_loss():
    # eps 0.2. t0: V=1.0, R=1.0: (0)^2 = 0; clipped V = 0.5 + 0.2 = 0.7: (0.7 - 1)^2 = 0.09 -> 0.09
    #          t1: V=0.4, R=0:   0.16; within the clip -> 0.16
    #          t2: masked out
    #          t3: V=0.6, R=1:   0.16; within the clip -> 0.16
    # loss = 0.5 * (0.09 + 0.16 + 0.16) / 3 = 0.0683333; vf_clipfrac 1/3
    old_values = torch.tensor([[0.5, 0.5, 0.0, 0.5]])
    values = torch.tensor([[1.0, 0.4, 9.0, 0.6]])
    returns = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    loss, stats = value_loss(values, old_values, returns, MASK, clip_range=0.2)
    assert close(loss, 0.5 * 0.41 / 3)
    assert close(stats["vf_clipfrac"], 1 / 3)


def test_entropy_and_token_logprobs():
    # uniform over 2: ln 2; probabilities 1/4, 3/4: -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.5623351
    two_way = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    assert close(entropy_from_logits(two_way), [math.log(2.0), 0.5623351])
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)], [5.0, 5.0]]])  # 3 positions, 2-token vocabulary
    assert close(masked_entropy(logits, torch.tensor([[1, 1, 0]])), (math.log(2.0) + 0.5623351) / 2)
    # column t scores token t+1 from logits t: p(1 | pos 0) = 1/2, p(1 | pos 1) = 3/4
    input_ids = torch.tensor([[0, 1, 1]])
    assert close(token_logprobs(logits, input_ids), [[math.log(0.5), math.log(0.75)]])
