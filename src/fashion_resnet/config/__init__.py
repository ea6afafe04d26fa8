"""Hydra glue: the running job, validation of a composed config, the printed config tree."""
