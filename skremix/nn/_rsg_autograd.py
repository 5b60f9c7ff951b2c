"""RSG's loss terms as hand-written autograd nodes (the fast path).

On a small network RSG's step is many small operations, so the CESC center
term (:class:`_CenterTerm`) and, on vector features, generation with
``L_MV`` (:class:`_FlatGeneration`) are each one autograd node with the
backward written out. Their values are those of the reference forms in
``_rsg_maths.py`` (:func:`~skremix.nn.center_distances`,
:func:`~skremix.nn.mv_direction_loss`, :func:`~skremix.nn.mv_length_loss`)
to float rounding, which ``tests/nn/test_rsg_module.py`` checks, gradients
included. Private: used by :class:`skremix.nn.RSG` only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from skremix.nn._rsg_maths import _EPS


def _centre_tap(weight: torch.Tensor) -> torch.Tensor:
    """The (out, in) matrix of a convolution kernel's centre tap: a view of
    a 1x1 kernel (one op, and a view in the backward too)."""
    if weight.shape[2] == 1 and weight.shape[3] == 1:
        return weight.flatten(1)
    return weight[:, :, weight.shape[2] // 2, weight.shape[3] // 2]


def _conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """Stride-1 convolution padded to keep the size. On 1x1 maps (vector
    features) only the kernel's centre tap ever meets the input, so the same
    function is a matrix product: much cheaper than a convolution call.
    Vectors ``(n, D)`` are taken as 1x1 maps and stay vectors."""
    if x.ndim == 2:
        return F.linear(x, _centre_tap(weight), bias)
    if x.shape[2] == 1 and x.shape[3] == 1:
        out = F.linear(x[:, :, 0, 0], _centre_tap(weight), bias)
        return out[:, :, None, None]
    return F.conv2d(
        x, weight, bias, padding=(weight.shape[2] // 2, weight.shape[3] // 2)
    )


def _no_autocast(device_type: str):
    """A context without autocast when autocast is on (else None): the fused
    CESC center term runs in float32 under ``precision='bf16'``, forward and
    backward alike."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return None


class _CenterTerm(torch.autograd.Function):
    """The CESC center term with its gradient in one autograd node.

    ``mean_n sum_k gamma_nk d_nk``, with ``gamma`` the soft assignment
    (:meth:`RSG.assignment`) and ``d`` the squared distances to the own
    class's centers (:func:`center_distances`): the same function as those
    two compose, with the backward written out. Composed, autograd records
    dozens of small operations and backward nodes for this term, whose
    fixed costs dominate RSG's step on a small network.

    Each sample needs its products with the K centers and K assignment
    weights of its own class. ``grouped`` (the CPU) computes only those: the
    samples are laid out by class (zero-padded to the largest class of the
    batch) and multiplied with their class's table in one batched product.
    Otherwise (CUDA, where the layout's size would be read back to the host
    at every step) one matrix product with every class's table, then a
    gather of the own class: C times the arithmetic, no synchronisation.

    Inputs: detached features (``pooled`` (n, D), ``sq`` (n,) the sum of
    squares of each sample's map), ``y``, ``n_pos`` (positions per map),
    ``want_nearest``, ``grouped``, then the parameters ``centers``,
    ``weight`` (C, K, D) and ``bias`` (C, K). Returns the loss and, when
    ``want_nearest``, the flat index ``y * K + argmax(gamma)`` of each
    sample's nearest center (else None).
    """

    @staticmethod
    def forward(
        ctx, pooled, sq, y, n_pos, want_nearest, grouped, centers, weight, bias
    ):
        n = pooled.shape[0]
        n_classes, n_centers, dim = centers.shape
        width = 2 * n_centers
        table = torch.cat([centers, weight], dim=1)  # (C, 2K, D)
        if grouped:
            m, slot = _class_layout(y, n_classes)
            layout = pooled.new_zeros(n_classes * m, dim).index_copy_(0, slot, pooled)
            layout = layout.view(n_classes, m, dim)
            own = torch.bmm(layout, table.transpose(1, 2)).view(-1, width)
            own = own.index_select(0, slot)
            ctx.save_for_backward(layout, slot, centers)
        else:
            idx = y.view(n, 1, 1).expand(n, 1, width)
            every = torch.mm(pooled, table.view(-1, dim).T).view(n, n_classes, width)
            own = every.gather(1, idx).view(n, width)
            # Vector features are passed as they are: a copy is kept, as the
            # network may change them in place after the hook.
            ctx.save_for_backward(
                pooled.clone() if n_pos == 1 else pooled, idx, centers
            )
        logits = own[:, n_centers:] + bias.index_select(0, y)
        # softmax written out: torch's kernel is slower on rows of 15
        # (the default K), a width its vector path does not take.
        gamma = (logits - logits.amax(dim=1, keepdim=True)).exp_()
        gamma = gamma.div_(gamma.sum(dim=1, keepdim=True))
        # sq + n_pos (|c|^2 - 2 cross), as center_distances computes it (the
        # same roundings: -2 cross is exact, the additions commute).
        norms = centers.pow(2).sum(dim=-1).index_select(0, y)
        pre = torch.add(norms, own[:, :n_centers], alpha=-2.0)
        if n_pos != 1:
            pre = pre.mul_(n_pos)
        pre = pre.add_(sq[:, None])
        dist = pre.clamp_min(0.0)
        per_sample = (gamma * dist).sum(dim=1)
        ctx.extra = (gamma, dist, pre, per_sample, n_pos, grouped)
        loss = per_sample.mean()
        if not want_nearest:
            return loss, None
        nearest = y * n_centers + gamma.argmax(dim=1)
        ctx.mark_non_differentiable(nearest)
        return loss, nearest

    @staticmethod
    def backward(ctx, grad, _grad_nearest):
        context = _no_autocast(grad.device.type)
        if context is None:
            return _CenterTerm._backward(ctx, grad)
        with context:
            return _CenterTerm._backward(ctx, grad)

    @staticmethod
    def _backward(ctx, grad):
        gamma, dist, pre, per_sample, n_pos, grouped = ctx.extra
        first, second, centers = ctx.saved_tensors
        n = len(gamma)
        n_classes, n_centers, dim = centers.shape
        width = 2 * n_centers
        g = gamma * (grad / n)  # d loss / d dist
        g_dist = g * (pre >= 0.0)  # through clamp_min
        g_logit = g * (dist - per_sample[:, None])  # through the softmax
        # Gradients of each sample's own-class products: d/d cross is
        # -2 n_pos g_dist, d/d logits is g_logit.
        own = torch.cat([g_dist * (-2.0 * n_pos), g_logit], dim=1)
        if grouped:
            layout, slot = first, second
            m = layout.shape[1]
            slots = own.new_zeros(n_classes * m, width).index_copy_(0, slot, own)
            slots = slots.view(n_classes, m, width)
            g_table = torch.bmm(slots.transpose(1, 2), layout)  # (C, 2K, D)
            totals = slots.sum(dim=1)  # (C, 2K)
        else:
            pooled, idx = first, second
            slots = own.new_zeros(n, n_classes, width).scatter_(1, idx, own[:, None])
            g_table = torch.mm(slots.view(n, -1).T, pooled).view(n_classes, width, dim)
            totals = slots.sum(dim=0)
        # The norms term n_pos |c|^2 adds 2 n_pos c sum(g_dist) = -c totals.
        g_centers = torch.addcmul(
            g_table[:, :n_centers], centers, totals[:, :n_centers, None], value=-1.0
        )
        g_weight, g_bias = g_table[:, n_centers:], totals[:, n_centers:]
        return None, None, None, None, None, None, g_centers, g_weight, g_bias


def _class_layout(y: torch.Tensor, n_classes: int) -> tuple[int, torch.Tensor]:
    """The largest class count ``m`` of a CPU batch and the row of each
    sample in a (C, m) layout by class: ``y * m`` plus its rank in its class
    (in batch order). Integer work on a few hundred labels: numpy's calls
    cost a fraction of torch's."""
    labels = y.numpy()
    counts = np.bincount(labels, minlength=n_classes)
    m = int(counts.max())
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
    return m, torch.from_numpy(labels * m + rank)


def _mv_terms(
    transformed: torch.Tensor,
    rare_displacement: torch.Tensor,
    frequent_displacement: torch.Tensor,
) -> torch.Tensor:
    """``mv_direction_loss(t, r) + mv_length_loss(t, v)`` with one norm of
    ``t`` for both (cosines computed as :func:`torch.nn.functional.cosine_similarity`
    does); vectors ``(n, D)`` are 1x1 maps. Per new sample, shape (n,)."""
    t, r, v = transformed, rare_displacement, frequent_displacement
    norm_t = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    norm_r = torch.linalg.vector_norm(r, dim=1, keepdim=True)
    cos = ((t / norm_t.clamp_min(_EPS)) * (r / norm_r.clamp_min(_EPS))).sum(dim=1)
    length = norm_t.squeeze(1) - torch.linalg.vector_norm(v, dim=1)
    terms = (cos - 1.0).abs() + length.abs()
    return terms if terms.ndim == 1 else terms.sum(dim=(1, 2))


def _tap_grad(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The gradient of a convolution weight from that of its centre tap
    (:func:`_centre_tap`): the other taps never meet a 1x1 map."""
    if weight.shape[2] == 1 and weight.shape[3] == 1:
        return grad.view(weight.shape)
    full = grad.new_zeros(weight.shape)
    full[:, :, weight.shape[2] // 2, weight.shape[3] // 2] = grad
    return full


class _FlatGeneration(torch.autograd.Function):
    """Generation (Eq. 4) and ``L_MV`` (Eq. 6) on vector features, in one
    autograd node with its backward written out.

    Inputs: ``picked`` (2 s, D), the s frequent partners then the s rare
    samples (gradient: the new samples' classification gradient), ``near``
    (2 s, D) their nearest centers (detached), the weight of ``T``, then the
    contrastive module's six parameters (frozen: no gradient). Returns the s
    new samples ``T v + x_rare`` (``v = x_freq - near``) and ``L_MV``, whose
    gradient reaches ``T`` only. The same values as the module's map path
    (:func:`mv_direction_loss`, :func:`mv_length_loss`, the frozen
    contrastive module); ``T v`` is computed once for both.
    """

    @staticmethod
    def forward(ctx, picked, near, t_w, conv1_w, b1, conv2_w, b2, wl, bl):
        n_new = picked.shape[0] // 2
        disp = picked - near
        v, r = disp[:n_new], disp[n_new:]
        t = torch.mm(v, _centre_tap(t_w).T)
        new = t + picked[n_new:]
        w1, w2 = _centre_tap(conv1_w), _centre_tap(conv2_w)
        z = torch.cat([t, picked[:n_new]], dim=1)
        h1 = torch.addmm(b1, z, w1.T).relu_()
        log_p = torch.log_softmax(
            torch.addmm(bl, torch.addmm(b2, h1, w2.T), wl.T), dim=1
        )
        norm_t = torch.linalg.vector_norm(t, dim=1, keepdim=True)
        t_len = norm_t.clamp_min(_EPS)
        r_unit = r / torch.linalg.vector_norm(r, dim=1, keepdim=True).clamp_min(_EPS)
        cos = ((t / t_len) * r_unit).sum(dim=1)
        length = norm_t.squeeze(1) - torch.linalg.vector_norm(v, dim=1)
        mv = ((cos - 1.0).abs() + length.abs() - log_p[:, 1]).mean()
        ctx.save_for_backward(t_w, conv1_w, conv2_w, wl)
        ctx.extra = (v, t, h1, log_p, norm_t, t_len, r_unit, cos, length)
        return new, mv

    @staticmethod
    def backward(ctx, g_new, g_mv):
        t_w, conv1_w, conv2_w, wl = ctx.saved_tensors
        v, t, h1, log_p, norm_t, t_len, r_unit, cos, length = ctx.extra
        n_new, dim = t.shape
        w_t = _centre_tap(t_w)
        scale = g_mv / n_new
        # -log p[1] of the frozen contrastive module: (softmax - e_1) on its
        # logits, back through it to t (the first D inputs of its layer 1).
        d_logits = log_p.exp()
        d_logits[:, 1] -= 1.0
        d_logits.mul_(scale)
        d_h2 = d_logits @ wl
        d_h1 = torch.ops.aten.threshold_backward(d_h2 @ _centre_tap(conv2_w), h1, 0.0)
        d_t = d_h1 @ _centre_tap(conv1_w)[:, :dim]
        # |cos - 1| and | |t| - |v| |; u = t / |t| is the gradient of |t|.
        unit = torch.where(norm_t > 0.0, t / norm_t, 0.0)
        d_cos = (r_unit - (cos[:, None] * (norm_t >= _EPS)) * unit) / t_len
        geometric = torch.sign(cos - 1.0)[:, None] * d_cos
        d_t = d_t.addcmul_(geometric.addcmul_(torch.sign(length)[:, None], unit), scale)
        d_picked = torch.cat([g_new @ w_t, g_new])  # v's rows, the rare rows
        g_t_w = _tap_grad((d_t.add_(g_new)).T @ v, t_w)
        return (d_picked, None, g_t_w) + (None,) * 6


def _float32(function, *args):
    """``function.apply(*args)``, in float32 with autocast off when autocast
    is on (``precision='bf16'``): the written-out backward passes need one
    dtype throughout."""
    context = _no_autocast(args[0].device.type)
    if context is None:
        return function.apply(*args)
    with context:
        return function.apply(
            *(
                a.float()
                if isinstance(a, torch.Tensor) and a.is_floating_point()
                else a
                for a in args
            )
        )
