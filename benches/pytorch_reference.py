"""The PyTorch side of synth's benchmarks: the same networks and batches as benches/{gan,pgd,vgg}.rs, timed the same
way (warm-up, then the median of several runs), on the CPU with 2 threads. Needs PyTorch (not a dependency of synth):
    python benches/pytorch_reference.py [path/to/vgg16_features_f16.safetensors]
    python benches/pytorch_reference.py gan-ops    # the cDCGAN step's convolutions one by one
Without the safetensors path the Gatys iteration uses random VGG16 weights (same cost)."""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


def median_ms(f, warmup, runs):
    for _ in range(warmup):
        f()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times), max(times)


def report(name, stats):
    print(f"{name:<40} median {stats[0]:9.1f} ms  min {stats[1]:9.1f}  max {stats[2]:9.1f}")


def gan_step():
    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 10)
            self.fc = nn.Linear(110, 128 * 7 * 7)
            self.bn0 = nn.BatchNorm2d(128)
            self.up1 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
            self.bn1 = nn.BatchNorm2d(64)
            self.up2 = nn.ConvTranspose2d(64, 1, 4, 2, 1)

        def forward(self, z, y):
            h = self.fc(torch.cat([z, self.embed(y)], 1)).view(-1, 128, 7, 7)
            h = F.relu(self.bn0(h))
            h = F.relu(self.bn1(self.up1(h)))
            return torch.tanh(self.up2(h))

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(11, 64, 4, 2, 1)
            self.c2 = nn.Conv2d(64, 128, 4, 2, 1)
            self.bn = nn.BatchNorm2d(128)
            self.fc = nn.Linear(128 * 7 * 7, 1)

        def forward(self, x, y):
            maps = F.one_hot(y, 10).float()[:, :, None, None].expand(-1, 10, 28, 28)
            h = F.leaky_relu(self.c1(torch.cat([x, maps], 1)), 0.2)
            h = F.leaky_relu(self.bn(self.c2(h)), 0.2)
            return self.fc(h.flatten(1))

    g, d = G(), D()
    og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(64, 1, 28, 28) * 2 - 1
    y = torch.arange(64) % 10
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)

    def step():
        z = torch.randn(64, 100)
        fake = g(z, y)
        od.zero_grad()
        loss_d = bce(d(real, y), ones) + bce(d(fake.detach(), y), zeros)
        loss_d.backward()
        od.step()
        og.zero_grad()
        loss_g = bce(d(fake, y), ones)
        loss_g.backward()
        og.step()

    report("cDCGAN D+G step b64 28x28", median_ms(step, 3, 15))


def pgd_step():
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    ).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.rand(256, 1, 28, 28)
    y = torch.arange(256) % 10
    state = {"adv": x.clone()}

    def step():
        adv = state["adv"].clone().requires_grad_(True)
        loss = F.cross_entropy(net(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + 0.01 * grad.sign()
        adv = torch.min(torch.max(adv, x - 0.3), x + 0.3).clamp(0, 1)
        state["adv"] = adv

    report("pgd step, small cnn b256 28x28 (linf)", median_ms(step, 2, 9))


VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


def vgg_features(weights):
    layers, cin = [], 3
    for v in VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
            cin = v
    net = nn.Sequential(*layers).eval()
    if weights:
        from safetensors.torch import load_file

        net.load_state_dict({k.removeprefix("features."): v.float() for k, v in load_file(weights).items()})
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def gatys(net, side):
    taps = {1: "relu1_1", 6: "relu2_1", 11: "relu3_1", 18: "relu4_1", 20: "relu4_2", 25: "relu5_1"}

    def features(x):
        out = {}
        for i, layer in enumerate(net):
            x = layer(x)
            if i in taps:
                out[taps[i]] = x
            if i >= 25:
                break
        return out

    def gram(f):
        _, c, h, w = f.shape
        f = f.reshape(c, h * w)
        return f @ f.t() / (c * h * w)

    content = torch.rand(1, 3, side, side) * 255
    style = torch.rand(1, 3, side, side) * 255
    with torch.no_grad():
        target_content = features(content)["relu4_2"]
        target_grams = {k: gram(v) for k, v in features(style).items() if k != "relu4_2"}
    image = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=0.02)

    def step():
        opt.zero_grad()
        f = features(image)
        loss = F.mse_loss(f["relu4_2"], target_content)
        for k, g in target_grams.items():
            loss = loss + 1e3 * F.mse_loss(gram(f[k]), g)
        tv = (image[:, :, 1:] - image[:, :, :-1]).abs().mean() + (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean()
        (loss + tv).backward()
        opt.step()

    report(f"gatys iteration {side}px", median_ms(step, 1, 5))


def vgg_throughput(net, side):
    x = torch.rand(64, 3, side, side)
    with torch.no_grad():
        stats = median_ms(lambda: net(x), 1, 5)
    report(f"vgg16 features {side}px batch 64", stats)
    print(f"{'':<40} {64 / (stats[0] / 1e3):.0f} images/s")


def gan_ops():
    """Each convolution of the cDCGAN step alone, batch 64: the same rows as `cargo bench --bench conv -- gan`.
    The gradients are the ops autograd calls (torch.nn.grad), on fixed random inputs."""
    from torch.nn.grad import conv2d_input, conv2d_weight

    def row(name, f):
        with torch.no_grad():
            report(name, median_ms(f, 3, 15))

    x, w, gy = torch.randn(64, 64, 14, 14), torch.randn(128, 64, 4, 4), torch.randn(64, 128, 7, 7)
    row("D conv 64->128 14->7 forward", lambda: F.conv2d(x, w, None, 2, 1))
    row("D conv 64->128 14->7 input grad", lambda: conv2d_input(x.shape, w, gy, 2, 1))
    row("D conv 64->128 14->7 weight grad", lambda: conv2d_weight(x, w.shape, gy, 2, 1))
    x1, w1, gy1 = torch.randn(64, 1, 28, 28), torch.randn(64, 1, 4, 4), torch.randn(64, 64, 14, 14)
    row("D conv 1->64 28->14 forward", lambda: F.conv2d(x1, w1, None, 2, 1))
    row("D conv 1->64 28->14 input grad", lambda: conv2d_input(x1.shape, w1, gy1, 2, 1))
    row("D conv 1->64 28->14 weight grad", lambda: conv2d_weight(x1, w1.shape, gy1, 2, 1))
    for label, cin, cout, side in [("G convT 128->64 7->14", 128, 64, 7), ("G convT 64->1 14->28", 64, 1, 14)]:
        xt, wt = torch.randn(64, cin, side, side), torch.randn(cin, cout, 4, 4)
        gyt = torch.randn(64, cout, 2 * side, 2 * side)
        row(f"{label} forward", lambda: F.conv_transpose2d(xt, wt, None, 2, 1))
        # A transposed convolution's input gradient is the strided convolution of its output gradient.
        row(f"{label} input grad", lambda: F.conv2d(gyt, wt, None, 2, 1))
        # Its weight gradient is the strided convolution's weight gradient with the roles of input and output swapped.
        row(f"{label} weight grad", lambda: conv2d_weight(gyt, wt.shape, xt, 2, 1))


if __name__ == "__main__":
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    if sys.argv[1:] == ["gan-ops"]:
        gan_ops()
        sys.exit(0)
    gan_step()
    pgd_step()
    vgg = vgg_features(sys.argv[1] if len(sys.argv) > 1 else None)
    vgg_throughput(nn.Sequential(*vgg, nn.MaxPool2d(2, 2)), 32)
    vgg_throughput(nn.Sequential(*vgg, nn.MaxPool2d(2, 2)), 64)
    gatys(vgg, 128)
    gatys(vgg, 256)
