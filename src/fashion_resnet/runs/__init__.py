"""Run folders and what they hold: files, checkpoints, resume, provenance, tracking, reports."""
