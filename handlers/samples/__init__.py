"""The sample org (YAML and CSV) the console seeds a fresh store with; also an example to copy."""
