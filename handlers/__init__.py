"""Front ends: thin adapters that turn platform input into core commands and render the results."""
