"""PyTorch side of the benchmarks: one workload, one process, one JSON line on stdout.

The model mirrors the Keras one: Embedding -> LSTM/GRU (last hidden state) -> Linear,
with the sigmoid/softmax fused into the loss during training (BCEWithLogitsLoss /
CrossEntropyLoss on one-hot targets, the idiomatic PyTorch form) and applied explicitly
at inference so the outputs are probabilities like Keras' predict. Masked workloads use
pack_padded_sequence on a post-padded copy of the (pre-padded) data, since packing wants
the valid steps first.
"""

import bench_common as bc

args = bc.parse_args("PyTorch")

import torch  # noqa: E402  (threads must be set before any torch work)

torch.set_num_threads(args.threads)
torch.set_num_interop_threads(args.threads)


import numpy as np  # noqa: E402
from torch import nn  # noqa: E402


class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.emb = nn.Embedding(spec["vocab"], spec["embed_dim"])
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[spec["cell"]]
        self.rnn = cell(spec["embed_dim"], spec["units"], batch_first=True)
        self.fc = nn.Linear(spec["units"], spec["classes"])

    def forward(self, x, lengths=None):
        e = self.emb(x)
        if lengths is not None:
            e = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(e)
        if isinstance(h, tuple):  # LSTM returns (h, c)
            h = h[0]
        return self.fc(h[-1])


def main():
    spec, x_np, y_np, lengths_np = bc.load(args.data, args.workload)
    masked = spec.get("mask_zero", False)
    if masked:
        # Pre-padded -> post-padded: rotate each row left by its padding.
        seq = spec["seq_len"]
        pad = seq - lengths_np
        idx = (np.arange(seq)[None, :] + pad[:, None]) % seq
        x_np = np.take_along_axis(x_np, idx, axis=1)
    x = torch.from_numpy(x_np.astype(np.int64))
    y = torch.from_numpy(y_np)
    lengths = torch.from_numpy(lengths_np.astype(np.int64)) if masked else None
    n, b = spec["samples"], spec["batch_size"]

    torch.manual_seed(0)
    model = Net(spec)
    binary = spec["classes"] == 1
    loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    # Keras defaults: RMSprop(lr=1e-3, rho=0.9, epsilon=1e-7), Adam(lr=1e-3, epsilon=1e-7).
    lr = spec["lr"] if spec["lr"] is not None else 1e-3
    if spec["optimizer"] == "rmsprop":
        opt = torch.optim.RMSprop(model.parameters(), lr=lr, alpha=0.9, eps=1e-7)
    elif spec["optimizer"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    else:
        raise SystemExit(f"unknown optimizer {spec['optimizer']}")
    finish = torch.sigmoid if binary else (lambda z: torch.softmax(z, dim=-1))

    def train_pass(count):
        model.train()
        perm = torch.randperm(count)
        loss = None
        for i in range(0, count, b):
            idx = perm[i : i + b]
            opt.zero_grad(set_to_none=True)
            out = model(x[idx], lengths[idx] if masked else None)
            loss = loss_fn(out, y[idx])
            loss.backward()
            opt.step()
        return loss.item()

    train_pass(bc.warmup_samples(spec))
    epochs, train_s, loss = bc.timed_passes(lambda: train_pass(n), args.min_seconds)
    result = {
        "framework": "torch",
        "version": torch.__version__,
        "workload": args.workload,
        "threads": args.threads,
        "samples": n,
        **bc.train_fields(n, epochs, train_s, loss),
    }

    if not args.skip_inference:
        model.eval()
        ib = bc.INFER_BATCH

        def infer(lo, hi):
            with torch.inference_mode():
                for i in range(lo, hi, ib):
                    j = min(i + ib, hi)
                    finish(model(x[i:j], lengths[i:j] if masked else None))

        infer(0, min(n, ib + n % ib))  # warm-up: a full and the partial batch shape
        passes, infer_s, _ = bc.timed_passes(lambda: infer(0, n), args.min_seconds)

        x1 = x[0:1]
        l1 = lengths[0:1] if masked else None

        def single():
            with torch.inference_mode():
                finish(model(x1, l1))

        result.update(
            {
                **bc.infer_fields(n, passes, infer_s),
                "latency_ms": bc.median_latency_ms(single, bc.latency_calls(spec)),
            }
        )
    bc.emit(result)


main()
