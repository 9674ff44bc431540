"""Stacked members: many runs of one shape trained at once, as one ensemble on one device.

A loss comparison is many small models. Trained one after another they leave the device
idle between tiny kernels; stacked on a leading *member* axis (one batched matmul per
layer for all members, one elementwise optimiser update over all their parameters) they
keep it busy. :class:`Stacked` is what :func:`harness.training.loop.fit` trains then.

Each member's mathematics is its own, exactly as it would be alone: its own data, its
model initialised from its own seed (the same ``nn.Module`` a run alone builds, then
stacked), its own shuffle order, its own loss (members may differ in loss and loss
parameters), learning rate, weight decay and momentum, and its own optimiser state.
Members never mix: the stacked objective is the *sum* of the members' mean losses, so
each member's gradient is that of its own loss. What differs from a run alone is only
floating-point summation order (batched matmuls), so metrics agree to float tolerance
(``tests/test_vectorized.py``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

MAX_MEMBERS = 1024  # per stacked training, whatever the memory
# models a stack can run, by config _target_: linear layers run as batched matmuls
# (layer_plan), other modules through vmap of their own forward
MODELS = ("harness.models.MLP", "harness.models.Linear", "harness.models.CNN1D",
          "harness.models.GRU")
# optimisers a stack can run, by config _target_ (their update rules are written below)
OPTIMIZERS = {"torch.optim.Adam": "adam", "torch.optim.AdamW": "adamw",
              "torch.optim.SGD": "sgd"}


# ---------------------------------------------------------------- memory
def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2 ** 30


def member_bytes(model: torch.nn.Module, data, device: torch.device, batch_size: int) -> int:
    """A generous estimate of one member's memory while training: parameters with their
    gradients, optimiser state and update temporaries, activations of one mini-batch
    (forward and backward), and its targets."""
    n_params = sum(p.numel() for p in model.parameters())
    widths: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: widths.append(out[0].numel()))
             for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(data.X["train"][:1].to(device))
    for h in hooks:
        h.remove()
    rows = sum(len(y) for y in data.y.values()) + len(data.y_train_clean)
    return 4 * (6 * n_params + 3 * batch_size * (sum(widths) + data.n_features)) + 8 * rows


def max_members(model: torch.nn.Module, data, device: torch.device, batch_size: int,
                limit: int | None = None) -> int:
    """Members per stacked training: ``limit`` if given, else as many as fit in half the
    device's available memory (at most :data:`MAX_MEMBERS`)."""
    if limit is not None:
        return max(1, int(limit))
    each = max(1, member_bytes(model, data, device, batch_size))
    return int(min(MAX_MEMBERS, max(1, _available_bytes(device) // 2 // each)))


def chunks(items: Sequence, size: int) -> list[list]:
    """``items`` in ceil(len / size) chunks of near-equal length."""
    n = max(1, math.ceil(len(items) / size))
    bounds = [round(i * len(items) / n) for i in range(n + 1)]
    return [list(items[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


# ---------------------------------------------------------------- optimiser
def _per_member(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([float(v) for v in values], device=like.device, dtype=like.dtype)


class StackedOptimizer:
    """Adam, AdamW or SGD (torch's update rules, defaults as torch's) over stacked
    parameters ``[K, ...]``, with a learning rate, weight decay and momentum per member.
    ``settings`` are the members' optimiser config nodes (without ``_target_``)."""

    def __init__(self, kind: str, params: list[torch.Tensor], settings: list[dict]):
        self.kind, self.params, self.step_count = kind, params, 0
        first = settings[0]
        self.hyper = {k: _per_member([c.get(k, 0.0) for c in settings], params[0])
                      for k in ("lr", "weight_decay", "momentum")}
        if kind in ("adam", "adamw"):
            self.beta1, self.beta2 = (float(b) for b in first.get("betas", (0.9, 0.999)))
            self.eps = float(first.get("eps", 1e-8))
            self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        else:
            self.nesterov = bool(first.get("nesterov", False))
            self.state = [None for _ in params]

    def _view(self, name: str, p: torch.Tensor) -> torch.Tensor:
        return self.hyper[name].view(-1, *([1] * (p.dim() - 1)))

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        t = self.step_count
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            lr, wd = self._view("lr", p), self._view("weight_decay", p)
            if self.kind == "sgd":
                g = g + wd * p
                buf = self.state[i]
                buf = g.clone() if buf is None else buf.mul_(self._view("momentum", p)).add_(g)
                self.state[i] = buf
                g = g + self._view("momentum", p) * buf if self.nesterov else buf
                p.sub_(lr * g)
                continue
            if self.kind == "adamw":
                p.mul_(1 - lr * wd)
            else:
                g = g + wd * p
            m, v = self.state[i]
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / math.sqrt(1 - self.beta2 ** t)).add_(self.eps)
            p.sub_((lr / (1 - self.beta1 ** t)) * m / denom)

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every member but ``rows`` from the optimiser's state."""
        self.hyper = {k: v[rows] for k, v in self.hyper.items()}
        self.state = [None if s is None else
                      (tuple(x[rows] for x in s) if isinstance(s, tuple) else s[rows])
                      for s in self.state]


# ---------------------------------------------------------------- model
def layer_plan(model: torch.nn.Module) -> list | None:
    """For a stack of linear layers and elementwise activations (``mlp``, ``linear``):
    ``[("linear", weight name, bias name) | ("act", module), ...]``, so the stack runs one
    ``baddbmm`` per layer (measured 20-30% faster than ``vmap`` on CPU); else None."""
    from harness.models import ACTIVATIONS, Head

    if not isinstance(model, Head):
        return None
    body = model.body
    layers = [("", body)] if isinstance(body, torch.nn.Linear) else \
        list(body.named_children()) if isinstance(body, torch.nn.Sequential) else None
    if layers is None:
        return None
    plan: list = []
    for name, layer in layers:
        prefix = f"body.{name}." if name else "body."
        if isinstance(layer, torch.nn.Linear) and layer.bias is not None:
            plan.append(("linear", prefix + "weight", prefix + "bias"))
        elif isinstance(layer, tuple(ACTIVATIONS.values())):
            plan.append(("act", layer))
        else:
            return None
    return plan


class Stack:
    """The members' models as stacked parameters ``[K, ...]``: run as batched matmuls
    for linear/MLP models, with ``vmap`` over the model's own forward otherwise."""

    def __init__(self, models: list[torch.nn.Module], device: torch.device):
        params, buffers = stack_module_state(models)
        self.names = list(params)
        self.params = [params[n].detach().to(device).requires_grad_() for n in self.names]
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        self.plan = layer_plan(models[0])
        self.squeeze = bool(getattr(models[0], "squeeze", False))
        if self.plan is None:  # vmap over the model's own forward, on a weightless copy
            base = copy.deepcopy(models[0]).to("meta")

            def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
                return functional_call(base, (p, b), (x,))

            self._forward = vmap(one)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, self.params, strict=True))
        if self.plan is None:
            return self._forward(named, self.buffers, x)
        for step in self.plan:
            if step[0] == "linear":
                weight, bias = named[step[1]], named[step[2]]
                x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
            else:
                x = step[1](x)
        return x.squeeze(-1) if self.squeeze else x

    def keep(self, rows: torch.Tensor) -> None:
        self.params = [p.detach()[rows].requires_grad_() for p in self.params]
        self.buffers = {k: v[rows] for k, v in self.buffers.items()}


class Objective:
    """Each member's loss, members grouped by loss (``loss.id``) so each distinct loss is
    computed once over its members."""

    def __init__(self, member_losses: list, device: torch.device):
        self.device = device
        self.member_losses = member_losses
        groups: dict[str, list[int]] = {}
        for i, loss in enumerate(member_losses):
            groups.setdefault(loss.id, []).append(i)
        self.groups = [(member_losses[idx[0]], torch.tensor(idx, device=device))
                       for idx in groups.values()]
        self.whole = len(self.groups) == 1

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[K]``: every member's reduced loss."""
        if self.whole:
            return self.groups[0][0].stacked(pred, target)
        out = pred.new_empty(target.shape[0])
        for loss, idx in self.groups:
            out[idx] = loss.stacked(pred[idx], target[idx]).to(out.dtype)
        return out

    def in_target_units(self, pred: torch.Tensor) -> torch.Tensor:
        """Each member's predictions through its loss's inverse link."""
        if all(loss.spec.link == "identity" for loss, _ in self.groups):
            return pred
        out = pred.clone()
        for loss, idx in self.groups:
            if loss.spec.link != "identity":
                out[idx] = loss.inverse_link(pred[idx])
        return out

    def keep(self, rows: torch.Tensor) -> None:
        self.__init__([self.member_losses[i] for i in rows.tolist()], self.device)


class Stacked:
    """K members of one shape (see :func:`harness.jobs.lifecycle.group_key`) for
    :func:`harness.training.loop.fit`: their models stacked, their losses, and one
    :class:`StackedOptimizer` of ``optim_kind`` with each member's ``optim_settings``."""

    def __init__(self, models: list[torch.nn.Module], member_losses: list, optim_kind: str,
                 optim_settings: list[dict], device: torch.device):
        self.stack = Stack(models, device)
        self.objective_of = Objective(member_losses, device)
        self.optimizer = StackedOptimizer(optim_kind, self.stack.params, optim_settings)

    def objective(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.objective_of(self.stack(xb), yb).sum()

    def step(self, total: torch.Tensor) -> None:
        self.optimizer.step(torch.autograd.grad(total, self.stack.params))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.stack(x)

    def losses(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.objective_of(pred, y)

    def in_target_units(self, pred: torch.Tensor) -> torch.Tensor:
        return self.objective_of.in_target_units(pred)

    def weights(self, row: int) -> dict[str, torch.Tensor]:
        named = dict(zip(self.stack.names, self.stack.params, strict=True))
        return {k: v[row].detach().cpu().clone()
                for k, v in {**named, **self.stack.buffers}.items()}

    def keep(self, rows: torch.Tensor) -> None:
        self.stack.keep(rows)
        self.optimizer.params = self.stack.params
        self.optimizer.keep(rows)
        self.objective_of.keep(rows)
