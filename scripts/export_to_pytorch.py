"""Loads a synth-trained cnn's model.safetensors into a plain PyTorch module and scores it on the run's own test split
of the bundled MNIST: the same number `synth classifier train` printed (README, "Using the export in PyTorch").

    pip install torch safetensors
    python scripts/export_to_pytorch.py outputs/classifier/mnist-cnn-seed0

The network, as synth builds it (src/classifier/cnn.rs, model.rs): conv 3x3 pad 1 (32) - ReLU - max-pool 2 -
conv 3x3 pad 1 (64) - ReLU - max-pool 2 - flatten in (channel, row, column) order, torch.flatten's order - linear
(hidden, 256 by default) - ReLU - dropout (identity at inference) - linear (classes). Inputs: [N, C, H, W] float32
pixels in [0, 1], no mean or std (unless the run set cnn_standardize: then each image minus its mean, over its std
floored at 1 / sqrt(C * H * W)).
"""
import gzip
import json
import os
import struct
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file


class SynthCnn(nn.Module):
    def __init__(self, channels, side, hidden, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.ModuleDict({
            "hidden": nn.Linear(64 * (side // 4) ** 2, hidden),
            "output": nn.Linear(hidden, classes),
        })

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.head["output"](torch.relu(self.head["hidden"](x)))


def bundled_mnist(root):
    """The bundled MNIST 5k (data/mnist5k IDX files) as [5000, 1, 28, 28] floats in [0, 1] and labels; synth's
    sample id is the 5-digit index."""
    raw = gzip.open(os.path.join(root, "data/mnist5k/mnist5k-images-idx3-ubyte.gz")).read()
    _, n, rows, cols = struct.unpack(">IIII", raw[:16])
    images = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, 1, rows, cols)
    labels = torch.tensor(list(gzip.open(os.path.join(root, "data/mnist5k/mnist5k-labels-idx1-ubyte.gz")).read()[8:]))
    return images.float() / 255.0, labels


def main(run):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    meta = json.load(open(os.path.join(run, "classifier.json")))
    assert meta["config"]["backbone"] == "cnn", "this script rebuilds the cnn; see the README for the others"
    channels, side = meta["input"]
    weights = load_file(os.path.join(run, "model.safetensors"))
    hidden, classes = weights["head.hidden.weight"].shape[0], weights["head.output.weight"].shape[0]
    net = SynthCnn(channels, side, hidden, classes)
    net.load_state_dict(weights)
    net.eval()

    images, labels = bundled_mnist(root)
    test = [int(i) for i in json.load(open(os.path.join(run, "split.json")))["test"]]
    x, y = images[test], labels[test]
    if meta["config"].get("cnn_standardize"):
        flat = x.flatten(1)
        centred = flat - flat.mean(1, keepdim=True)
        std = centred.pow(2).mean(1, keepdim=True).sqrt().clamp_min(flat.shape[1] ** -0.5)
        x = (centred / std).reshape(x.shape)
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == y).float().mean().item()
    print(json.dumps({"images": len(test), "pytorch_accuracy": accuracy, "synth_accuracy": meta["test_accuracy"]}))


if __name__ == "__main__":
    main(sys.argv[1])
