"""The learning core's data: DataModules, raw files, batched draws, on-device transforms."""
