"""The ceiling an int8 form can reach on this CPU: one core's matrix products, float32 and int8.

    python -m bench.int8_gemm [--tokens 150] [--rounds 5]

One EmbeddingGemma layer's seven weight products (q, k, v, o, gate, up, down) on ``--tokens``
rows, one thread: torch float32 (what ``float32`` runs), ONNX Runtime float32 ``MatMul``, and
ONNX Runtime ``MatMulInteger`` with uint8 × uint8 (the build for CPUs without VNNI) and
uint8 × int8 (VNNI's; without VNNI its kernel saturates). The products are most of an embedding's
time, so the int8 kernels' ratio to torch float32 bounds what any int8 build can gain here.
Prints ms per layer, GOP/s and the ratio; best of ``--rounds``. Needs the ``[int8]`` extra (onnx).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SHAPES = [(768, 768), (768, 256), (768, 256), (768, 768), (768, 1152), (768, 1152), (1152, 768)]


def _best(fn, rounds: int, reps: int = 30) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t) / reps)
    return min(times)


def _ort_layer(kind: str, rows: int, rng: np.random.Generator):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes, inputs, outputs, weights, feed = [], [], [], [], {}
    for i, (k, n) in enumerate(SHAPES):
        if kind == "float32":
            inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [rows, k]))
            weights.append(helper.make_tensor(f"w{i}", TensorProto.FLOAT, [k, n],
                                              rng.standard_normal((k, n)).astype(np.float32).ravel()))
            nodes.append(helper.make_node("MatMul", [f"x{i}", f"w{i}"], [f"y{i}"]))
            outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None))
            feed[f"x{i}"] = rng.standard_normal((rows, k)).astype(np.float32)
            continue
        signed = kind == "uint8 x int8"
        wtype = TensorProto.INT8 if signed else TensorProto.UINT8
        w = rng.integers(-127, 127, (k, n)).astype(np.int8) if signed else rng.integers(0, 255, (k, n)).astype(np.uint8)
        inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.UINT8, [rows, k]))
        weights += [helper.make_tensor(f"w{i}", wtype, [k, n], w.ravel()),
                    helper.make_tensor(f"wz{i}", wtype, [], [0 if signed else 128]),
                    helper.make_tensor(f"xz{i}", TensorProto.UINT8, [], [128])]
        nodes.append(helper.make_node("MatMulInteger", [f"x{i}", f"w{i}", f"xz{i}", f"wz{i}"], [f"y{i}"]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.INT32, None))
        feed[f"x{i}"] = rng.integers(0, 255, (rows, k)).astype(np.uint8)
    model = helper.make_model(helper.make_graph(nodes, "layer", inputs, outputs, weights),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, feed)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=150, help="rows of each product (a chunk's tokens)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    xs = [torch.randn(args.tokens, k) for k, _ in SHAPES]
    ws = [torch.randn(k, n) for k, n in SHAPES]
    results = {"torch float32": _best(lambda: [x @ w for x, w in zip(xs, ws)], args.rounds)}
    for kind in ("float32", "uint8 x uint8", "uint8 x int8"):
        results[f"onnxruntime {kind}"] = _best(_ort_layer(kind, args.tokens, rng), args.rounds)
    ops = sum(2 * args.tokens * k * n for k, n in SHAPES)
    base = results["torch float32"]
    for name, seconds in results.items():
        print(f"{name:28s} {seconds * 1e3:7.2f} ms/layer {ops / seconds / 1e9:7.1f} GOP/s {base / seconds:5.2f}× torch float32")


if __name__ == "__main__":
    main()
