"""The ETML job: dated extract, transform, detect, summarise and load (issue 14)."""
