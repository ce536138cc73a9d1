"""The AI plane as the rest of the system sees it: the model catalog and the Triton client."""
