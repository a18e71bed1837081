"""The contract suite's test modules, run by `contracts.plugin` (see contracts/README.md)."""
