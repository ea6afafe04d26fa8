"""What a user meets at the command line: one-line errors, exit codes, the console."""
