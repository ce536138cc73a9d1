"""An AI node: the models of ``meeting_shared/ai/models.toml`` served through NVIDIA Triton."""
