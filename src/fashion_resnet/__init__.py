"""ResNet-18 (and family) on FashionMNIST with PyTorch Lightning and Hydra."""
