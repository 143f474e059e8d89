"""Neural generative models, one file per family; each follows the interface in DESIGN.md."""
