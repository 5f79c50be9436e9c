"""Every paper's input pipeline as small pure functions; import from the submodules."""
