"""The learning core's networks: backbones (plain nn.Modules) and the LightningModule."""
