"""The example scripts: each parses its options and calls the package."""
