"""Tiny models for the advise tests, loaded as ``<this file>:<factory>`` (user-code models)."""

from __future__ import annotations

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(self.norm(x))
        return x + self.mlp(x)


class _TinyTransformer(nn.Module):
    def __init__(self, vocab: int = 1000, d: int = 64, depth: int = 4, classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(_Block(d) for _ in range(depth))
        self.head = nn.Linear(d, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(dim=1))


def tiny_transformer() -> nn.Module:
    """Input 32:int64. Embedding + 4 blocks (LayerNorm, Linear, MLP) + a Linear head named ``head``."""
    return _TinyTransformer()


class _Bottleneck(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn1(self.conv1(x)))


class _ResNetNames(nn.Module):
    """ResNet's naming: a root ``conv1``/``bn1`` stem and blocks that also contain ``conv1``/``bn1``."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.layer1 = nn.Sequential(_Bottleneck(c), _Bottleneck(c))
        self.layer2 = nn.Sequential(_Bottleneck(c), _Bottleneck(c))
        self.fc = nn.Linear(c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(x.mean(dim=(2, 3)))


def resnet_names() -> nn.Module:
    """Input 3x32x32. Root conv1/bn1 whose names also occur inside the blocks."""
    return _ResNetNames()
