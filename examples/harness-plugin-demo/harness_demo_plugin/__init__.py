"""A demo plugin for the loss harness: ``fair`` (loss), ``sine`` (data), ``tiny`` (model)."""
