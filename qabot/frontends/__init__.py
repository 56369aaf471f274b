"""Front ends: thin adapters that turn user input into ChatEngine calls and replies into output."""
