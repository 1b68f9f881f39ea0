"""The ETML job: extract -> transform -> detect -> summarise -> load, one dated run at a time."""
