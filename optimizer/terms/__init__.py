"""One module per cost or constraint; each prices itself in numpy."""
