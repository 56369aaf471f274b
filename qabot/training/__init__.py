"""Training and evaluation of qabot's models. Runtime code never imports this package."""
