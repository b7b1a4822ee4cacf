#!/usr/bin/env python3
"""Goldens for mitoscan's WGSL kernels, computed by an independent framework (PyTorch, CPU, float64).

Inputs are drawn as float32 (so both sides see identical values); PyTorch then computes in float64.
Writes goldens/kernels.json: {case: {"params": {...}, "tensors": {name: {"shape": [...], "data": [...]}}}}.
Regenerate with:  /usr/bin/python3 goldens/make_goldens.py   (Debian: apt-get install python3-torch)
The test test/goldens.test.ts runs our kernels on the same inputs and compares.
"""
import json, os
import numpy as np
import torch
import torch.nn.functional as F

rs = np.random.RandomState(20130922)  # MICCAI 2013
cases = {}

def f32(*shape, lo=-1.0, hi=1.0):
    return rs.uniform(lo, hi, size=shape).astype(np.float32)

def T(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)

def pack(**tensors):
    out = {}
    for k, v in tensors.items():
        a = v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        out[k] = {"shape": list(a.shape), "data": [float(x) for x in a.reshape(-1)]}
    return out

ACT = {"none": lambda z: z, "tanh": torch.tanh, "relu": torch.relu}

# conv2d: valid, stride 1, dilation d, fused activation; forward and all three gradients.
for name, (n, cin, h, w, cout, k, d, act) in {
    "conv2d.k3_d1_tanh": (2, 3, 9, 11, 4, 3, 1, "tanh"),
    "conv2d.k2_d2_relu": (3, 2, 10, 7, 5, 2, 2, "relu"),
    "conv2d.k4_d1_none": (1, 5, 8, 8, 3, 4, 1, "none"),
    "conv2d.k3_d4_tanh": (2, 2, 13, 12, 2, 3, 4, "tanh"),
}.items():
    x, wt, b, g = f32(n, cin, h, w), f32(cout, cin, k, k, lo=-0.5, hi=0.5), f32(cout, lo=-0.2, hi=0.2), None
    X, W, B = T(x, True), T(wt, True), T(b, True)
    Y = ACT[act](F.conv2d(X, W, B, dilation=d))
    dy = f32(*Y.shape)
    Y.backward(T(dy))
    cases[name] = {"params": {"dilation": d, "activation": act},
                   "tensors": pack(x=x, w=wt, b=b, y=Y, dy=dy, dx=X.grad, dw=W.grad, db=B.grad)}

# max-pool: k x k window, stride s, dilation d; forward and gradient (random inputs: no ties).
for name, (n, c, h, w, k, s, d) in {
    "maxpool.k2_s2": (2, 3, 10, 8, 2, 2, 1),
    "maxpool.k3_s2_odd": (1, 2, 11, 9, 3, 2, 1),
    "maxpool.k2_s1_d2": (2, 2, 9, 10, 2, 1, 2),
    "maxpool.k2_s1_d4": (1, 3, 12, 11, 2, 1, 4),
}.items():
    x = f32(n, c, h, w)
    X = T(x, True)
    Y = F.max_pool2d(X, k, stride=s, dilation=d)
    dy = f32(*Y.shape)
    Y.backward(T(dy))
    cases[name] = {"params": {"k": k, "stride": s, "dilation": d}, "tensors": pack(x=x, y=Y, dy=dy, dx=X.grad)}

# fully connected: y = act(x W^T + b).
for name, (n, fin, fout, act) in {
    "linear.tanh": (5, 37, 11, "tanh"),
    "linear.relu": (64, 65, 66, "relu"),
    "linear.none": (3, 400, 2, "none"),
}.items():
    x, wt, b = f32(n, fin), f32(fout, fin, lo=-0.3, hi=0.3), f32(fout, lo=-0.1, hi=0.1)
    X, W, B = T(x, True), T(wt, True), T(b, True)
    Y = ACT[act](X @ W.T + B)
    dy = f32(*Y.shape)
    Y.backward(T(dy))
    cases[name] = {"params": {"activation": act}, "tensors": pack(x=x, w=wt, b=b, y=Y, dy=dy, dx=X.grad, dw=W.grad, db=B.grad)}

# softmax + cross-entropy: per-sample loss, probabilities, gradient of the mean loss.
for name, (n, c, scale) in {"softmax_xent.small": (7, 2, 3.0), "softmax_xent.wide": (5, 10, 30.0)}.items():
    z = f32(n, c, lo=-scale, hi=scale)
    labels = rs.randint(0, c, size=n)
    Z = T(z, True)
    loss = F.cross_entropy(Z, torch.tensor(labels), reduction="none")
    loss.mean().backward()
    cases[name] = {"params": {}, "tensors": pack(logits=z, labels=labels.astype(np.float64), probs=F.softmax(Z, 1), loss=loss, grad=Z.grad)}

# optimisers: 3 steps of torch.optim.SGD (momentum, weight decay) and Adagrad on fixed gradients.
w0, grads = f32(50), [f32(50) for _ in range(3)]
for name, make, params in [
    ("sgd", lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=1e-3), {"lr": 0.05, "momentum": 0.9, "weightDecay": 1e-3}),
    ("adagrad", lambda p: torch.optim.Adagrad([p], lr=0.1, eps=1e-10, weight_decay=1e-3), {"lr": 0.1, "eps": 1e-10, "weightDecay": 1e-3}),
]:
    P = T(w0, True)
    opt = make(P)
    for g in grads:
        opt.zero_grad(); P.grad = T(g); opt.step()
    cases["optim." + name] = {"params": params, "tensors": pack(w0=w0, g0=grads[0], g1=grads[1], g2=grads[2], w3=P)}

# reductions over rows.
x = f32(6, 129)
X = T(x)
cases["reduce.rows"] = {"params": {}, "tensors": pack(x=x, sum=X.sum(1), max=X.max(1).values, argmax=X.argmax(1).double())}

# a small network (conv -> pool -> fc -> softmax) trained by plain SGD on fixed data: the loss sequence.
xb = f32(4, 3, 9, 9)
yb = np.array([0, 1, 1, 0])
cw, cb = f32(4, 3, 2, 2, lo=-0.4, hi=0.4), f32(4, lo=-0.1, hi=0.1)
fw, fb = f32(2, 4 * 4 * 4, lo=-0.2, hi=0.2), f32(2, lo=-0.1, hi=0.1)
CW, CB, FW, FB = T(cw, True), T(cb, True), T(fw, True), T(fb, True)
opt = torch.optim.SGD([CW, CB, FW, FB], lr=0.1, momentum=0.9)
losses = []
for step in range(8):
    opt.zero_grad()
    h = F.max_pool2d(torch.tanh(F.conv2d(T(xb), CW, CB)), 2)
    loss = F.cross_entropy(h.reshape(4, -1) @ FW.T + FB, torch.tensor(yb))
    losses.append(loss.item())
    loss.backward(); opt.step()
cases["train.tiny_net"] = {"params": {"lr": 0.1, "momentum": 0.9, "steps": 8},
                           "tensors": pack(x=xb, labels=yb.astype(np.float64), conv_w=cw, conv_b=cb, fc_w=fw, fc_b=fb, losses=np.array(losses))}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels.json")
meta = {"generator": "goldens/make_goldens.py", "framework": f"PyTorch {torch.__version__} (CPU, float64)", "seed": 20130922}
with open(out + ".tmp", "w") as f:
    json.dump({"meta": meta, "cases": cases}, f, separators=(",", ":"))
os.replace(out + ".tmp", out)
print(f"wrote {out}: {len(cases)} cases, {os.path.getsize(out) // 1024} KiB")
