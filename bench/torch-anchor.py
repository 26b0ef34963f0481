"""PyTorch anchor for `npm run bench:local` (not run by tests).

The same model, weights, LoRA adapters, batches and algorithm as the local tfjs
backend, in idiomatic PyTorch on one CPU thread, driven step by step by the Node
benchmark so both sides run interleaved under the same machine load.

Protocol: one JSON object per line on stdin, one reply per line on stdout.
  setup   {config, weights:{file,index}, adapters:{file,index}, lora_scale, adam:{beta1,beta2,eps}}
  sft     {batch:{B,T,inputs,positions,targets,weights}, lr}              -> {ms, cpu_ms, loss}
  policy  {batch:{...,old_logprobs,advantages}, lr, kl_probe}              -> {ms, cpu_ms, probe_ms, probe_cpu_ms, loss, kl, kl_after}
  sample  {prompts:[[ids]], forced:[[ids]], temperature, seed}             -> {ms, cpu_ms, tokens, logprobs}
Every timed reply carries wall and CPU milliseconds (process_time: this process's CPU).
  quit
Sampling replays the tokens the Node side sampled (after drawing its own sample, so
the sampling cost is paid), which gives both sides the same number of decode steps
and lets the benchmark compare log-probabilities.

Run it with Debian's interpreter (/usr/bin/python3) and python3-torch; torch is only a
fair anchor on OpenBLAS (libopenblas0-pthread), so setup reports which libblas is mapped.
"""
import json
import math
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

LORA_TARGETS = ("wqkv", "wo", "w1", "w2")


def clocks():
    """(wall, CPU) seconds now: replies carry both, the CPU time being what a shared machine leaves honest."""
    return time.perf_counter(), time.process_time()


def elapsed(since):
    wall, cpu = clocks()
    return {"ms": (wall - since[0]) * 1000, "cpu_ms": (cpu - since[1]) * 1000}


def read_tensors(spec):
    import array

    data = array.array("f")
    with open(spec["file"], "rb") as f:
        data.frombytes(f.read())
    if sys.byteorder != "little":
        data.byteswap()
    flat = torch.tensor(data, dtype=torch.float32)
    return {e["name"]: flat[e["offset"]: e["offset"] + e["length"]].reshape(e["shape"]).clone() for e in spec["index"]}


def blas_library():
    """The BLAS shared object this process actually mapped (after a matmul)."""
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path):
                libs.add(os.path.realpath(path))
    return sorted(libs)


class Model:
    def __init__(self, cfg, weights, adapters, scale):
        self.cfg = cfg
        self.w = weights
        self.scale = scale
        self.lora = {k: v.clone().requires_grad_(True) for k, v in adapters.items()}
        self.H = cfg["nHeads"]
        self.dh = cfg["dModel"] // self.H

    def params(self):
        return list(self.lora.values())

    def linear(self, x, l, name, bias, merged=None):
        key = f"l{l}.{name}"
        if merged is not None:
            return torch.addmm(self.w[f"l{l}.{bias}"], x, merged[key])
        y = torch.addmm(self.w[f"l{l}.{bias}"], x, self.w[key])
        return y + (x @ self.lora[f"{key}.A"]) @ self.lora[f"{key}.B"] * self.scale

    def merged(self):
        return {f"l{l}.{t}": self.w[f"l{l}.{t}"] + self.scale * (self.lora[f"l{l}.{t}.A"] @ self.lora[f"l{l}.{t}.B"])
                for l in range(self.cfg["nLayers"]) for t in LORA_TARGETS}

    def block(self, l, x, B, T, mask, cache=None, merged=None):
        """x: [B*T, d]. cache: (K, V, length) preallocated [B, H, Tmax, dh] or None."""
        d = self.cfg["dModel"]
        h = F.layer_norm(x, (d,), self.w[f"l{l}.ln1_g"], self.w[f"l{l}.ln1_b"], 1e-5)
        q, k, v = self.linear(h, l, "wqkv", "bqkv", merged).split(d, dim=1)
        heads = lambda t: t.reshape(B, T, self.H, self.dh).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        if cache is not None:
            K, V, n = cache
            K[:, :, n:n + T] = k
            V[:, :, n:n + T] = v
            k, v = K[:, :, :n + T], V[:, :, :n + T]
        att = torch.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(self.dh)) + mask, dim=-1) @ v
        x = x + self.linear(att.transpose(1, 2).reshape(B * T, d), l, "wo", "bo", merged)
        h2 = F.layer_norm(x, (d,), self.w[f"l{l}.ln2_g"], self.w[f"l{l}.ln2_b"], 1e-5)
        return x + self.linear(F.gelu(self.linear(h2, l, "w1", "b1", merged), approximate="tanh"), l, "w2", "b2", merged)

    def embed(self, ids, pos):
        return (F.embedding(ids, self.w["tok_emb"]) + F.embedding(pos, self.w["pos_emb"])).reshape(-1, self.cfg["dModel"])

    def head(self, x):
        d = self.cfg["dModel"]
        return torch.addmm(self.w["head_b"], F.layer_norm(x, (d,), self.w["lnf_g"], self.w["lnf_b"], 1e-5), self.w["head"])

    def forward(self, ids, pos, mask):
        B, T = ids.shape
        x = self.embed(ids, pos)
        for l in range(self.cfg["nLayers"]):
            x = self.block(l, x, B, T, mask)
        return self.head(x)


def causal(T):
    return torch.triu(torch.full((T, T), -1e9), diagonal=1)


def batch_tensors(b):
    B, T = b["B"], b["T"]
    ids = torch.tensor(b["inputs"], dtype=torch.long).reshape(B, T)
    pos = torch.tensor(b["positions"], dtype=torch.long).reshape(B, T)
    targets = torch.tensor(b["targets"], dtype=torch.long)
    weights = torch.tensor(b["weights"], dtype=torch.float32)
    return ids, pos, targets, weights


def sft_step(model, opt, b, lr):
    ids, pos, targets, weights = batch_tensors(b)
    t0 = clocks()
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    lp = torch.log_softmax(model.forward(ids, pos, causal(b["T"])), dim=-1).gather(1, targets[:, None])[:, 0]
    loss = -(lp * weights).sum() / (weights > 0).sum()
    loss.backward()
    opt.step()
    value = loss.item()
    return {**elapsed(t0), "loss": value}


def policy_step(model, opt, b, lr, kl_probe):
    """One step, then (as the local engine's policy step does) the KL probe: the first
    `kl_probe` sequences re-read under the updated adapters, mean(sampler − learner) log-prob."""
    ids, pos, targets, weights = batch_tensors(b)
    old = torch.tensor(b["old_logprobs"], dtype=torch.float32)
    adv = torch.tensor(b["advantages"], dtype=torch.float32)
    t0 = clocks()
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    total = (weights > 0).sum()
    lp = torch.log_softmax(model.forward(ids, pos, causal(b["T"])), dim=-1).gather(1, targets[:, None])[:, 0]
    kl = ((old - lp.detach()) * weights).sum() / total
    loss = -(torch.exp(lp - old) * adv * weights).sum() / total
    loss.backward()
    opt.step()
    value = loss.item()
    t1 = clocks()
    with torch.no_grad():
        n = min(kl_probe, b["B"]) * b["T"]
        lp_after = torch.log_softmax(model.forward(ids[:kl_probe], pos[:kl_probe], causal(b["T"])), dim=-1).gather(1, targets[:n, None])[:, 0]
        kl_after = (((old[:n] - lp_after) * weights[:n]).sum() / (weights[:n] > 0).sum()).item()
    probe = elapsed(t1)
    return {**elapsed(t0), "probe_ms": probe["ms"], "probe_cpu_ms": probe["cpu_ms"], "loss": value, "kl": kl.item(), "kl_after": kl_after}


@torch.no_grad()
def sample(model, prompts, forced, temperature, seed, eos, pad):
    """Left-padded prefill of each distinct prompt, then one token per step for every row with a preallocated K/V cache."""
    t0 = clocks()
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    B = len(prompts)
    L = max(len(p) for p in prompts)
    steps = max(len(f) for f in forced)
    # Each distinct prompt is prefilled once; its rows then share its cache and logits.
    first = {}
    for p in prompts:
        first.setdefault(tuple(p), len(first))
    uniq = [list(p) for p in first]
    idx = torch.tensor([first[tuple(p)] for p in prompts])
    U = len(uniq)
    padn = torch.tensor([L - len(p) for p in uniq])
    ids = torch.full((U, L), pad, dtype=torch.long)
    for i, p in enumerate(uniq):
        ids[i, L - len(p):] = torch.tensor(p)
    ar = torch.arange(L)
    pos = (ar[None, :] - padn[:, None]).clamp(min=0)
    key_ok = ar[None, :] >= padn[:, None]  # [U, L]
    mask = torch.where((ar[None, :, None] >= ar[None, None, :]) & key_ok[:, None, :], 0.0, -1e9)[:, None]  # [U,1,L,L]
    merged = model.merged()
    Tmax = L + steps
    caches = [(torch.zeros(U, model.H, Tmax, model.dh), torch.zeros(U, model.H, Tmax, model.dh)) for _ in range(cfg["nLayers"])]
    x = model.embed(ids, pos)
    for l in range(cfg["nLayers"]):
        x = model.block(l, x, U, L, mask, (caches[l][0], caches[l][1], 0), merged)
    logits = model.head(x.reshape(U, L, -1)[:, -1]).index_select(0, idx)
    caches = [(k.index_select(0, idx), v.index_select(0, idx)) for k, v in caches]
    key_mask = torch.zeros(B, 1, 1, Tmax)
    key_mask[:, 0, 0, :L] = torch.where(key_ok, 0.0, -1e9).index_select(0, idx)
    next_pos = torch.tensor([len(p) for p in prompts])
    done = torch.zeros(B, dtype=torch.bool)
    out_lp = [[] for _ in range(B)]
    produced = 0
    for step in range(steps):
        logp = torch.log_softmax(logits, dim=-1)
        if temperature > 0:
            torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=gen)
        else:
            logits.argmax(dim=-1)
        tok = torch.tensor([f[step] if step < len(f) else pad for f in forced])
        picked = logp.gather(1, tok[:, None])[:, 0].tolist()
        for i in range(B):
            if not done[i]:
                out_lp[i].append(picked[i])
                produced += 1
                if step + 1 >= len(forced[i]):
                    done[i] = True
        if bool(done.all()) or step == steps - 1:
            break
        n = L + step
        key_mask[:, 0, 0, n] = 0.0
        x = model.embed(tok[:, None], next_pos[:, None].clamp(max=cfg["contextLength"] - 1))
        next_pos += 1
        for l in range(cfg["nLayers"]):
            x = model.block(l, x, B, 1, key_mask[..., : n + 1], (caches[l][0], caches[l][1], n), merged)
        logits = model.head(x)
    return {**elapsed(t0), "tokens": produced, "logprobs": out_lp}


def main():
    model = opt = None
    consts = {}
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "quit":
            break
        if op == "setup":
            weights = read_tensors(msg["weights"])
            adapters = read_tensors(msg["adapters"])
            model = Model(msg["config"], weights, adapters, msg["lora_scale"])
            a = msg["adam"]
            opt = torch.optim.Adam(model.params(), lr=1e-3, betas=(a["beta1"], a["beta2"]), eps=a["eps"], weight_decay=0)
            consts = {"eos": msg["eos"], "pad": msg["pad"]}
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library(),
                     "python": sys.version.split()[0]}
        elif op == "sft":
            reply = sft_step(model, opt, msg["batch"], msg["lr"])
        elif op == "policy":
            reply = policy_step(model, opt, msg["batch"], msg["lr"], msg["kl_probe"])
        elif op == "sample":
            reply = sample(model, msg["prompts"], msg["forced"], msg["temperature"], msg["seed"], consts["eos"], consts["pad"])
        else:
            reply = {"error": f"unknown op {op}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
